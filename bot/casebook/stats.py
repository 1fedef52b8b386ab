"""A user's cases counted: by profile and outcome, what followed each message (a screen), and per
month or per message (the charts' data)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..plans import ANSWERS, OUTCOMES
from ..render import Screen
from ..store import STATUSES
from .outcomes import ANSWER_COLOURS, MessageOutcome, outcome_rows, profile_endings
from .texts import CaseTexts

CHART_MONTHS = 24
STATUS_COLOURS = {"aperto": "#E69F00", "risolto": "#009E73", "cliente_tenuto": "#0072B2", "cliente_lasciato": "#999999"}

# (created, main profile, status) of each case, oldest first: what `Store.case_summaries` gives.
Summaries = list[tuple[str, str, str]]


def _days(value: float | None) -> int | float | None:
    """Days as people say them: whole when whole (19), else to a tenth (2.5)."""
    if value is None:
        return None
    value = round(value, 1)
    return int(value) if value.is_integer() else value


def stats_screen(
    texts: CaseTexts,
    lang: str,
    rows: Summaries,
    messages: Sequence[MessageOutcome] = (),
    titles: dict[str, str] | None = None,
) -> Screen:
    """How many cases have each profile and each outcome, how each profile's cases ended, and what
    followed each message the user sent (`messages`, titled by `titles`)."""
    by_profile = Counter(main for _, main, _ in rows)
    by_status = Counter(status for _, _, status in rows)
    endings = profile_endings(rows, texts.flow.profiles.ids)
    text = texts.renderer.render(
        f"{lang}/cases/stats.html.j2",
        total=len(rows),
        first=texts.local(rows[0][0]) if rows else None,
        profiles=[{"key": p, "count": by_profile[p]} for p in texts.flow.profiles.ids if by_profile[p]],
        statuses=[{"key": s, "count": by_status[s]} for s in STATUSES],
        endings=[{"key": p, "counts": [(s, c[s]) for s in STATUSES if c[s]]} for p, c in endings.items()],
        messages=[
            {
                "title": (titles or {}).get(m.does, m.does),
                "sent": m.sent,
                "answers": [(a, m.answers[a]) for a in ANSWERS if m.answers[a]],
                "waiting": m.waiting,
                "endings": [(s, m.endings[s]) for s in OUTCOMES if m.endings[s]],
                "median": _days(m.median_days),
            }
            for m in messages
        ],
    )
    meta = {
        "total": len(rows),
        "by_profile": dict(by_profile),
        "by_status": dict(by_status),
        "sent": {m.does: m.sent for m in messages},
        "answers": {m.does: dict(m.answers) for m in messages},
        "median_days": {m.does: m.median_days for m in messages},
    }
    return Screen("stats", text, meta=meta)


def plan_chart_data(
    texts: CaseTexts, lang: str, messages: list[MessageOutcome], titles: dict[str, str]
) -> tuple[Any, ...]:
    """The arguments of charts.stacked_rows_png: one bar per message sent, split by what followed."""
    from ..charts import Series  # matplotlib only when a chart is drawn

    segments = outcome_rows(messages)
    series = tuple(
        Series(texts.label(lang, "chart_answer", key), tuple(values), ANSWER_COLOURS[key])
        for key, values in segments.items()
    )
    labels = [f"{titles.get(m.does, m.does)} ({m.sent})" for m in messages]
    return texts.label(lang, "chart_plans_title"), labels, series, texts.label(lang, "chart_sends_axis")


def chart_data(texts: CaseTexts, lang: str, rows: Summaries) -> tuple[Any, ...]:
    """The arguments of charts.monthly_bars_png: cases per month (the last CHART_MONTHS) by profile and
    by outcome. Pure data, so the drawing can run off the event loop while the database stays on it."""
    from ..charts import Panel, Series  # matplotlib only when a chart is drawn

    stamps = [(texts.local(created), main, status) for created, main, status in rows]
    first, last = min(s[0] for s in stamps), max(s[0] for s in stamps)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    months = [divmod(last.year * 12 + last.month - 1 - k, 12) for k in reversed(range(min(span, CHART_MONTHS)))]
    column = {(year, month0 + 1): i for i, (year, month0) in enumerate(months)}
    profiles = {p: [0] * len(months) for p in texts.flow.profiles.ids}
    statuses = {s: [0] * len(months) for s in STATUSES}
    for moment, main, status in stamps:
        i = column.get((moment.year, moment.month))
        if i is not None:
            profiles[main][i] += 1
            statuses[status][i] += 1
    profile_series = (Series(texts.renderer.ui(lang, "profile_short", p), tuple(v)) for p, v in profiles.items())
    status_series = (
        Series(texts.label(lang, "status_name", s), tuple(v), STATUS_COLOURS[s]) for s, v in statuses.items()
    )
    panels = (
        Panel(texts.label(lang, "chart_profiles"), tuple(profile_series)),
        Panel(texts.label(lang, "chart_outcomes"), tuple(status_series)),
    )
    labels = [texts.label(lang, "month_label", year, month0 + 1) for year, month0 in months]
    return texts.label(lang, "chart_title", len(rows)), labels, panels, texts.label(lang, "chart_axis")


__all__ = ["CHART_MONTHS", "chart_data", "plan_chart_data", "stats_screen"]
