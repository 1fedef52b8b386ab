"""ruff and mypy, as part of the one test command (both are configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("args", [("check", "."), ("format", "--check", ".")], ids=["lint", "format"])
def test_ruff_finds_nothing(args):
    done = run("ruff", *args)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.slow  # about 30 s on 2 cores from a fresh clone (no cache)
@pytest.mark.timeout(600)
def test_mypy_finds_nothing():
    done = run("mypy")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
