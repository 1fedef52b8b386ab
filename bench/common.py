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

RESULTS = Path(__file__).resolve().parent / "results.json"
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
            name: version(name)
            for name in ("python-telegram-bot", "transitions", "jinja2", "sqlite-utils", "httpx")
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows (also what the README carries)."""
    lines = ["| section | measure | value | goal | met |", "|---|---|---|---|---|"]
    for r in rows:
        value = f"{r.value:,.3f}".rstrip("0").rstrip(".") if isinstance(r.value, float) else str(r.value)
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.section} | {r.name} | {value} {r.unit} | {r.goal} | {met} |")
    return "\n".join(lines)


def write_results(rows: list[Row], quick: bool, path: Path = RESULTS) -> None:
    payload = {
        "quick": quick,
        "machine": machine(),
        "rows": [r.__dict__ for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
