"""What the tests share: the checkout's paths, the bundled flow loaded once, a clean environment,
and `clientcoach` run either in this process (fast, the default) or as a real child process.

`run_cli` calls `bot.cli.main(argv)` with stdin, stdout, stderr, the environment and the working
folder swapped for the call, so a test reads the same three things a process gives (exit code,
stdout, stderr as text). `run_process` is `python -m bot` for what only a real process shows:
start-up, signals, pipes, resource limits, a terminal.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.flow import Flow, load_flow

ROOT = Path(__file__).resolve().parents[1]
FLOW_FILE = ROOT / "flows" / "cliente_difficile.yaml"
DIAGRAM_FILE = ROOT / "flows" / "cliente_difficile.mmd"
FLOW: Flow = load_flow(FLOW_FILE)  # the bundled flow; the `flow` fixture is this same object
# The `profiles` a small test flow declares: one problem profile and the good client, with the
# bundled advice and guides.
SMALL_PROFILES = """\
profiles:
  - id: gratis
    role: problem
    name: {it: Gratis, en: Free-rider}
    short: {it: Gratis, en: Free-rider}
    inline: {it: gratis, en: free-rider}
    guide: prevention
  - id: mvc
    role: good_client
    name: {it: MVC, en: MVC}
    short: {it: MVC, en: MVC}
    inline: {it: MVC, en: MVC}
    guide: relationship_basics
"""
SETTING_PREFIXES = ("CLIENTCOACH_", "TELEGRAM_")  # variables that change what clientcoach does


def clean_environment(**extra: str) -> dict[str, str]:
    """Ours without any clientcoach or Telegram setting, UTF-8 streams, the checkout importable; then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env["PYTHONIOENCODING"] = "utf-8"
    # The checkout first, so `python -m bot` runs this code from any working directory.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def _as_bytes(stdin: str | bytes | list[str] | None) -> bytes:
    """Piped input: text, raw bytes, or lines (one per answer, each ended by a newline)."""
    if stdin is None:
        return b""
    if isinstance(stdin, list):
        stdin = "".join(line + "\n" for line in stdin)
    return stdin if isinstance(stdin, bytes) else stdin.encode("utf-8")


def _text(raw: bytes) -> str:
    """Output decoded as `subprocess.run(text=True)` would: UTF-8 (marked where invalid), universal newlines."""
    return raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


@contextmanager
def _swapped_process_state(env: dict[str, str], cwd: Path, stdin: bytes) -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """os.environ, the working folder and the standard streams as a child process would have them."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = io.BytesIO(), io.BytesIO()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # TextIOWrappers, as in a process with PYTHONIOENCODING=utf-8: the CLI reconfigures their errors.
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    try:
        yield out, err
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
            stream.detach()  # keep the BytesIO open for reading
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_cli(
    *args: str, stdin: str | bytes | list[str] | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`clientcoach ARGS` in this process, with piped stdin; the result as subprocess.run(text=True) gives it."""
    from bot import cli

    with _swapped_process_state(env or clean_environment(), cwd or ROOT, _as_bytes(stdin)) as (out, err):
        try:
            status = cli.main(list(args))
        except SystemExit as exit_:  # argparse: usage errors and --help
            status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            if not isinstance(exit_.code, (int, type(None))):
                print(exit_.code, file=sys.stderr)
    return subprocess.CompletedProcess(["clientcoach", *args], status, _text(out.getvalue()), _text(err.getvalue()))


def run_process(
    *args: str | bytes,
    stdin: str | bytes | list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    python: str = sys.executable,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """`python -m bot ARGS` in a real child process, with piped stdin; stdout and stderr as text."""
    done = subprocess.run(
        [python, "-m", "bot", *args],
        input=_as_bytes(stdin),
        capture_output=True,
        cwd=cwd or ROOT,
        env=env or clean_environment(),
        timeout=timeout,
        preexec_fn=preexec,
    )
    return subprocess.CompletedProcess(done.args, done.returncode, _text(done.stdout), _text(done.stderr))
