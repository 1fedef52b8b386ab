"""The shape of the code: imports inside `bot` go one way, and the core never imports telegram.

Every import counts, the ones inside functions too: an import moved into a function to dodge a
cycle is still a cycle. A module also imports the packages above it (their __init__ runs first).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bot"
# The core of the one-way flow: none of it may reach python-telegram-bot, even through another module.
CORE = (
    "bot.engine",
    "bot.classifier",
    "bot.facts",
    "bot.scripts",
    "bot.render",
    "bot.questions",
    "bot.result",
    "bot.store",
    "bot.flow",
    "bot.coach",
    "bot.casebook",
)
# Import cycles still waiting for their fix elsewhere in issue 13, each as the set of its modules.
# An entry here that no longer is a cycle fails too, so the list only shrinks.
KNOWN_CYCLES: list[frozenset[str]] = []


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported_names(name: str, path: Path) -> set[str]:
    """Every absolute module name `path` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)  # `from . import cases`
    return names


def with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between bot modules, every top-level package each bot module imports)."""
    modules = bot_modules()
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in modules.items():
        names = imported_names(name, path)
        targets = set().union(*(with_parents(n) for n in names)) if names else set()
        edges[name] = {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
        external[name] = {n.split(".")[0] for n in names if n.split(".")[0] != "bot"}
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_graph_sees_every_module_and_the_imports_inside_functions():
    edges, _ = import_graph()
    assert {"bot.telegram", "bot.telegram.app", "bot.telegram.messages", "bot.coach"} <= set(edges)
    assert "bot.telegram.dialog" in edges["bot.telegram.app"], "from . import dialog"
    assert "bot.telegram.app" in edges["bot.cli"], "imported inside a function"
    assert "bot.telegram" in edges["bot.cli"], "a package's __init__ runs before its modules"


def test_no_module_of_bot_imports_another_that_imports_it_back():
    edges, _ = import_graph()
    found = cycles(edges)
    new = [sorted(cycle) for cycle in found if cycle not in KNOWN_CYCLES]
    assert not new, f"import cycles: {new}"
    fixed = [sorted(cycle) for cycle in KNOWN_CYCLES if cycle not in found]
    assert not fixed, f"no longer cycles, take them off KNOWN_CYCLES: {fixed}"


def test_the_telegram_package_imports_one_way():
    edges, _ = import_graph()
    package = {name: targets for name, targets in edges.items() if name.startswith("bot.telegram")}
    assert not cycles({name: targets & set(package) for name, targets in package.items()})
    assert not edges["bot.telegram"], "the package's __init__ imports nothing"


@pytest.mark.parametrize("core", CORE)
def test_the_core_never_reaches_telegram(core):
    edges, external = import_graph()
    for name in reachable(edges, core):
        assert not name.startswith("bot.telegram"), f"{core} reaches {name}"
        assert "telegram" not in external[name], f"{core} reaches {name}, which imports telegram"


def private_imports(name: str, path: Path) -> list[str]:
    """`from bot.x import _name` in `path` where bot.x is another module (or a package above it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            source = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            found += [f"{name}: from {source} import {p}" for p in private if source != name]
    return found


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore is its module's own: a second user makes it public (or moves it)."""
    found = [line for name, path in bot_modules().items() for line in private_imports(name, path)]
    assert not found, found


def test_the_console_chat_imports_no_heavy_package_beyond_its_libraries(tmp_path):
    """`clientcoach chat` to its first prompt: nothing of the case book's charts, of the Telegram
    front end or of the result path (numpy comes with sqlite-utils itself, which imports it when installed)."""
    from bench.startup import beyond_libraries, is_heavy

    extra = beyond_libraries(str(tmp_path / "chat.db"))
    assert "bot.console" in extra, "the chat ran"
    assert not [name for name in extra if is_heavy(name)]
    assert not [name for name in extra if name.startswith(("bot.telegram", "bot.casebook.book", "bot.charts"))]
    # The result path loads when there is a result: the first prompt pays for none of it.
    result_path = ("bot.result", "bot.plans", "bot.classifier", "bot.facts", "bot.sender")
    assert not [name for name in extra if name in result_path or name.startswith(tuple(f"{m}." for m in result_path))]


def test_a_current_database_opens_without_sqlite_utils_and_numpy(tmp_path):
    """sqlite-utils (and numpy, which it imports when installed) load only to migrate or for the
    commands that use them: the console's first prompt on an up-to-date database pays for neither."""
    import sqlite_utils.migrations

    from bench.startup import chat_command, import_costs
    from bot.store.schema import MIGRATIONS_TABLE

    assert MIGRATIONS_TABLE == sqlite_utils.migrations.Migrations.migrations_table
    db = str(tmp_path / "chat.db")
    first = import_costs(chat_command(db))  # creates and migrates the file
    assert "sqlite_utils" in first
    again = import_costs(chat_command(db))
    assert "bot.console" in again, "the chat ran"
    assert not [name for name in again if name.split(".")[0] in ("sqlite_utils", "numpy")]
