"""A user's cases as documents: CSV for people (readable answers, headers in their language), JSON for programs."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..case import Case
from .texts import CaseTexts

EXPORT_FORMATS = {"csv": "text/csv", "json": "application/json"}
CSV_COLUMNS = ("case_no", "created", "updated", "status", "client", "profile", "secondary", "confidence")
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFile:
    """An export ready to save or send."""

    filename: str
    media_type: str
    data: bytes
    count: int


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_FORMULA_START) else text


def cases_csv(texts: CaseTexts, lang: str, cases: list[Case]) -> bytes:
    """One row per case (with its notes and reminders), each answer as it reads back (`cases` read
    by today's flow: `bot.upgrade.read_case`)."""
    questions = list(texts.flow.questions.values())
    ui = texts.renderer.ui
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [texts.label(lang, "csv_header", k) for k in CSV_COLUMNS]
        + [q.short[lang] for q in questions]
        + [texts.label(lang, "csv_header", k) for k in ("earlier", "notes", "reminders")]
    )

    def stamp(value: str) -> str:
        return texts.local(value).strftime("%Y-%m-%d %H:%M")

    for case in cases:
        answers = case.answers
        readings = {q.id: text for q, text in texts.readings(lang, answers)}
        row = [
            case.case_no,
            stamp(case.created),
            stamp(case.updated),
            texts.label(lang, "status_name", case.status),
            case.alias,
            ui(lang, "profile_short", case.main),
            ui(lang, "profile_short", case.secondary) if case.secondary else "",
            ui(lang, "confidence_name", case.confidence),
            *(readings.get(q.id, "") for q in questions),
            "\n".join(f"{label}: {text}" for label, text in texts.earlier(lang, answers)),
            "\n".join(f"[{stamp(n['created'])}] {n['text']}" for n in case.notes),
            "; ".join(stamp(r["due"]) for r in case.reminders),
        ]
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")  # the BOM lets spreadsheets see UTF-8


def _readings(texts: CaseTexts, lang: str, case: Case) -> dict[str, list[dict[str, str]]]:
    """A case's answers as they read today, and those given to an earlier version of the flow."""
    answers = case.answers
    return {
        "readings": [
            {"id": q.id, "question": q.short[lang], "answer": text} for q, text in texts.readings(lang, answers)
        ],
        "earlier_readings": [{"question": label, "answer": text} for label, text in texts.earlier(lang, answers)],
    }


def cases_json(texts: CaseTexts, lang: str, cases: list[Case], exported: datetime) -> bytes:
    """Every case as stored, with its answers' readings (`cases` read by today's flow:
    `bot.upgrade.read_case`), notes, reminders and events."""
    document = {
        "format": "clientcoach-cases",
        "version": 1,
        "exported": exported.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "cases": [
            {
                "case_no": case.case_no,
                "client": case.alias,
                "created": case.created,
                "updated": case.updated,
                "status": case.status,
                "profile": case.main,
                "secondary": case.secondary,
                "confidence": case.confidence,
                "flow": case.flow,
                "flow_version": case.flow_version,
                "lang": case.lang,
                "answers": case.stored_answers,
                **_readings(texts, lang, case),
                "assessment": case.stored_assessment,
                "notes": list(case.notes),
                "reminders": list(case.reminders),
                "events": list(case.events),
            }
            for case in cases
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


__all__ = ["EXPORT_FORMATS", "ExportFile", "cases_csv", "cases_json", "csv_cell"]
