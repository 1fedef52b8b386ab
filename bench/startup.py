"""Start-up: `clientcoach chat` to its first prompt vs importing the libraries it needs."""

from __future__ import annotations

import compileall
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, median

PACKAGE = Path(__file__).resolve().parent.parent / "bot"
LIBS = "import jinja2, transitions, sqlite_utils"
GOAL = 1.3
ROUNDS = {"full": 15, "quick": 5, "tiny": 1}  # `clientcoach chat` starts per size


def _run(args: list[str], stdin: bytes = b"") -> float:
    start = time.perf_counter()
    subprocess.run(args, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def run(size: str) -> list[Row]:
    rounds = ROUNDS[size]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "startup.db")
        chat = [sys.executable, "-m", "bot", "chat", "--create", "--db", db, "--new"]  # piped: never resumes unasked
        # pip compiles an installed package's bytecode; an editable checkout under
        # PYTHONDONTWRITEBYTECODE would recompile every module on every start instead.
        compileall.compile_dir(str(PACKAGE), quiet=1)
        _run(chat)  # first run creates the database: not what a returning user pays
        libs, ours = [], []
        for _ in range(rounds):  # interleaved, so both see the same machine load
            libs.append(_run([sys.executable, "-c", LIBS]))
            ours.append(_run(chat))
    ratio = median(ours) / median(libs)
    return [
        Row("start-up", "import jinja2, transitions, sqlite_utils (median)", median(libs) * 1000, "ms"),
        Row("start-up", "clientcoach chat to first prompt, EOF (median)", median(ours) * 1000, "ms"),
        Row("start-up", "ratio chat / libraries", ratio, "×", f"≤ {GOAL}×", ratio <= GOAL, {"rounds": rounds}),
    ]
