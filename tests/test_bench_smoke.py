"""The benchmarks still run: `python -m bench --tiny` runs every section at its smallest size in a
real subprocess; plus the pieces the crowd bench stands on (Telegram's ceiling as the bench
emulates it) and the README table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from telegram.error import RetryAfter
from telegram.ext import ApplicationBuilder

from bench.__main__ import SECTIONS
from bench.ceiling import CeilingServer
from bench.common import Row, update_readme
from bot.telegram.throughput import retry_seconds

from helpers import ROOT, clean_environment


@pytest.mark.slow  # every section once, at its smallest size: about 40 s on 2 cores
def test_every_bench_runs_at_its_tiniest_and_the_crowd_gets_every_answer(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--out", str(out)],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["size"] == "tiny"
    sections = {row["section"] for row in results["rows"]}
    assert len(sections) == len(SECTIONS), f"every bench gives its rows: {sorted(sections)}"
    rows = {row["name"]: row for row in results["rows"]}
    assert "| users at once | 4 users: step latency p95 |" in done.stdout
    clean = rows['4 users: unanswered taps + steps out of order + "query too old" + errors']
    assert clean["met"], clean["detail"]
    assert (
        rows["4 users: step latency p50"]["detail"] == {}
        and rows["4 users: message calls per step"]["detail"]["steps"] > 0
    )
    assert not (ROOT / "README.md").read_text(encoding="utf-8").count("| users at once | 4 users"), (
        "README untouched without --readme"
    )


async def test_the_emulated_ceiling_refuses_a_burst_with_an_honest_retry_after():
    async with CeilingServer(chat_per_second=1, chat_burst=2) as server:
        await server.send_text(42, "hi")
        app = ApplicationBuilder().token(server.token).base_url(f"{server.root}/bot").build()  # no limiter
        async with app:
            await app.bot.send_message(42, "one")
            await app.bot.send_message(42, "two")
            try:
                await app.bot.send_message(42, "three")
            except RetryAfter as error:
                assert retry_seconds(error) == 1
            else:
                raise AssertionError("a third message at once went through")
    assert server.refused == 1


def test_the_readme_table_takes_the_sections_measured_and_keeps_the_others(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n## Performance\n\n| section | measure | value | goal | met |\n|---|---|---|---|---|\n"
        "| a | one | 1 s |  |  |\n| b | two | 2 s |  |  |\n| b | three | 3 s |  |  |\n\nafter\n",
        encoding="utf-8",
    )
    update_readme([Row("b", "two", 5.0, "s"), Row("c", "new", 7.0, "s", "≤ 8 s", True)], readme)
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert lines[6:9] == ["| a | one | 1 s |  |  |", "| b | two | 5 s |  |  |", "| c | new | 7 s | ≤ 8 s | yes |"]
    assert lines[-1] == "after"
