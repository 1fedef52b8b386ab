"""Flow loading and validation: the real flow loads, broken flows are refused with file, line and question."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot import cli
from bot.classifier import classify
from bot.flow import END, REQUIRED_IDS, FlowError, load_flow, mermaid
from bot.languages import load_languages
from bot.profiles import NAME_KINDS
from bot.render import Renderer
from bot.result import advice, profile_card

from helpers import SMALL_PROFILES

ROOT = Path(__file__).resolve().parents[1]
FLOW_FILE = ROOT / "flows" / "cliente_difficile.yaml"
DIAGRAM_FILE = ROOT / "flows" / "cliente_difficile.mmd"

REGENERATE = "python -m bot flows draw > flows/cliente_difficile.mmd"
# Every registered language (a folder of templates/ with a language.yaml).
LANGS = load_languages().codes

# A small valid flow; each broken flow below is this one with one thing wrong.
GOOD = (
    """\
flow: tiny
version: 1
start: alias
"""
    + SMALL_PROFILES
    + """\
questions:
  - id: alias
    kind: text
    optional: true
    text: {it: Nome del cliente?, en: Client name?}
    next: sender
  - id: sender
    kind: text
    text: {it: Firma?, en: Signature?}
    next: price
  - id: price
    kind: money
    text: {it: Prezzo?, en: Price?}
    next: who
  - id: who
    kind: single
    text: {it: Tu o Lei?, en: Informal or formal?}
    options:
      - id: tu
        label: {it: Del tu, en: Informal}
        evidence: {mvc: 1}
      - id: lei
        label: {it: Del Lei, en: Formal}
    next: end
"""
)


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not in the test flow"
    return hits[occurrence - 1]


def refused(path: Path) -> FlowError:
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    return caught.value


def assert_names(error: FlowError, path: Path, line: int, question: str | None, *words: str) -> None:
    """The message names the file, the line and the question, and says what is wrong."""
    message = str(error)
    where = f"{path}:{line}:"
    assert message.startswith(where), f"{message!r} should start with {where!r}"
    if question:
        assert f"question '{question}':" in message, message
    assert (error.path, error.line, error.question) == (str(path), line, question)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# -- the real flow -----------------------------------------------------------------------------


def test_the_real_flow_loads_with_every_text_in_both_languages(flow):
    assert flow.id == "cliente_difficile"
    assert flow.start == "alias"
    assert set(REQUIRED_IDS) <= set(flow.questions)
    for q in flow.questions.values():
        for lang in LANGS:
            assert q.text[lang].strip() and q.short[lang].strip(), q.id
            for option in q.options:
                assert option.label[lang].strip(), (q.id, option.id)
        if q.is_choice:
            assert len(q.options) >= 2
        for option in q.options:
            assert set(option.evidence) <= set(flow.profiles.ids)


def test_every_profile_gets_positive_evidence_somewhere(flow):
    boosted = {
        profile
        for q in flow.questions.values()
        for source in (*q.options, *q.bands)
        for profile, weight in source.evidence.items()
        if weight > 0
    }
    assert boosted == set(flow.profiles.ids)


def test_the_same_file_loads_the_same_way_twice(flow):
    """The second load may come from the parse cache: it must give an equal flow."""
    again = load_flow(FLOW_FILE)
    assert again.questions == flow.questions
    assert again.fingerprint == flow.fingerprint


def test_the_small_valid_flow_loads(tmp_path):
    flow = load_flow(write(tmp_path, GOOD))
    assert list(flow.questions) == ["alias", "sender", "price", "who"]
    assert flow.questions["who"].option_index["tu"].evidence == {"mvc": 1.0}


def test_text_answers_are_searchable_unless_the_flow_says_otherwise(tmp_path):
    flow = load_flow(write(tmp_path, GOOD))
    assert [q.id for q in flow.questions.values() if q.searchable] == ["alias", "sender"]
    marked = GOOD.replace("    text: {it: Firma?", "    searchable: false\n    text: {it: Firma?")
    private = load_flow(write(tmp_path, marked, "private.yaml"))
    assert [q.id for q in private.questions.values() if q.searchable] == ["alias"]
    answers = {"who": "tu", "sender": "Studio Neri", "price": 12.0, "alias": "Rossi"}
    assert flow.search_texts(answers) == ["Rossi", "Studio Neri"] and private.search_texts(answers) == ["Rossi"]


@pytest.mark.parametrize(
    ("marker", "problem"), [("searchable: yes please", "true or false"), ("searchable: true", "only 'text' questions")]
)
def test_a_bad_searchable_marker_is_refused(tmp_path, marker, problem):
    text = GOOD.replace("    text: {it: Prezzo?", f"    {marker}\n    text: {{it: Prezzo?")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "id: price"), "price", problem)


def test_a_stored_answer_fits_its_question_only_with_the_right_shape(tmp_path):
    questions = load_flow(write(tmp_path, GOOD.replace("kind: single", "kind: multi"))).questions
    single = load_flow(write(tmp_path, GOOD, "single.yaml")).questions["who"]
    alias, sender, price, multi = (questions[q] for q in ("alias", "sender", "price", "who"))
    fits = [
        (alias, None),
        (alias, "Rossi"),
        (sender, "Studio"),
        (price, 12),
        (price, 12.5),
        (single, "lei"),
        (multi, ["tu", "lei"]),
        (multi, []),
    ]
    misfits = [
        (sender, None),
        (sender, 12),
        (price, "12"),
        (price, True),
        (single, "voi"),
        (single, ["tu"]),
        (single, None),
        (multi, "tu"),
        (multi, ["tu", "voi"]),
        (multi, [["tu"]]),
        (multi, None),
    ]
    assert [q.accepts(value) for q, value in fits] == [True] * len(fits)
    assert [q.accepts(value) for q, value in misfits] == [False] * len(misfits)


# -- broken flows ------------------------------------------------------------------------------


def test_unknown_target_is_refused(tmp_path):
    text = GOOD.replace("    next: price\n", "    next: prize\n")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: sender"), "sender", "unknown question 'prize'")


def test_unknown_target_on_an_option_is_refused(tmp_path):
    text = GOOD.replace(
        "        label: {it: Del Lei, en: Formal}\n",
        "        label: {it: Del Lei, en: Formal}\n        next: nowhere\n",
    )
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: who"), "who", "unknown question 'nowhere'")


def test_unreachable_question_is_refused(tmp_path):
    text = GOOD + "  - id: orphan\n    kind: text\n    text: {it: Mai chiesta, en: Never asked}\n    next: end\n"
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: orphan"), "orphan", "cannot be reached")


def test_a_loop_is_refused(tmp_path):
    # who -> (lei) -> price -> who: every question stays reachable, but the path would cycle.
    text = GOOD.replace(
        "        label: {it: Del Lei, en: Formal}\n", "        label: {it: Del Lei, en: Formal}\n        next: price\n"
    )
    path = write(tmp_path, text)
    error = refused(path)
    assert_names(error, path, line_of(text, "- id: price"), "price", "loop", "price -> who -> price")


def test_a_question_leading_to_itself_is_a_loop(tmp_path):
    text = GOOD.replace(
        "        label: {it: Del tu, en: Informal}\n", "        label: {it: Del tu, en: Informal}\n        next: who\n"
    )
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: who"), "who", "loop", "who -> who")


@pytest.mark.parametrize("lang", LANGS)
def test_a_missing_question_translation_is_refused(tmp_path, lang):
    texts = {"it": "it: Firma?", "en": "en: Signature?"}
    other = texts["en" if lang == "it" else "it"]
    text = GOOD.replace("    text: {it: Firma?, en: Signature?}\n", f"    text: {{{other}}}\n")
    path = write(tmp_path, text)
    assert_names(
        refused(path),
        path,
        line_of(text, f"text: {{{other}}}"),
        "sender",
        f"'text' is missing the '{lang}' translation",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_a_missing_option_translation_is_refused(tmp_path, lang):
    kept = "en: Formal" if lang == "it" else "it: Del Lei"
    text = GOOD.replace("        label: {it: Del Lei, en: Formal}\n", f"        label: {{{kept}}}\n")
    path = write(tmp_path, text)
    assert_names(
        refused(path), path, line_of(text, f"label: {{{kept}}}"), "who", f"'label' is missing the '{lang}' translation"
    )


def test_an_empty_translation_is_refused(tmp_path):
    text = GOOD.replace("{it: Firma?, en: Signature?}", '{it: "  ", en: Signature?}')
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, 'it: "  "'), "sender", "missing the 'it' translation")


def test_duplicate_question_ids_are_refused(tmp_path):
    text = GOOD.replace("  - id: price\n", "  - id: sender\n")
    path = write(tmp_path, text)
    first, second = line_of(text, "- id: sender"), line_of(text, "- id: sender", 2)
    assert_names(refused(path), path, second, "sender", "duplicate question id", f"first at line {first}")


def test_duplicate_option_ids_are_refused(tmp_path):
    text = GOOD.replace("      - id: lei\n", "      - id: tu\n")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: tu", 2), "who", "duplicate option id 'tu'")


def test_a_choice_question_with_one_option_is_refused(tmp_path):
    text = GOOD.replace("      - id: lei\n        label: {it: Del Lei, en: Formal}\n", "")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: who"), "who", "at least two options")


def test_a_multiple_choice_question_with_no_options_is_refused(tmp_path):
    text = GOOD.replace("  - id: price\n    kind: money\n", "  - id: price\n    kind: multi\n")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: price"), "price", "at least two options")


def test_an_unknown_profile_in_evidence_is_refused(tmp_path):
    text = GOOD.replace("evidence: {mvc: 1}", "evidence: {genius: 1}")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "evidence: {genius: 1}"), "who", "unknown profile 'genius'")


def test_evidence_that_is_not_a_number_is_refused(tmp_path):
    text = GOOD.replace("evidence: {mvc: 1}", "evidence: {mvc: lots}")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "evidence: {mvc: lots}"), "who", "must be a number")


def test_an_unknown_kind_is_refused(tmp_path):
    text = GOOD.replace("  - id: sender\n    kind: text\n", "  - id: sender\n    kind: essay\n")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: sender"), "sender", "'kind' must be one of")


def test_a_missing_required_question_is_refused(tmp_path):
    # The messages read `price`: a flow without it cannot be used.
    text = GOOD.replace("    next: price\n", "    next: who\n").replace(
        "  - id: price\n    kind: money\n    text: {it: Prezzo?, en: Price?}\n    next: who\n", ""
    )
    path = write(tmp_path, text)
    error = refused(path)
    assert str(error).startswith(f"{path}:") and "'price'" in str(error)


def test_invalid_yaml_is_refused_with_file_and_line(tmp_path):
    text = GOOD.replace("    text: {it: Prezzo?, en: Price?}\n", "    text: {it: Prezzo?, en: Price?\n")
    path = write(tmp_path, text)
    error = refused(path)
    assert "not valid YAML" in str(error)
    assert error.line is not None and line_of(text, "{it: Prezzo?, en: Price?") <= error.line <= line_of(
        text, "- id: who"
    )
    assert str(error).startswith(f"{path}:{error.line}:")


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = write(tmp_path, "- just\n- a list\n")
    error = refused(path)
    assert str(error).startswith(f"{path}:1:") and "must be a mapping" in str(error)


def test_a_missing_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "nope.yaml"
    error = refused(path)
    assert str(path) in str(error) and "cannot read" in str(error)


def test_a_broken_flow_is_refused_again_when_loaded_a_second_time(tmp_path):
    """The parse cache keeps the document, never a pass: validation runs on every load."""
    text = GOOD.replace("evidence: {mvc: 1}", "evidence: {genius: 1}")
    path = write(tmp_path, text)
    assert str(refused(path)) == str(refused(path))


# -- the diagram -------------------------------------------------------------------------------


def test_the_committed_diagram_is_current(capsys):
    assert cli.main(["flows", "draw"]) == 0
    drawn = capsys.readouterr().out
    committed = DIAGRAM_FILE.read_text(encoding="utf-8") if DIAGRAM_FILE.exists() else ""
    assert drawn == committed, f"{DIAGRAM_FILE.name} is stale or missing: regenerate it with `{REGENERATE}`"


def test_the_diagram_draws_every_question_and_branch(flow):
    diagram = mermaid(flow)
    assert diagram.startswith("flowchart TD\n")
    for q in flow.questions.values():
        assert f"    {q.id}[" in diagram
        assert f"    {q.id} --> {'result' if q.next == END else q.next}" in diagram
    assert "payment -->|late| owed" in diagram
    assert "payment --> free_attitude" in diagram
    assert "notice -->|with_notice| notice_period" in diagram
    assert "behaviours -->|threats, offended, insults_staff, legal| conflict" in diagram
    assert "behaviours -->|discount_demands, free_extras, exceptions| concessions" in diagram
    assert "prestige -->|very, somewhat| vip_signals" in diagram
    assert 'result(["riepilogo e risultato"])' in diagram
    assert 'result(["review and result"])' in mermaid(flow, "en")


# -- the script conditions against the flow (`clientcoach flows check`) -------------------------


def test_the_bundled_script_conditions_fit_the_flow(flow):
    from bot.scripts import check

    assert check(flow) == []


def test_conditions_naming_unknown_questions_options_profiles_or_flags_are_refused(flow):
    from bot.scripts import Script, condition_problems

    bad = (
        Script("a", 0, ("terms",), needs={"nowhere": ("x",)}),
        Script("b", 0, ("terms",), needs={"payment": ("gratis_forever",)}),
        Script("c", 0, ("terms",), refuses={"conflict": ("public_attacks",)}),
        Script("d", 0, ("terms",), profiles=("saint",), flags=("lucky",), filled=("ghost",)),
    )
    problems = condition_problems(flow, bad)
    assert any("'a'" in p and "unknown question 'nowhere'" in p for p in problems)
    assert any("'b'" in p and "payment=gratis_forever" in p for p in problems)
    assert any("'c'" in p and "conflict=public_attacks" in p for p in problems)
    assert {"unknown profile 'saint'", "unknown flag 'lucky'"} <= {p.split(": ", 1)[1] for p in problems if "'d'" in p}
    assert any("'d'" in p and "'ghost'" in p for p in problems)


def test_scripts_no_path_can_reach_are_listed(flow):
    from bot.scripts import Script, unreachable

    # Money owed and the normal price sit on different branches of `payment`; the kind of work (a
    # one-off job) and the notice (a relationship that goes on) on different answers to `relationship`.
    impossible = Script("never", 0, ("terms",), needs={"owed_since": ("overdue",), "price": ()})
    neither = Script("never_either", 0, ("terms",), needs={"trade": ("craft",), "notice": ("with_notice",)})
    possible = Script("fine", 0, ("terms",), needs={"owed_since": ("overdue",), "free_attitude": ("demands",)})
    assert unreachable(flow, (impossible, neither, possible)) == ["never", "never_either"]


def test_a_needed_option_must_lead_along_the_path(flow):
    from bot.scripts import CATALOGUE, Script, unreachable

    # Both questions lie on one path, but only "late" leads to the money owed; "full" never does.
    wrong_option = Script("full_but_overdue", 0, ("terms",), needs={"payment": ("full",), "owed_since": ("overdue",)})
    # A behaviour that opens no follow-up, beside one that opens the concessions: the first picked
    # option with a follow-up decides, so the pair reaches the concession question.
    paired = Script(
        "calls_and_discounts", 0, ("terms",), needs={"behaviours": ("calls_back",), "concessions": ("none_yet",)}
    )
    # "None of these" is exclusive: it can never be picked beside a behaviour that opens the conflict.
    exclusive = Script(
        "none_and_conflict", 0, ("terms",), needs={"behaviours": ("none",), "conflict": ("review_posted",)}
    )
    refused = Script("refused_way", 0, ("terms",), needs={"owed": ()}, refuses={"payment": ("late",)})
    assert unreachable(flow, (wrong_option, paired, exclusive, refused)) == [
        "full_but_overdue",
        "none_and_conflict",
        "refused_way",
    ]
    assert unreachable(flow) == [], "every message of the catalogue can be reached"
    assert len(CATALOGUE) >= 18


def test_flows_check_fails_on_a_broken_condition(monkeypatch, capsys):
    from bot import cli, scripts

    monkeypatch.setattr(
        scripts, "CATALOGUE", (*scripts.CATALOGUE, scripts.Script("broken", 0, ("terms",), needs={"nowhere": ("x",)}))
    )
    assert cli.main(["flows", "check"]) == 1
    assert "script 'broken'" in capsys.readouterr().err


# -- follow-ups asked only on their branch (ask_if) and units of a price --------------------------


@pytest.mark.parametrize(
    ("ask_if", "problem"),
    [
        ("{payment: [free]}", "not a choice question"),
        ("{who: [nobody]}", "not asked before it"),
        ("{who: [tu]}", "not asked before it"),
        ("[who]", "must map earlier questions"),
    ],
)
def test_ask_if_names_an_earlier_choice_and_its_options(tmp_path, ask_if, problem):
    text = GOOD.replace("  - id: price\n    kind: money\n", f"  - id: price\n    kind: money\n    ask_if: {ask_if}\n")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: price"), "price", problem)


def test_ask_if_refuses_an_unknown_option_and_the_first_question(tmp_path):
    moved = (
        GOOD.replace("start: alias", "start: who")
        .replace("    next: end\n", "    next: alias\n")
        .replace("    next: who\n", "    next: end\n")
    )
    text = moved.replace(
        "  - id: price\n    kind: money\n", "  - id: price\n    kind: money\n    ask_if: {who: [maybe]}\n"
    )
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: price"), "price", "unknown option 'who=maybe'")
    text = moved.replace("  - id: who\n    kind: single\n", "  - id: who\n    kind: single\n    ask_if: {who: [tu]}\n")
    path = write(tmp_path, text, "first.yaml")
    assert_names(refused(path), path, line_of(text, "- id: who"), "who", "first question is always asked")


def test_a_script_that_needs_a_question_its_branch_skips_is_unreachable(flow):
    from bot.scripts import Script, unreachable

    free_balance = Script("free_balance", 0, ("terms",), needs={"payment": ("free",), "balance": ("drains",)})
    full_price = Script("full_price", 0, ("terms",), needs={"payment": ("full",), "price": ()})
    underpaid_price = Script("underpaid_price", 0, ("terms",), needs={"payment": ("below_price",), "price": ()})
    full_attitude = Script("full_attitude", 0, ("terms",), needs={"payment": ("full",), "free_attitude": ("demands",)})
    late_attitude = Script("late_attitude", 0, ("terms",), needs={"payment": ("late",), "free_attitude": ("demands",)})
    finished_notice = Script(
        "finished_notice", 0, ("terms",), needs={"relationship": ("one_off_finished",), "notice": ()}
    )
    mandate_notice = Script(
        "mandate_notice", 0, ("terms",), needs={"relationship": ("mandate",), "notice": ("with_notice",)}
    )
    prepaid_trade = Script("prepaid_trade", 0, ("terms",), needs={"relationship": ("prepaid",), "trade": ()})
    scripts = (
        free_balance,
        full_price,
        underpaid_price,
        full_attitude,
        late_attitude,
        finished_notice,
        mandate_notice,
        prepaid_trade,
    )
    assert unreachable(flow, scripts) == [
        "free_balance",
        "full_price",
        "full_attitude",
        "finished_notice",
        "prepaid_trade",
    ]


def test_units_are_validated_at_load(tmp_path):
    units = (
        "    units:\n"
        "      - id: once\n        label: {it: in tutto, en: in all}\n        words: {it: [tutto], en: [all]}\n"
        "      - id: hour\n        label: {it: all'ora, en: an hour}\n        words: {it: [ora, Tutto], en: [hour]}\n"
    )
    text = GOOD.replace("    text: {it: Prezzo?, en: Price?}\n", "    text: {it: Prezzo?, en: Price?}\n" + units)
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: hour"), "price", "'tutto' (it) names both 'once' and 'hour'")
    text = GOOD.replace(
        "  - id: who\n    kind: single\n", "  - id: who\n    kind: single\n" + units.replace("Tutto", "x")
    )
    path = write(tmp_path, text, "single.yaml")
    assert_names(
        refused(path), path, line_of(text, "- id: who"), "who", "'units' apply only to number and money questions"
    )
    flow = load_flow(
        write(
            tmp_path,
            GOOD.replace(
                "    text: {it: Prezzo?, en: Price?}\n",
                "    text: {it: Prezzo?, en: Price?}\n" + units.replace("Tutto", "x"),
            ),
            "ok.yaml",
        )
    )
    price = flow.questions["price"]
    assert price.unit_named("  ORA. ", "it").id == "hour" and price.unit_named("", "en").id == "once"
    assert price.accepts({"amount": 12.0, "unit": "hour"}) and not price.accepts({"amount": 12.0, "unit": "day"})
    assert not price.accepts(12.0) and not price.accepts({"amount": True, "unit": "hour"})


def test_option_words_are_validated_at_load(tmp_path):
    """Words a person may type for an option: one option per word, per language, and only known languages."""
    tu = "      - id: tu\n        label: {it: Del tu, en: Informal}\n"
    lei = "      - id: lei\n        label: {it: Del Lei, en: Formal}\n"

    def with_words(tu_words: str, lei_words: str, name: str) -> tuple[str, Path]:
        text = GOOD.replace(tu, tu + tu_words).replace(lei, lei + lei_words)
        return text, write(tmp_path, text, name)

    text, path = with_words(
        "        words: {it: [tu, informale], en: [informal]}\n",
        "        words: {it: [Lei, Informale], en: [formal]}\n",
        "twice.yaml",
    )
    assert_names(refused(path), path, line_of(text, "- id: lei"), "who", "'informale' (it) names both 'tu' and 'lei'")
    text, path = with_words("        words: {it: [tu], en: [informal], de: [du]}\n", "", "unknown.yaml")
    assert_names(refused(path), path, line_of(text, "words: {it: [tu]"), "who", "unknown languages: de")
    text, path = with_words("        words: {it: [tu], en: []}\n", "", "empty.yaml")
    assert_names(refused(path), path, line_of(text, "words: {it: [tu]"), "who", "needs a list of words for 'en'")
    _, path = with_words("        words: {it: [Sì, «Tu»], en: [informal]}\n", "", "ok.yaml")
    assert load_flow(path).questions["who"].option_index["tu"].words == {"it": ("si", "tu"), "en": ("informal",)}, (
        "kept as typed words are compared: no case, accents or punctuation"
    )


# -- profiles: declared once in the flow file, every piece checked at load ---------------------

NEW_PROFILE = """\
  - id: profilo_di_prova
    role: problem
    name: {it: Profilo di prova, en: Trial profile}
    short: {it: Prova, en: Trial}
    inline: {it: profilo_di_prova, en: trial}
    guide: prevention
"""


def with_profile(declaration: str = NEW_PROFILE) -> str:
    """The small flow with one more profile, which the answer «Del tu» points to."""
    text = GOOD.replace("questions:\n", declaration + "questions:\n", 1)
    return text.replace("evidence: {mvc: 1}", "evidence: {profilo_di_prova: 6}")


def templates_with_advice(tmp_path: Path, profile: str = "profilo_di_prova") -> Path:
    """A copy of the bundled templates with an advice for `profile` in every language."""
    copy = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", copy)
    for lang in LANGS:
        (copy / lang / "advice" / f"{profile}.html.j2").write_text(
            f"<b>{profile}</b>: {lang}\n{{{{ profiles[profile].name.{lang} }}}}\n", encoding="utf-8"
        )
    return copy


def test_a_new_profile_is_its_declaration_and_its_advice(tmp_path):
    """Adding a profile: its declaration in the flow file plus one advice per language, nothing else."""
    templates = templates_with_advice(tmp_path)
    flow = load_flow(write(tmp_path, with_profile()), load_languages(templates))
    assert flow.profiles.ids == ("gratis", "mvc", "profilo_di_prova")
    assert flow.profiles.problems == ("gratis", "profilo_di_prova")
    assessment = classify(flow, {"who": "tu"})
    assert assessment.main == "profilo_di_prova"
    renderer = Renderer(templates, profiles=flow.profiles)
    card = profile_card(renderer, "en", flow.questions, {"who": "tu"}, assessment).plain
    assert "Trial profile" in card and "Trial" in card
    assert renderer.ui("it", "button_second", "profilo_di_prova") == "➕ Consigli: profilo profilo_di_prova"
    assert "Profilo di prova" in advice(renderer, "it", {"who": "tu"}, assessment).plain


@pytest.mark.parametrize("kind", NAME_KINDS)
@pytest.mark.parametrize("lang", LANGS)
def test_a_profile_without_a_name_in_one_language_is_refused(tmp_path, kind, lang):
    names = next(line for line in NEW_PROFILE.splitlines() if line.startswith(f"    {kind}: "))
    kept = ", ".join(part for part in names.split("{")[1].rstrip("}").split(", ") if not part.startswith(lang))
    text = with_profile(NEW_PROFILE.replace(names, f"    {kind}: {{{kept}}}"))
    path = write(tmp_path, text)
    error = refused(path)
    assert_names(error, path, line_of(text, f"    {kind}: {{{kept}}}"), None, "profile 'profilo_di_prova'")
    assert f"'{kind}' is missing the '{lang}' translation" in str(error)


def test_a_profile_without_its_advice_in_every_language_is_refused(tmp_path):
    text = with_profile()
    path = write(tmp_path, text)  # the bundled templates have no advice for it
    error = refused(path)
    advice = ROOT / "templates" / LANGS[0] / "advice" / "profilo_di_prova.html.j2"
    assert_names(error, path, line_of(text, "- id: profilo_di_prova"), None, "profile 'profilo_di_prova'", str(advice))
    templates = templates_with_advice(tmp_path)
    (templates / LANGS[-1] / "advice" / "profilo_di_prova.html.j2").unlink()
    with pytest.raises(FlowError, match=f"{LANGS[-1]}/advice/profilo_di_prova.html.j2"):
        load_flow(path, load_languages(templates))


def test_a_profile_whose_guide_does_not_exist_is_refused(tmp_path):
    text = with_profile(NEW_PROFILE.replace("guide: prevention", "guide: nowhere"))
    path = write(tmp_path, text)
    with pytest.raises(FlowError) as caught:
        load_flow(path, load_languages(templates_with_advice(tmp_path)))
    where = line_of(text, "- id: profilo_di_prova")
    assert_names(caught.value, path, where, None, "its guide", "guides/nowhere.html.j2")


@pytest.mark.parametrize(
    "change,problem",
    [
        (("role: problem", "role: nuisance"), "'role' must be one of problem, good_client"),
        (("role: problem", "role: good_client"), "exactly one good_client"),
        (("guide: prevention", "guide: prevention\n    colour: red"), "unknown keys colour"),
        (("guide: prevention", "guide: prevention\n    keep: maybe"), "'keep' must be true or false"),
        (("id: profilo_di_prova", "id: gratis"), "duplicate profile id 'gratis'"),
    ],
    ids=["role", "two good clients", "unknown key", "keep", "duplicate"],
)
def test_a_broken_profile_declaration_is_refused(tmp_path, change, problem):
    text = with_profile(NEW_PROFILE.replace(*change)).replace("{profilo_di_prova: 6}", "{gratis: 6}")
    path = write(tmp_path, text)
    with pytest.raises(FlowError, match=problem) as caught:
        load_flow(path, load_languages(templates_with_advice(tmp_path)))
    assert caught.value.path == str(path) and caught.value.line is not None


def test_a_flow_without_profiles_is_refused(tmp_path):
    text = GOOD.replace(SMALL_PROFILES, "")
    path = write(tmp_path, text)
    assert_names(refused(path), path, 1, None, "missing 'profiles'")


# -- the neutral answer of a question and the pieces of a question ----------------------------------


def test_a_neutral_answer_is_kept_in_the_shape_of_an_answer(tmp_path):
    text = GOOD.replace("    next: end\n", "    neutral: lei\n    next: end\n")
    assert load_flow(write(tmp_path, text)).questions["who"].neutral == "lei"
    multi = text.replace("kind: single", "kind: multi").replace("neutral: lei", "neutral: [tu, lei]")
    assert load_flow(write(tmp_path, multi, "multi.yaml")).questions["who"].neutral == ("tu", "lei")
    assert load_flow(write(tmp_path, GOOD, "none.yaml")).questions["who"].neutral is None


@pytest.mark.parametrize(
    ("kind", "neutral", "problem"),
    [
        ("single", "maybe", "'neutral' names unknown option 'maybe'"),
        ("single", "[tu]", "'neutral' must be one option id"),
        ("multi", "tu", "'neutral' must be a list of option ids"),
        ("multi", "[tu, maybe]", "'neutral' names unknown option 'maybe'"),
        ("multi", "[tu, lei]", "'neutral' picks an exclusive option together with others"),
    ],
)
def test_a_neutral_answer_the_question_would_refuse_is_refused(tmp_path, kind, neutral, problem):
    exclusive = "        exclusive: true\n" if kind == "multi" else ""
    text = (
        GOOD.replace("kind: single", f"kind: {kind}")
        .replace("        label: {it: Del Lei, en: Formal}\n", "        label: {it: Del Lei, en: Formal}\n" + exclusive)
        .replace("    next: end\n", f"    neutral: {neutral}\n    next: end\n")
    )
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: who"), "who", problem)


def test_only_a_choice_question_has_a_neutral_answer(tmp_path):
    text = GOOD.replace("    next: price\n", "    neutral: Studio Neri\n    next: price\n")
    path = write(tmp_path, text)
    assert_names(refused(path), path, line_of(text, "- id: sender"), "sender", "a 'text' question takes no 'neutral'")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("piece", ["short", "hint"])
def test_a_short_label_or_hint_missing_a_language_is_refused(tmp_path, piece, lang):
    """The question text and option labels have their own tests above; the other texts of a question too."""
    other = next(code for code in LANGS if code != lang)
    text = GOOD.replace("    text: {it: Firma?", f"    {piece}: {{{other}: Qualcosa}}\n    text: {{it: Firma?")
    path = write(tmp_path, text)
    assert_names(
        refused(path),
        path,
        line_of(text, f"{piece}: {{{other}: Qualcosa}}"),
        "sender",
        f"'{piece}' is missing the '{lang}' translation",
    )
