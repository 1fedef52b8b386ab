"""Run the benchmarks, print a table and write bench/results/latest.json (untracked)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import crowd, history, inprocess, memory, startup, turns
from .common import RESULTS, table, update_readme, write_results

SECTIONS = {
    "startup": startup,
    "memory": memory,
    "inprocess": inprocess,
    "history": history,
    "turns": turns,
    "crowd": crowd,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes, under a minute")
    parser.add_argument("--only", nargs="*", choices=list(SECTIONS), help="run only these sections")
    parser.add_argument(
        "--tiny", action="store_true", help="every section at its smallest size (the test suite's smoke test)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results file (default: bench/results/latest.json, untracked)"
    )
    parser.add_argument("--readme", action="store_true", help="also put the figures into README.md's performance table")
    args = parser.parse_args(argv)
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    rows = []
    began = time.perf_counter()
    for name, module in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name}...", file=sys.stderr, flush=True)
        rows += module.run(size)
    print(table(rows))
    print(f"\n{time.perf_counter() - began:.0f} s", file=sys.stderr)
    write_results(rows, size, args.out)
    if args.readme:
        update_readme(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
