"""Start-up: `clientcoach chat` to its first prompt vs importing the libraries it needs, and which
imports the first prompt pays for beyond those libraries (`python -X importtime`)."""

from __future__ import annotations

import compileall
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, median

PACKAGE = Path(__file__).resolve().parent.parent / "bot"
LIBS = "import jinja2, transitions, sqlite_utils"
# What the first prompt still imports of them on an up-to-date database: sqlite-utils (and the numpy
# it brings) loads only to migrate. Our own overhead is the ratio to these.
LIBS_USED = "import jinja2, transitions"
GOAL = 1.3
ROUNDS = {"full": 15, "quick": 5, "tiny": 1}  # `clientcoach chat` starts per size
IMPORT_ROUNDS = {"full": 5, "quick": 3, "tiny": 1}  # `-X importtime` runs per size (each module's median)
# Third-party packages the first prompt has no use for: the case book's charts, the Telegram front end.
HEAVY = ("numpy", "matplotlib", "PIL", "telegram", "httpx", "httpcore", "anyio")
SHOWN = 8  # our modules named in the table, the costliest first
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def chat_command(db: str) -> list[str]:
    """`clientcoach chat` on a database, starting a new questionnaire (piped: it never resumes unasked)."""
    return [sys.executable, "-m", "bot", "chat", "--create", "--db", db, "--new"]


def import_costs(args: list[str]) -> dict[str, float]:
    """Every module a Python command imports, with its own import time in ms (`-X importtime`)."""
    done = subprocess.run(
        [args[0], "-X", "importtime", *args[1:]],
        input=b"",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=True,
    )
    costs: dict[str, float] = {}
    for line in done.stderr.decode("utf-8", "replace").splitlines():
        found = _IMPORT_LINE.match(line)
        if found:
            costs[found.group(2)] = int(found.group(1)) / 1000
    return costs


def beyond_libraries(db: str, rounds: int = 1) -> dict[str, float]:
    """The modules `clientcoach chat` imports before its first prompt that importing its libraries
    does not, with their own import times (ms, the median of `rounds` runs)."""
    libraries = import_costs([sys.executable, "-c", LIBS])
    runs = [import_costs(chat_command(db)) for _ in range(rounds)]
    return {name: median([costs.get(name, 0.0) for costs in runs]) for name in runs[0] if name not in libraries}


def is_heavy(module: str) -> bool:
    return module.split(".")[0] in HEAVY


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _run(args: list[str], stdin: bytes = b"") -> tuple[float, float]:
    """(wall, CPU) seconds of one run: CPU time barely moves with the other processes' load."""
    start, cpu = time.perf_counter(), _cpu()
    subprocess.run(args, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start, _cpu() - cpu


def _imports_rows(extra: dict[str, float]) -> list[Row]:
    ours = {name: ms for name, ms in extra.items() if name == "bot" or name.startswith("bot.")}
    heavy = sorted(name for name in extra if is_heavy(name))
    others = {name: ms for name, ms in extra.items() if name not in ours}
    costliest = sorted(ours.items(), key=lambda item: -item[1])[:SHOWN]
    named = ", ".join(f"{name} {ms:.1f}" for name, ms in costliest)
    return [
        Row(
            "start-up",
            f"first prompt imports {len(ours)} of our modules (costliest, ms: {named})",
            sum(ours.values()),
            "ms",
            detail={"modules": {name: round(ms, 3) for name, ms in sorted(ours.items())}},
        ),
        Row(
            "start-up",
            f"first prompt imports {len(others)} other modules the libraries do not ({', '.join(sorted(others))})",
            sum(others.values()),
            "ms",
            detail={"modules": {name: round(ms, 3) for name, ms in sorted(others.items())}},
        ),
        Row(
            "start-up",
            f"heavy packages ({', '.join(HEAVY)}) imported beyond the libraries",
            len(heavy),
            "",
            "0",
            not heavy,
            {"modules": heavy},
        ),
    ]


def run(size: str) -> list[Row]:
    rounds = ROUNDS[size]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "startup.db")
        chat = chat_command(db)
        # pip compiles an installed package's bytecode; an editable checkout under
        # PYTHONDONTWRITEBYTECODE would recompile every module on every start instead.
        compileall.compile_dir(str(PACKAGE), quiet=1)
        _run(chat)  # first run creates the database: not what a returning user pays
        libs, used, ours = [], [], []
        for _ in range(rounds):  # interleaved, so all see the same machine load
            libs.append(_run([sys.executable, "-c", LIBS]))
            used.append(_run([sys.executable, "-c", LIBS_USED]))
            ours.append(_run(chat))
        extra = beyond_libraries(db, IMPORT_ROUNDS[size])
    wall_libs, wall_ours = median([w for w, _ in libs]), median([w for w, _ in ours])
    ratio = wall_ours / wall_libs
    cpu_ratio = median([c for _, c in ours]) / median([c for _, c in libs])
    wall_used = median([w for w, _ in used])
    return [
        Row("start-up", "import jinja2, transitions, sqlite_utils (median)", wall_libs * 1000, "ms"),
        Row("start-up", "clientcoach chat to first prompt, EOF (median)", wall_ours * 1000, "ms"),
        Row("start-up", "ratio chat / libraries", ratio, "×", f"≤ {GOAL}×", ratio <= GOAL, {"rounds": rounds}),
        Row(
            "start-up", "ratio chat / libraries in CPU time (user + system)", cpu_ratio, "×", detail={"rounds": rounds}
        ),
        Row(
            "start-up",
            "import jinja2, transitions: the libraries the first prompt imports (median)",
            wall_used * 1000,
            "ms",
        ),
        Row("start-up", "ratio chat / the libraries it imports (our own code's share)", wall_ours / wall_used, "×"),
        *_imports_rows(extra),
    ]
