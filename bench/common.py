"""Shared pieces of the benchmarks: timing, percentiles, the results table and file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"  # untracked (.gitignore)
README = Path(__file__).resolve().parent.parent / "README.md"
TABLE_HEAD = "| section | measure | value | goal | met |"
FAKE_TOKEN = "123456789:" + "A" * 35


@dataclass
class Row:
    """One measured figure, with its goal when it has one."""

    section: str
    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            name: version(name) for name in ("python-telegram-bot", "transitions", "jinja2", "sqlite-utils", "httpx")
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _line(r: Row) -> str:
    value = f"{r.value:,.3f}".rstrip("0").rstrip(".") if isinstance(r.value, float) else str(r.value)
    met = "" if r.met is None else ("yes" if r.met else "**no**")
    return f"| {r.section} | {r.name} | {value} {r.unit} | {r.goal} | {met} |"


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows (also what the README carries)."""
    return "\n".join([TABLE_HEAD, "|---|---|---|---|---|", *map(_line, rows)])


def update_readme(rows: list[Row], path: Path = README) -> None:
    """Put the rows into the README's performance table: the sections measured replace their old
    rows where those stood; new sections go at the end; the other sections' rows stay."""
    text = path.read_text(encoding="utf-8").split("\n")
    start = text.index(TABLE_HEAD, text.index("## Performance"))
    end = start + 2
    while end < len(text) and text[end].startswith("|"):
        end += 1
    measured: dict[str, list[str]] = {}
    for r in rows:
        measured.setdefault(r.section, []).append(_line(r))
    kept: list[str] = []
    placed: set[str] = set()
    for line in text[start + 2 : end]:
        section = line.split("|")[1].strip()
        if section not in measured:
            kept.append(line)
        elif section not in placed:  # the new rows where the old ones began; the old ones go
            kept += measured[section]
            placed.add(section)
    kept += [line for section, lines in measured.items() if section not in placed for line in lines]
    text[start + 2 : end] = kept
    path.write_text("\n".join(text), encoding="utf-8")


def write_results(rows: list[Row], size: str, path: Path = RESULTS) -> None:
    """The rows, the size they were measured at and the machine, as JSON (by default to the untracked RESULTS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "size": size,
        "machine": machine(),
        "rows": [r.__dict__ for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
