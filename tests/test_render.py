"""The renderer: every template in both languages, every variant and form, Telegram-safe HTML."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError

from bot.classifier import PROBLEM_PROFILES, Assessment, Reason, classify
from bot.engine import Progress
from bot.flow import PROFILES, load_flow
from bot.render import (
    FORMS,
    TELEGRAM_LIMIT,
    TELEGRAM_TAGS,
    VARIANTS,
    Renderer,
    ScriptRef,
    format_money,
    html_problems,
    split_message,
    to_plain,
)

ROOT = Path(__file__).resolve().parents[1]
FLOW = load_flow(ROOT / "flows" / "cliente_difficile.yaml")
RENDERER = Renderer()
LANGS = ("it", "en")
GUIDES = ("prevention", "vip_audit", "relationship_basics")
HOSTILE = '<b>x</b> & "y"'
SCRIPT_FILE = re.compile(r"^(\d+)_([a-z0-9_]+)\.html\.j2$")

PERSONAL = {"alias": "Rossi", "sender": "Studio Bianchi", "service": "consulenza fiscale", "price": 1200.0, "form": "tu"}
ANONYMOUS = {"alias": None, "sender": None, "service": None, "price": None, "form": "tu"}
HOSTILE_ANSWERS = {"alias": HOSTILE, "sender": "<i>Me</i> & co", "service": "<script>x</script>", "price": 99.5, "form": "lei"}
ERROR_KEYS = (
    "not_an_option", "pick_at_least_one", "exclusive_option", "empty", "too_long", "too_short", "not_number",
    "not_integer", "not_money", "out_of_range", "cannot_skip", "nothing_to_undo", "not_answered",
    "nothing_to_review", "no_question",
)
ERROR_PARAMS = {"count": 4, "option": "Nessuno", "optional": True, "max": 60, "min": 0}


def catalogue(lang: str) -> dict[str, list[ScriptRef]]:
    """The scripts present for a language, read from the folders (the renderer reads only `it`)."""
    found: dict[str, list[ScriptRef]] = {}
    for profile in PROFILES:
        folder = RENDERER.directory / lang / "scripts" / profile
        refs = []
        for path in sorted(folder.glob("*.html.j2")) if folder.is_dir() else []:
            match = SCRIPT_FILE.match(path.name)
            assert match, f"{path} does not follow <n>_<id>.html.j2"
            refs.append(ScriptRef(profile, match.group(2), int(match.group(1))))
        found[profile] = sorted(refs, key=lambda r: r.order)
    return found


SCRIPT_CASES = [
    pytest.param(lang, ref, id=f"{lang}/{ref.profile}/{ref.order}_{ref.id}")
    for lang in LANGS
    for refs in catalogue(lang).values()
    for ref in refs
]


def assessment(main: str, **changes) -> Assessment:
    base = dict(
        scores={p: (8.0 if p == main else 1.0) for p in PROFILES},
        main=main,
        secondary=None,
        confidence="medium",
        reasons=(Reason("payment", "free", 4.0), Reason("balance", "drains", 1.0)),
        own_error=False,
        first_time=False,
        recurring=False,
        thin=False,
        good_client=main == "mvc",
    )
    return Assessment(**{**base, **changes})


def assert_telegram_safe(html: str) -> None:
    assert html.strip(), "empty rendering"
    assert html_problems(html) == [], html_problems(html)
    assert len(html) <= TELEGRAM_LIMIT, f"{len(html)} characters"
    assert "Undefined" not in html, "a missing value leaked into the text"
    assert not re.search(r"\bNone\b(?! of these)", to_plain(html)), "a missing value printed as None"


# -- the script catalogue ------------------------------------------------------------------------


def test_every_problem_profile_has_at_least_three_scripts_with_the_same_ids_in_both_languages():
    it, en = catalogue("it"), catalogue("en")
    assert {p: [r.id for r in refs] for p, refs in it.items()} == {p: [r.id for r in refs] for p, refs in RENDERER.scripts.items()}
    for profile in PROBLEM_PROFILES:
        assert len(it[profile]) >= 3, f"{profile}: {len(it[profile])} scripts in it"
        assert [(r.order, r.id) for r in en[profile]] == [(r.order, r.id) for r in it[profile]], profile
    assert it["mvc"] == en["mvc"] == [], "a good client gets care guidelines, not exit scripts"


def test_the_destructive_profile_has_a_recovery_script():
    assert "recupero" in {r.id for r in RENDERER.scripts["distruttivo"]}


# -- every script, every variant, every form ---------------------------------------------------


@pytest.mark.parametrize(("lang", "ref"), SCRIPT_CASES)
def test_a_script_renders_in_every_variant_form_and_personalisation(lang, ref):
    bodies: dict[tuple, str] = {}
    for variant in VARIANTS:
        for form in FORMS:
            for label, answers in (("personal", PERSONAL), ("anonymous", ANONYMOUS)):
                for own_error in (False, True):
                    case = assessment(ref.profile, own_error=own_error)
                    title, body = RENDERER.script(lang, ref, answers, case, variant, form)
                    screen = RENDERER.script_screen(lang, ref, 1, answers, case, variant, form, "s:1:1")
                    assert title.strip() and "\n" not in title
                    assert_telegram_safe(body)
                    assert_telegram_safe(screen.text)
                    assert to_plain(body) in to_plain(screen.text)
                    bodies[(variant, form, label, own_error)] = body
                    if label == "personal":
                        assert "Studio Bianchi" in body, f"{variant}/{form}: the signature is missing"
    for form in FORMS:
        softer, firmer, shorter = (bodies[(v, form, "personal", False)] for v in VARIANTS)
        assert len({softer, firmer, shorter}) == 3, "the three variants are different texts"
        assert len(shorter) < min(len(softer), len(firmer)), "the shorter variant is the shortest"
    assert bodies[("softer", "tu", "personal", False)] != bodies[("softer", "tu", "anonymous", False)]
    if lang == "it":
        assert bodies[("softer", "tu", "personal", False)] != bodies[("softer", "lei", "personal", False)], "tu and Lei differ"


@pytest.mark.parametrize(("lang", "ref"), SCRIPT_CASES)
def test_a_script_escapes_what_the_user_typed(lang, ref):
    a = assessment(ref.profile)
    for variant in VARIANTS:
        title, body = RENDERER.script(lang, ref, HOSTILE_ANSWERS, a, variant, "lei")
        assert html_problems(body) == []
        assert "<b>x</b>" not in body and "<script>" not in body and "<i>Me</i>" not in body
        if "&lt;b&gt;x" in body:
            assert HOSTILE in to_plain(body), "escaped in the HTML, readable as plain text"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", PROBLEM_PROFILES)
def test_the_scripts_of_every_profile_use_the_client_name(lang, profile):
    refs = catalogue(lang)[profile]
    assert any(
        "Rossi" in RENDERER.script(lang, ref, PERSONAL, assessment(profile), variant, form)[1]
        for ref in refs
        for variant in VARIANTS
        for form in FORMS
    )


def test_user_text_appears_escaped_in_the_scripts():
    hits = 0
    for lang in LANGS:
        for refs in catalogue(lang).values():
            for ref in refs:
                _, body = RENDERER.script(lang, ref, HOSTILE_ANSWERS, assessment(ref.profile), "softer", "tu")
                hits += "&lt;b&gt;x&lt;/b&gt; &amp; " in body
    assert hits > 0


@pytest.mark.parametrize(("lang", "price"), [("it", "1.200,00 €"), ("en", "€1,200.00")])
def test_the_price_appears_formatted_for_the_language(lang, price):
    rendered = [
        RENDERER.script(lang, ref, PERSONAL, assessment(ref.profile), variant, "tu")[1]
        for refs in catalogue(lang).values()
        for ref in refs
        for variant in VARIANTS
    ]
    with_price = [body for body in rendered if price in body]
    assert with_price, "no script shows the normal price"
    other = "€1,200.00" if lang == "it" else "1.200,00 €"
    assert not any(other in body for body in rendered)
    assert not any("1200.0" in body for body in rendered), "a raw number leaked"


# -- strict undefined, escaping, plain text --------------------------------------------------------


def test_an_undefined_variable_fails_instead_of_printing_nothing():
    assert RENDERER.env.undefined is StrictUndefined
    with pytest.raises(UndefinedError):
        RENDERER.env.from_string("Ciao {{ nobody }}").render()
    ref = RENDERER.scripts["gratis"][0]
    context = RENDERER.script_context("it", PERSONAL, assessment("gratis"))
    del context["client"]
    with pytest.raises(UndefinedError):
        RENDERER.template(f"it/scripts/gratis/{ref.order}_{ref.id}.html.j2").render(**context, variant="softer")


def test_autoescape_is_on():
    assert RENDERER.env.from_string("{{ v }}").render(v=HOSTILE) == "&lt;b&gt;x&lt;/b&gt; &amp; &#34;y&#34;"


def test_plain_text_has_no_tags_and_decodes_entities():
    html = "<b>Ciao</b> <i>Rossi</i> &amp; <a href=\"https://x.example\">soci</a> &lt;3"
    assert to_plain(html) == "Ciao Rossi & soci <3"


@pytest.mark.parametrize("lang", LANGS)
def test_console_text_of_every_result_screen_has_no_tags(lang, flow):
    a = classify(flow, {"payment": "free", "free_attitude": "demands", "balance": "drains", "alias": "Rossi"})
    answers = {**PERSONAL, "payment": "free", "free_attitude": "demands", "balance": "drains"}
    screens = [
        RENDERER.result(lang, flow.questions, answers, a),
        RENDERER.advice(lang, answers, a),
        RENDERER.guide(lang, "prevention", a, "Rossi"),
        *(RENDERER.script_screen(lang, r, i, answers, a, "softer", "tu", "s") for i, r in enumerate(RENDERER.scripts_for(a), 1)),
    ]
    tag = re.compile(r"</?(%s)\b" % "|".join(sorted(TELEGRAM_TAGS)))
    for screen in screens:
        assert not tag.search(screen.plain), screen.kind
        assert "&amp;" not in screen.plain and "&lt;" not in screen.plain


# -- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "it", "en"),
    [
        (1200, "1.200,00 €", "€1,200.00"),
        (1200.5, "1.200,50 €", "€1,200.50"),
        (Decimal("350.5"), "350,50 €", "€350.50"),
        (0, "0,00 €", "€0.00"),
        (0.99, "0,99 €", "€0.99"),
        (1234567.891, "1.234.567,89 €", "€1,234,567.89"),
    ],
)
def test_format_money(value, it, en):
    assert format_money(value, "it") == it
    assert format_money(value, "en") == en


def test_format_money_of_nothing_is_nothing():
    assert format_money(None, "it") is None


# -- splitting -----------------------------------------------------------------------------------


def test_a_short_message_is_not_split():
    assert split_message("uno\n\ndue") == ["uno\n\ndue"]


def test_split_message_cuts_at_paragraph_boundaries():
    paragraphs = [f"Paragrafo {i}: " + "parola " * (40 + i % 70) for i in range(120)]
    paragraphs = [p.strip() for p in paragraphs]
    text = "\n\n".join(paragraphs)
    assert len(text) > 3 * TELEGRAM_LIMIT
    parts = split_message(text)
    assert len(parts) >= 4
    assert all(0 < len(part) <= TELEGRAM_LIMIT for part in parts)
    assert "\n\n".join(parts) == text, "nothing lost, nothing added"
    for part in parts:
        assert all(p in paragraphs for p in part.split("\n\n")), "every part is made of whole paragraphs"


def test_split_message_cuts_a_huge_paragraph_at_a_space():
    words = ["abcdefghi"] * 1500  # one paragraph of ~15 000 characters
    text = "intro\n\n" + " ".join(words) + "\n\nfine"
    parts = split_message(text)
    assert all(len(part) <= TELEGRAM_LIMIT for part in parts)
    assert parts[0] == "intro", "the paragraph before the huge one stays whole"
    assert parts[-1].endswith("fine")
    assert all(not part.startswith(" ") and not part.endswith(" ") for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split()), "only whitespace changes"
    for part in parts:
        assert all(word in ("intro", "fine", "abcdefghi") for word in part.split()), "no word cut in two"


def test_split_message_respects_a_smaller_limit():
    text = "\n\n".join(["x" * 30] * 10)
    parts = split_message(text, limit=70)
    assert all(len(p) <= 70 for p in parts) and len(parts) == 5


# -- the dialogue screens: every question of the flow -----------------------------------------------


QUESTION_CASES = [pytest.param(lang, qid, id=f"{lang}/{qid}") for lang in LANGS for qid in FLOW.questions]


@pytest.mark.parametrize(("lang", "qid"), QUESTION_CASES)
def test_every_question_renders(lang, qid):
    q = FLOW.questions[qid]
    screen = RENDERER.question(lang, q, Progress(2, 12))
    assert_telegram_safe(screen.text)
    assert q.text[lang] in screen.plain
    assert ("2 di 12" if lang == "it" else "2 of 12") in screen.plain
    if q.hint:
        assert q.hint[lang] in screen.plain
    actions = [b.action for row in screen.buttons for b in row]
    labels = [b.label for row in screen.buttons for b in row]
    if q.kind == "single":
        assert [a for a in actions if a.startswith("opt:")] == [f"opt:{o.id}" for o in q.options]
        assert [o.label[lang] for o in q.options] == [label for label, a in zip(labels, actions) if a.startswith("opt:")]
    elif q.kind == "multi":
        assert [a for a in actions if a.startswith("tog:")] == [f"tog:{o.id}" for o in q.options]
        assert "done" in actions
    else:
        assert not any(a.startswith(("opt:", "tog:")) for a in actions)
    assert ("skip" in actions) == q.optional
    assert "back" in actions and "cancel" in actions


@pytest.mark.parametrize(("lang", "qid"), QUESTION_CASES)
def test_every_question_renders_with_an_error_a_current_answer_and_picks(lang, qid):
    q = FLOW.questions[qid]
    current = {"single": q.options[0].id if q.options else None, "multi": [q.options[0].id] if q.options else None,
               "text": HOSTILE, "number": 3, "money": 1200.0}[q.kind]
    error = RENDERER.ui(lang, "error", "not_an_option", {"count": 3})
    screen = RENDERER.question(lang, q, Progress(1, 16), error=error, current=current,
                               picked=[q.options[0].id] if q.kind == "multi" else None, can_back=False)
    assert_telegram_safe(screen.text)
    assert to_plain(error) in screen.plain
    assert "back" not in [b.action for row in screen.buttons for b in row]
    if q.kind == "text":
        assert "<b>x</b>" not in screen.text and HOSTILE in screen.plain
    if q.kind == "money":
        assert ("1.200,00 €" if lang == "it" else "€1,200.00") in screen.plain
    if q.kind == "multi":
        assert any(b.label.startswith("✅") for row in screen.buttons for b in row)


FULL_ANSWERS = {
    "alias": HOSTILE, "payment": "free", "free_attitude": "demands", "balance": "drains",
    "behaviours": ["calls_back", "threats"], "conflict": "threatened", "settle": "no_will", "origin": "our_error",
    "prestige": "very", "vip_signals": ["special_attentions", "lawyers"], "feelings": ["nights", "afraid"],
    "occurrences": 1, "service": None, "price": 1200.0, "sender": "Studio & Figli", "form": "lei",
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("complete", [True, False])
def test_the_review_lists_every_answer(lang, complete):
    answered = [(FLOW.questions[qid], value) for qid, value in FULL_ANSWERS.items()]
    screen = RENDERER.review(lang, answered, complete)
    assert_telegram_safe(screen.text)
    for q, _ in answered:
        assert q.short[lang] in screen.plain
    assert "<b>x</b>" not in screen.text and HOSTILE in screen.plain
    assert RENDERER.ui(lang, "skipped") in screen.plain, "a skipped answer says so"
    assert ("1.200,00 €" if lang == "it" else "€1,200.00") in screen.plain
    actions = [b.action for row in screen.buttons for b in row]
    assert [a for a in actions if a.startswith("chg:")] == [f"chg:{qid}" for qid in FULL_ANSWERS]
    assert ("finish" in actions) == complete and ("resume" in actions) != complete


RESULT_CASES = [
    pytest.param(lang, main, flags, id=f"{lang}/{main}/{'+'.join(flags) or 'plain'}")
    for lang in LANGS
    for main in PROFILES
    for flags in ((), ("own_error",), ("first_time",), ("thin",), ("recurring", "secondary"))
]


@pytest.mark.parametrize(("lang", "main", "flags"), RESULT_CASES)
def test_the_result_advice_and_guides_render_for_every_profile(lang, main, flags):
    secondary = next(p for p in PROBLEM_PROFILES if p != main) if "secondary" in flags else None
    a = assessment(
        main,
        own_error="own_error" in flags,
        first_time="first_time" in flags,
        thin="thin" in flags,
        recurring="recurring" in flags,
        secondary=secondary,
        good_client=main == "mvc" and not flags,
        confidence="low" if "thin" in flags else "high",
    )
    answers = {**FULL_ANSWERS, "alias": HOSTILE}
    result = RENDERER.result(lang, FLOW.questions, answers, a)
    assert_telegram_safe(result.text)
    assert "<b>x</b>" not in result.text and HOSTILE in result.plain
    name = RENDERER.ui(lang, "profile_name", main)
    if a.good_client:
        assert "MVC" in result.plain
    else:
        assert name in result.plain
    if secondary and not a.good_client:
        assert RENDERER.ui(lang, "profile_name", secondary) in result.plain
    assert (("recupero" if lang == "it" else "Recovery") in result.plain) == a.own_error
    caveat = "Potrebbe essere solo una giornata storta" if lang == "it" else "It may just be a bad day"
    assert (caveat in result.plain) == a.bad_day_caveat
    assert RENDERER.answer_text(FLOW.questions["payment"], "free", lang) in result.plain, "the reasons are listed"

    for form in FORMS:
        advice = RENDERER.advice(lang, {**answers, "form": form}, a)
        assert_telegram_safe(advice.text)
        assert "<b>x</b>" not in advice.text
        last = advice.plain.strip().splitlines()[-1]
        assert last.startswith(("Fonte", "Fonti") if lang == "it" else ("Source", "Sources")), last
    for guide in GUIDES:
        for client in (None, HOSTILE):
            screen = RENDERER.guide(lang, guide, a, client)
            assert_telegram_safe(screen.text)
            assert "<b>x</b>" not in screen.text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("guide", GUIDES)
def test_a_guide_renders_without_an_assessment(lang, guide):
    assert_telegram_safe(RENDERER.guide(lang, guide).text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_movement_screen_renders(lang):
    before, after = assessment("gratis"), assessment("mvc")
    previous = {"assessment": before.to_dict(), "case_no": 1, "created": "2026-01-02T10:00:00+00:00"}
    screen = RENDERER.movement(lang, previous, 2, after)
    assert_telegram_safe(screen.text)
    assert "2026-01-02" in screen.plain


# -- interface texts -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", ERROR_KEYS)
def test_every_refusal_has_its_own_message(lang, key):
    fallback = RENDERER.ui(lang, "error", "no_such_key", {})
    message = RENDERER.ui(lang, "error", key, ERROR_PARAMS)
    assert message and message != fallback
    assert html_problems(message) == []


@pytest.mark.parametrize("lang", LANGS)
def test_profile_names_exist_for_every_profile(lang):
    for profile in PROFILES:
        assert RENDERER.ui(lang, "profile_name", profile)
        assert RENDERER.ui(lang, "profile_short", profile)
