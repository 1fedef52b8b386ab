"""The language registry: every language is `templates/<code>/language.yaml`, and nothing else names one.

The end-to-end test adds a dummy language `xx` to a temporary copy of the templates and the flow
(texts copied from English, its own money format and words) and answers a whole questionnaire in it
through `bot.cli.main`; incomplete or broken languages are refused with the file (and line) at fault.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import sqlite_utils
import yaml

from bot import cli, paths
from bot.casebook.parsing import DURATIONS
from bot.choices import EXTRAS, FORMS, VARIANTS
from bot.console import COMMAND_MOVES
from bot.flow import FlowError, load_flow, mermaid
from bot.languages import WORD_TABLES, LanguageError, load_language, load_languages
from bot.render import Renderer, format_money, to_plain
from bot.store import STATUSES

from answer_lines import typed_lines
from helpers import FLOW_FILE, ROOT, run_cli

TEMPLATES = ROOT / "templates"
# The dummy language: English texts, its own name, Telegram code, money format, words and labels.
DUMMY = """\
name: Dummy
telegram: [xx]
money: {decimal: ";", thousands: "'", format: "XX {amount}"}
letter: {after_greeting: upper}
mermaid: {optional: "(opt-xx)", finish: xx result}
menu:
%(menu)s
words:
  commands:
    back: [zback]
    skip: [zskip]
    cancel: [zcancel]
    review: [zreview]
    restart: [zrestart]
    help: [zhelp]
    quit: [zquit]
  variants: {softer: [zsoft], firmer: [zfirm], shorter: [zshort]}
  forms: {tu: [ztu], lei: [zlei]}
  extras: {guide: [zguide], second: [zsecond], figures: [zfigures], all: [zall]}
  outcomes: {cliente_tenuto: [zkept]}
  durations: {hour: [zh], day: [zd], week: [zw], month: [zm]}
  answers: {paid: [zpaid], settled: [zsettled], answered: [zanswered], no_answer: [znone], worse: [zworse]}
  confirm: [zyes]
"""


def with_language(node, code: str, source: str = "en"):
    """The flow document with a `code` text beside every `source` one (labels, texts, unit words)."""
    if isinstance(node, dict):
        node = {key: with_language(value, code, source) for key, value in node.items()}
        if source in node and "it" in node:
            node[code] = node[source]
        return node
    if isinstance(node, list):
        return [with_language(item, code, source) for item in node]
    return node


def dummy_language_file() -> str:
    english = yaml.safe_load((TEMPLATES / "en" / "language.yaml").read_text(encoding="utf-8"))
    menu = "\n".join(f"  {command}: {json.dumps('xx ' + text)}" for command, text in english["menu"].items())
    return DUMMY % {"menu": menu}


@pytest.fixture
def dummy(tmp_path, monkeypatch) -> Path:
    """A copy of the bundled templates and flows with the language `xx` added, used as the bundled ones."""
    root = tmp_path / "data"
    shutil.copytree(TEMPLATES, root / "templates")
    shutil.copytree(TEMPLATES / "en", root / "templates" / "xx", dirs_exist_ok=True)
    (root / "templates" / "xx" / "language.yaml").write_text(dummy_language_file(), encoding="utf-8")
    (root / "flows").mkdir()
    flow = with_language(yaml.safe_load(FLOW_FILE.read_text(encoding="utf-8")), "xx")
    text = yaml.safe_dump(flow, allow_unicode=True, sort_keys=False)
    (root / "flows" / FLOW_FILE.name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "_data_dir", lambda name: root / name)
    monkeypatch.setattr(cli, "_RENDERER", None)
    return root


# -- the bundled languages -----------------------------------------------------------------------


def test_the_bundled_languages_are_italian_first_then_english():
    languages = load_languages()
    assert languages.codes == ("it", "en") and languages.default == "it"
    assert languages["it"].name == "Italiano" and languages["en"].telegram == ("en",)


def test_a_telegram_language_code_maps_to_a_registered_language_else_the_default():
    languages = load_languages()
    assert [languages.for_telegram(c) for c in ("en", "en-GB", "EN_us", "it", "de", "", None)] == [
        "en",
        "en",
        "en",
        "it",
        "it",
        "it",
        "it",
    ]
    assert languages.pick("en") == "en" and languages.pick("fr") == "it" and languages.pick(None) == "it"


def test_outcome_words_lead_to_stored_statuses():
    assert set(WORD_TABLES["outcomes"]) == set(STATUSES)


def test_every_word_table_means_what_the_code_acts_on():
    """The tables are built from the code's own lists (listed once), or agree with what the code does."""
    assert (WORD_TABLES["variants"], WORD_TABLES["forms"], WORD_TABLES["extras"]) == (VARIANTS, FORMS, EXTRAS)
    assert WORD_TABLES["outcomes"] is STATUSES
    assert set(WORD_TABLES["durations"]) == set(DURATIONS)
    assert set(COMMAND_MOVES) | {"help", "quit"} == set(WORD_TABLES["commands"])


def test_every_bundled_language_has_every_template():
    load_languages().check_templates()


# -- a dummy language, end to end ----------------------------------------------------------------


def test_a_new_language_is_offered_drawn_formatted_and_spoken_end_to_end(dummy, tmp_path):
    languages = load_languages()
    assert languages.codes == ("it", "en", "xx") and languages.for_telegram("xx-YY") == "xx"
    assert "--lang {it,en,xx}" in cli.build_parser().format_usage()
    assert format_money(1234567.5, "xx") == "XX 1'234'567;50"
    assert languages.menu("xx")[0][1].startswith("xx ") and "it | en | xx" in dict(languages.menu("it"))["lingua"]
    flow = load_flow(dummy / "flows" / FLOW_FILE.name)
    assert all(set(q.text) == {"it", "en", "xx"} for q in flow.questions.values())
    drawn = mermaid(flow, "xx")
    assert "(opt-xx)" in drawn and 'result(["xx result"])' in drawn

    db = tmp_path / "cc.db"
    lines = typed_lines({"alias": "Rossi", "payment": "3"}, "xx", flow)
    result = run_cli("chat", "--create", "--db", str(db), "--lang", "xx", stdin=["zhelp", *lines, "1 zfirm zlei", ""])
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    english = Renderer(surface="console")  # the dummy's texts are English ones
    assert to_plain(english.ui("xx", "console_help")) in result.stdout, "the dummy's own help word works"
    assert flow.questions["payment"].text["xx"] in result.stdout
    (case,) = list(sqlite_utils.Database(db)["cases"].rows)
    assert (case["lang"], case["main"]) == ("xx", "gratis")
    after_result = result.stdout.rsplit(to_plain(english.ui("xx", "console_extras", False, 3))[-15:], 1)[1]
    assert "firmer · formal" in after_result, "the dummy's words for a script's version and form work"


def test_an_unknown_language_is_an_argparse_error_that_names_the_choices(dummy):
    result = run_cli("chat", "--lang", "yy")
    assert result.returncode == 2 and "scelta non valida: 'yy'" in result.stderr and "'xx'" in result.stderr


# -- incomplete languages are refused ------------------------------------------------------------


def test_a_language_missing_a_template_is_refused_naming_the_file(dummy):
    missing = dummy / "templates" / "xx" / "result.html.j2"
    missing.unlink()
    with pytest.raises(LanguageError, match="xx/result.html.j2: missing"):
        Renderer()
    result = run_cli("chat", "--create", "--lang", "xx", "--db", str(dummy / "cc.db"), stdin=[])
    assert result.returncode == 1 and str(missing) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("lang", load_languages().codes)
@pytest.mark.parametrize("template", ["advice/lvc.html.j2", "scripts/sollecito.html.j2"])
def test_a_template_missing_from_any_language_the_default_included_is_refused(tmp_path, template, lang):
    """A template every other language has, missing from one, is refused naming the file, before any dialogue."""
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    missing = tmp_path / "templates" / lang / template
    missing.unlink()
    with pytest.raises(LanguageError, match=re.escape(f"{missing}: missing")):
        Renderer(tmp_path / "templates")


def test_a_flow_without_texts_for_a_registered_language_is_refused_naming_flow_line_and_language(dummy):
    with pytest.raises(FlowError) as refused:
        load_flow(FLOW_FILE)  # the bundled flow has no xx texts
    error = refused.value
    assert error.path == str(FLOW_FILE) and error.line and "missing the 'xx' translation" in str(error)
    assert f"{FLOW_FILE}:{error.line}:" in str(error)


def write_language(tmp_path: Path, text: str, code: str = "xx") -> Path:
    path = tmp_path / code / "language.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def broken(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("  confirm: [zyes]\n", "", "'words' is missing the tables: confirm"),
        ("    quit: [zquit]\n", "", "'commands' needs words for 'quit'"),
        ("  confirm: [zyes]\n", "  confirm: [yes]\n", "must be a list of texts"),
        ('format: "XX {amount}"', 'format: "XX"', "must hold {amount} once"),
        ("after_greeting: upper", "after_greeting: sideways", "'after_greeting' must be one of lower, upper"),
        ("variants: {softer:", "variants: {softest: [x], softer:", "'variants' has unknown meanings: softest"),
        ("name: Dummy\n", "name: Dummy\ncolour: blue\n", "unknown keys: colour"),
    ],
)
def test_a_broken_language_file_is_refused_with_its_file_and_line(tmp_path, old, new, problem):
    text = broken(dummy_language_file(), old, new)
    path = write_language(tmp_path, text)
    with pytest.raises(LanguageError) as refused:
        load_language(path)
    assert problem in str(refused.value) and str(path) in str(refused.value)
    assert refused.value.line is not None and refused.value.line >= 1


def test_not_valid_yaml_is_refused_with_its_line(tmp_path):
    path = write_language(tmp_path, "name: Dummy\nmoney: {decimal: [\n")
    with pytest.raises(LanguageError, match="not valid YAML") as refused:
        load_language(path)
    assert refused.value.line is not None


def test_a_word_with_another_meaning_in_another_language_is_refused(dummy):
    path = dummy / "templates" / "xx" / "language.yaml"
    path.write_text(broken(path.read_text(encoding="utf-8"), "back: [zback]", "back: [zback, salta]"))
    conflict = "'commands': the word 'salta' means 'back' here but 'skip' in 'it'"
    with pytest.raises(LanguageError, match=conflict) as refused:
        load_languages(dummy / "templates")
    assert refused.value.path == str(path)


def test_two_defaults_or_a_menu_that_differs_are_refused(tmp_path):
    two = tmp_path / "two"
    shutil.copytree(TEMPLATES, two)
    (two / "xx").mkdir()
    (two / "xx" / "language.yaml").write_text("default: true\n" + dummy_language_file(), encoding="utf-8")
    with pytest.raises(LanguageError, match="exactly one language must say 'default: true'"):
        load_languages(two)
    menu = tmp_path / "menu"
    shutil.copytree(TEMPLATES, menu)
    (menu / "xx").mkdir()
    (menu / "xx" / "language.yaml").write_text(broken(dummy_language_file(), "  nuovo:", "  new:"), encoding="utf-8")
    with pytest.raises(LanguageError, match="'menu' must describe the commands nuovo, "):
        load_languages(menu)
