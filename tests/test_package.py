"""The wheel: built from the repo, installed into a fresh venv, run from another directory.

Offline and honest: the wheel is built with the hatchling already installed (no build isolation)
and installed with --no-deps into a brand-new venv; the dependencies (jinja2, transitions, ...)
are borrowed from this test run's environment through a .pth file placed *after* the new venv's
own site-packages, so `bot` and its bundled data can only come from the installed wheel (the
checkout is not on the path, and the test checks where `bot` was imported from).
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import sqlite_utils

from bot.cli import build_parser

from answer_lines import typed_lines
from helpers import DIAGRAM_FILE, ROOT, clean_environment

FREE_CLIENT_LINES = typed_lines({"alias": "Rossi", "payment": "3", "free_attitude": "1"})
UNIT = ROOT / "deploy" / "clientcoach.service"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=180, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("package")
    wheels = base / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ]
    )
    (wheel,) = wheels.glob("clientcoach-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "zz_outer_dependencies.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    return {"wheel": wheel, "venv": venv, "python": python, "purelib": purelib, "bin": venv / "bin" / "clientcoach"}


@pytest.fixture
def env() -> dict:
    clean = clean_environment()
    clean.pop("PYTHONPATH", None)  # nothing from the checkout
    return clean


@pytest.mark.slow  # the wheel is built and installed once, for all four
def test_the_wheel_carries_the_flows_and_templates(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "clientcoach = bot.cli:main" in wheel.read(entry_points).decode()
    assert "bot/_data/flows/cliente_difficile.yaml" in names
    for lang in ("it", "en"):
        for name in ("ui", "question", "review", "result", "script"):
            assert f"bot/_data/templates/{lang}/{name}.html.j2" in names
        assert any(n.startswith(f"bot/_data/templates/{lang}/scripts/") for n in names)
        assert any(n.startswith(f"bot/_data/templates/{lang}/advice/") for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names), "no tests or benchmarks in the wheel"


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_not_the_checkout(installed, env, tmp_path):
    code = "import bot, bot.paths; print(bot.__file__); print(bot.paths.flows_dir()); print(bot.paths.templates_dir())"
    lines = _run([str(installed["python"]), "-c", code], cwd=tmp_path, env=env).stdout.splitlines()
    for line in lines:
        assert Path(line).is_relative_to(installed["purelib"]), line
    assert lines[1].endswith("bot/_data/flows") and lines[2].endswith("bot/_data/templates")


@pytest.mark.slow
def test_flows_check_and_draw_work_from_another_directory(installed, env, tmp_path):
    check = _run([str(installed["bin"]), "flows", "check"], cwd=tmp_path, env=env)
    assert check.stdout.startswith(f"ok: {installed['purelib']}/bot/_data/flows/cliente_difficile.yaml")
    draw = _run([str(installed["bin"]), "flows", "draw"], cwd=tmp_path, env=env)
    assert draw.stdout == DIAGRAM_FILE.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_chat_works_from_another_directory(installed, env, tmp_path):
    db = tmp_path / "installed.db"
    result = subprocess.run(
        [str(installed["bin"]), "chat", "--create", "--db", str(db)],
        input="\n".join(FREE_CLIENT_LINES) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "Caso n. 1 salvato." in result.stdout and "Gratis" in result.stdout
    (case,) = sqlite_utils.Database(db)["cases"].rows
    assert case["main"] == "gratis" and json.loads(case["answers"])["alias"] == "Rossi"


# -- the systemd unit ------------------------------------------------------------------------------


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_the_service_unit_starts_a_real_entry_point_and_command():
    service = unit()["Service"]
    program, *args = shlex.split(service["ExecStart"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert Path(program).name in scripts, f"{program} is not an installed entry point"
    module, _, function = scripts[Path(program).name].partition(":")
    assert callable(getattr(__import__(module, fromlist=[function]), function))
    build_parser().parse_args(args)  # `run` (with its options) is a real command: no SystemExit
    assert args[0] == "run"
    pre, *pre_args = shlex.split(service["ExecStartPre"])
    assert Path(pre).name == Path(program).name
    build_parser().parse_args(pre_args)


def test_the_service_unit_has_a_data_directory_an_environment_file_and_restarts():
    parsed = unit()
    service = parsed["Service"]
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "clientcoach" and service["StateDirectoryMode"] == "0700"
    assert service["EnvironmentFile"].startswith("/etc/clientcoach/")
    assert "CLIENTCOACH_DB=/var/lib/clientcoach/" in service["Environment"]
    assert service["KillSignal"] == "SIGTERM" and service["UMask"] == "0077"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    example = (ROOT / "deploy" / "clientcoach.env.example").read_text(encoding="utf-8")
    assert "TELEGRAM_BOT_TOKEN=" in example and "CLIENTCOACH_ALLOWED_USERS=" in example


def test_the_service_unit_holds_a_wrong_token_and_chooses_its_mode_from_the_environment_file():
    """Issue 19: the unit could not run webhook mode without editing it, restarted a wrong token
    forever, and `systemd-analyze security` rated it 8.5 (EXPOSED)."""
    from bot import cli
    from bot.config import ENVIRONMENT

    service = unit()["Service"]
    assert not {"--webhook-url", "--port", "--listen"} & set(shlex.split(service["ExecStart"])), "no mode in the unit"
    example = (ROOT / "deploy" / "clientcoach.env.example").read_text(encoding="utf-8")
    for name in ("CLIENTCOACH_WEBHOOK_URL", "CLIENTCOACH_LISTEN", "CLIENTCOACH_PORT"):
        assert name in dict(ENVIRONMENT) and name in example
    stops = set(service["RestartPreventExitStatus"].split())
    assert {str(cli.TOKEN_REFUSED), "2"} <= stops and service["Restart"] == "on-failure"
    assert "--create" in shlex.split(service["ExecStartPre"]), "the first start makes the unit's own database"
    hardening = {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "ReadWritePaths": "/var/lib/clientcoach",
        "CapabilityBoundingSet": "",
        "SystemCallArchitectures": "native",
    }
    for key, value in hardening.items():
        assert service.get(key) == value, key
    text = UNIT.read_text(encoding="utf-8")  # a key given twice (SystemCallFilter) adds up in systemd
    assert "SystemCallFilter=@system-service" in text and "SystemCallFilter=~@privileged" in text
    assert service["Environment"].split("CLIENTCOACH_DB=")[1].startswith(service["ReadWritePaths"] + "/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_rates_the_service_unit_ok(tmp_path):
    copy = tmp_path / "clientcoach.service"
    shutil.copy(UNIT, copy)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(copy)], capture_output=True, text=True, timeout=60
    )
    found = re.search(r"Overall exposure level for clientcoach\.service: (\d+\.\d+)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    assert float(found.group(1)) <= 4.0, done.stdout


# -- the version ----------------------------------------------------------------------------------


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_version_comes_from_the_package_metadata_and_the_changelog_names_it():
    from helpers import run_cli

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout == f"clientcoach {project_version()}\n", done
    assert project_version() != "0.1.0", "a release after the first has its own version"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.split("\n## ")[1].startswith(project_version()), "the newest entry is this version"


@pytest.mark.slow
def test_the_installed_command_prints_its_version(installed, env, tmp_path):
    done = _run([str(installed["bin"]), "--version"], cwd=tmp_path, env=env)
    assert done.stdout.strip() == f"clientcoach {project_version()}"
