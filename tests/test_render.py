"""The renderer: every template in both languages, every variant and form, Telegram-safe HTML."""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal

import pytest
from jinja2 import StrictUndefined, UndefinedError

from bot import result as results
from bot.actions import FORMS, VARIANTS, MarkSent, ScriptVariant, Toggle
from bot.case import Case
from bot.classifier import Assessment, Reason, classify
from bot.engine import Progress
from bot.facts import message_facts
from bot.paths import templates_dir
from bot.questions import question_screen, review_screen
from bot.render import (
    TELEGRAM_LIMIT,
    TELEGRAM_TAGS,
    Renderer,
    format_money,
    html_problems,
    split_message,
    to_plain,
)
from bot.scripts import CATALOGUE

from helpers import FLOW

PROFILES, PROBLEM_PROFILES = FLOW.profiles.ids, FLOW.profiles.problems
RENDERER = Renderer()
LANGS = ("it", "en")
GUIDES = ("prevention", "vip_audit", "relationship_basics")
HOSTILE = '<b>x</b> & "y"'

# Answers that make every script of the catalogue fit, and a sender's profile.
PERSONAL = {
    "alias": "Rossi furbetto",
    "address": "Rossi",
    "who": "man_tu",
    "service": "la consulenza fiscale",
    "price": {"amount": 1200.0, "unit": "month"},
    "payment": "below_price",
    "owed": 850.0,
    "notice": "with_notice",
    "concession_offer": "uno sconto del 10%",
    "attention": "un aggiornamento scritto",
    "conflict": ["review_posted", "damages"],
    "behaviours": ["insults_staff", "exceptions"],
}
ANONYMOUS = {
    "alias": None,
    "address": None,
    "service": None,
    "price": None,
    "form": "tu",
    "concession_offer": "uno sconto del 10%",
    "attention": "un aggiornamento scritto",
}
SENDER = {"name": "Giulia Bianchi", "business": "Studio Bianchi", "voice": "io"}
HOSTILE_ANSWERS = {
    **PERSONAL,
    "alias": HOSTILE,
    "address": HOSTILE,
    "service": "<script>x</script>",
    "who": "man_lei",
    "concession_offer": "<i>Me</i> & co",
}
ERROR_KEYS = (
    "not_an_option",
    "pick_at_least_one",
    "exclusive_option",
    "empty",
    "too_long",
    "too_short",
    "not_number",
    "not_integer",
    "not_money",
    "out_of_range",
    "cannot_skip",
    "nothing_to_undo",
    "not_answered",
    "nothing_to_review",
    "no_question",
)
ERROR_PARAMS = {"count": 4, "option": "Nessuno", "optional": True, "max": 60, "min": 0}


SCRIPT_CASES = [pytest.param(lang, script, id=f"{lang}/{script.id}") for lang in LANGS for script in CATALOGUE]


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


@pytest.mark.parametrize("lang", LANGS)
def test_every_script_in_the_catalogue_has_one_template_per_language_and_no_stray_ones(lang):
    files = {p.name.removesuffix(".html.j2") for p in (RENDERER.directory / lang / "scripts").glob("*.html.j2")}
    assert files == {s.id for s in CATALOGUE}
    assert not [p for p in (RENDERER.directory / lang / "scripts").iterdir() if p.is_dir()], (
        "no per-profile folders left"
    )


# -- every script, every variant, every form ---------------------------------------------------


@pytest.mark.parametrize(("lang", "script"), SCRIPT_CASES)
def test_a_script_renders_in_every_variant_form_and_personalisation(lang, script):
    bodies: dict[tuple, str] = {}
    for variant in VARIANTS:
        for form in FORMS:
            for label, answers, sender in (("personal", PERSONAL, SENDER), ("anonymous", ANONYMOUS, {})):
                case = assessment("gratis")
                title, note, body = results.script(RENDERER, lang, script, answers, case, variant, form, sender)
                screen = results.script_screen(RENDERER, lang, script, 1, 2, answers, case, variant, form, 7, sender)
                assert title.strip() and "\n" not in title
                assert_telegram_safe(body)
                assert_telegram_safe(screen.text)
                assert to_plain(body) in to_plain(screen.text)
                datas = [b.action.encode() for row in screen.buttons for b in row]
                # The versions and the other scripts, and "sent" (issue 22): every button is this case's.
                sent = [b.action for row in screen.buttons for b in row if isinstance(b.action, MarkSent)]
                assert sent == [MarkSent(7, script.id, variant, form)]
                assert all(isinstance(b.action, (ScriptVariant, MarkSent)) for row in screen.buttons for b in row)
                assert all(len(data.encode()) <= 64 and data.startswith(("s:7:", "p:7:")) for data in datas)
                bodies[(variant, form, label)] = body
                if label == "personal":
                    assert "Giulia Bianchi" in body and "Studio Bianchi" in body, f"{variant}/{form}: no signature"
                assert "Rossi furbetto" not in body, "the private label never reaches a message"
    for form in FORMS:
        softer, firmer, shorter = (bodies[(v, form, "personal")] for v in VARIANTS)
        assert len({softer, firmer, shorter}) == 3, "the three variants are different texts"
        assert len(shorter) < min(len(softer), len(firmer)), "the shorter variant is the shortest"
    assert bodies[("softer", "tu", "personal")] != bodies[("softer", "tu", "anonymous")]
    if lang == "it" and not script.formal:
        assert bodies[("softer", "tu", "personal")] != bodies[("softer", "lei", "personal")], "tu and Lei differ"


@pytest.mark.parametrize(("lang", "script"), SCRIPT_CASES)
def test_a_script_escapes_what_the_user_typed(lang, script):
    a = assessment("gratis")
    for variant in VARIANTS:
        _, _, body = results.script(
            RENDERER, lang, script, HOSTILE_ANSWERS, a, variant, "lei", {"name": "<i>Me</i> & co"}
        )
        assert html_problems(body) == []
        assert "<b>x</b>" not in body and "<script>" not in body and "<i>Me</i>" not in body


def test_user_text_appears_escaped_in_the_scripts():
    bodies = [
        results.script(RENDERER, lang, s, HOSTILE_ANSWERS, assessment("gratis"), "softer", "lei")[2]
        for lang in LANGS
        for s in CATALOGUE
    ]
    assert any("&lt;b&gt;x&lt;/b&gt; &amp; " in body for body in bodies)


@pytest.mark.parametrize(("lang", "price"), [("it", "1.200,00 € al mese"), ("en", "€1,200.00 a month")])
def test_the_price_appears_formatted_for_the_language_with_its_unit(lang, price):
    rendered = [
        results.script(RENDERER, lang, s, PERSONAL, assessment("gratis"), variant, "tu", SENDER)[2]
        for s in CATALOGUE
        for variant in VARIANTS
    ]
    assert any(price in body for body in rendered), "no script shows the normal price"
    other = "€1,200.00" if lang == "it" else "1.200,00 €"
    assert not any(other in body for body in rendered)
    assert not any("1200.0" in body for body in rendered), "a raw number leaked"
    with_vat = results.script(
        RENDERER, lang, "valore", PERSONAL, assessment("gratis"), "softer", "tu", {"vat": "plus"}
    )[2]
    assert price + (" + IVA" if lang == "it" else " plus VAT") in with_vat


# -- strict undefined, escaping, plain text --------------------------------------------------------


def test_an_undefined_variable_fails_instead_of_printing_nothing():
    assert RENDERER.env.undefined is StrictUndefined
    with pytest.raises(UndefinedError):
        RENDERER.env.from_string("Ciao {{ nobody }}").render()
    context = message_facts(RENDERER.languages["it"], PERSONAL, assessment("gratis"))
    del context["c"]
    with pytest.raises(UndefinedError):
        RENDERER.template("it/scripts/valore.html.j2").render(**context, variant="softer")


def test_autoescape_is_on():
    assert RENDERER.env.from_string("{{ v }}").render(v=HOSTILE) == "&lt;b&gt;x&lt;/b&gt; &amp; &#34;y&#34;"


def test_plain_text_has_no_tags_and_decodes_entities():
    html = '<b>Ciao</b> <i>Rossi</i> &amp; <a href="https://x.example">soci</a> &lt;3'
    assert to_plain(html) == "Ciao Rossi & soci <3"


@pytest.mark.parametrize("lang", LANGS)
def test_console_text_of_every_result_screen_has_no_tags(lang, flow):
    a = classify(flow, {"payment": "free", "free_attitude": "demands", "alias": "Rossi"})
    answers = {**PERSONAL, "payment": "free", "free_attitude": "demands"}
    screens = [
        results.profile_card(RENDERER, lang, flow.questions, answers, a),
        results.advice(RENDERER, lang, answers, a),
        results.guide(RENDERER, lang, "prevention", a, "Rossi"),
        *(
            results.script_screen(RENDERER, lang, r, i, 9, answers, a, "softer", "tu", 1)
            for i, r in enumerate(results.scripts_for(a, answers), 1)
        ),
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
    screen = question_screen(RENDERER, lang, q, Progress(2, 12))
    assert_telegram_safe(screen.text)
    assert q.text[lang] in screen.plain
    assert ("2 di 12" if lang == "it" else "2 of 12") in screen.plain
    if q.hint:
        assert q.hint[lang] in screen.plain
    actions = [b.action.encode() for row in screen.buttons for b in row]
    labels = [b.label for row in screen.buttons for b in row]
    if q.kind == "single":
        assert [a for a in actions if a.startswith("opt:")] == [f"opt:{o.id}" for o in q.options]
        assert [o.label[lang] for o in q.options] == [
            label for label, a in zip(labels, actions, strict=True) if a.startswith("opt:")
        ]
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
    current = {
        "single": q.options[0].id if q.options else None,
        "multi": [q.options[0].id] if q.options else None,
        "text": HOSTILE,
        "number": 3,
        "money": 1200.0,
    }[q.kind]
    error = RENDERER.ui(lang, "error", "not_an_option", {"count": 3})
    screen = question_screen(
        RENDERER,
        lang,
        q,
        Progress(1, 16),
        error=error,
        current=current,
        picked=[q.options[0].id] if q.kind == "multi" else None,
        can_back=False,
    )
    assert_telegram_safe(screen.text)
    assert to_plain(error) in screen.plain
    assert "back" not in [b.action.encode() for row in screen.buttons for b in row]
    if q.kind == "text":
        assert "<b>x</b>" not in screen.text and HOSTILE in screen.plain
    if q.kind == "money":
        assert ("1.200,00 €" if lang == "it" else "€1,200.00") in screen.plain
    if q.kind == "multi":
        ticks = [b.checked for row in screen.buttons for b in row if isinstance(b.action, Toggle)]
        assert ticks == [True] + [False] * (len(q.options) - 1), "the picked option is ticked, the others not"
        assert not any(b.label.startswith(("✅", "▫️")) for row in screen.buttons for b in row), (
            "ticks are the front end's"
        )


FULL_ANSWERS = {
    "alias": HOSTILE,
    "relationship": "mandate",
    "payment": "free",
    "free_attitude": "demands",
    "price": {"amount": 1200.0, "unit": "hour"},
    "behaviours": ["calls_back", "threats"],
    "conflict": ["review_threatened"],
    "settle": "no_will",
    "origin": "our_error",
    "pattern": "first",
    "prestige": "very",
    "vip_signals": ["special_attentions", "influential_lawyers"],
    "attention": "una chiamata a fine mese",
    "feelings": ["nights", "afraid"],
    "notice": "with_notice",
    "notice_period": {"amount": 3, "unit": "month"},
    "service": None,
    "address": "Studio & Figli",
    "who": "company_lei",
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("complete", [True, False])
def test_the_review_lists_every_answer(lang, complete):
    answered = [(FLOW.questions[qid], value) for qid, value in FULL_ANSWERS.items()]
    screen = review_screen(RENDERER, lang, answered, complete)
    assert_telegram_safe(screen.text)
    for q, _ in answered:
        assert q.short[lang] in screen.plain
    assert "<b>x</b>" not in screen.text and HOSTILE in screen.plain
    assert RENDERER.ui(lang, "skipped") in screen.plain, "a skipped answer says so"
    assert ("1.200,00 € all'ora" if lang == "it" else "€1,200.00 an hour") in screen.plain, "the price with its unit"
    assert ("→ 3 mesi\n" if lang == "it" else "→ 3 months\n") in screen.plain, "a number with its unit"
    actions = [b.action.encode() for row in screen.buttons for b in row]
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
    result = results.profile_card(RENDERER, lang, FLOW.questions, answers, a)
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
        advice = results.advice(RENDERER, lang, {**answers, "form": form}, a)
        assert_telegram_safe(advice.text)
        assert "<b>x</b>" not in advice.text
        last = advice.plain.strip().splitlines()[-1]
        assert last.startswith(("Fonte", "Fonti") if lang == "it" else ("Source", "Sources")), last
    for guide in GUIDES:
        for client in (None, HOSTILE):
            screen = results.guide(RENDERER, lang, guide, a, client)
            assert_telegram_safe(screen.text)
            assert "<b>x</b>" not in screen.text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("guide", GUIDES)
def test_a_guide_renders_without_an_assessment(lang, guide):
    assert_telegram_safe(results.guide(RENDERER, lang, guide).text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_movement_screen_renders(lang):
    before, after = assessment("gratis"), assessment("mvc")
    saved = "2026-01-02T10:00:00+00:00"
    row = {"id": 1, "user_id": 1, "case_no": 1, "lang": lang, "status": "aperto", "created": saved, "updated": saved}
    previous = Case.from_row({**row, "answers": "{}", "assessment": json.dumps(before.to_dict())})
    screen = results.movement(RENDERER, lang, previous, 2, after)
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


def test_a_message_of_the_router_without_its_template_is_refused_at_load(tmp_path):
    """A message the router can offer but no language can write is refused when the renderer loads,
    not when a user first reaches it (removing it from both languages keeps the languages in step)."""
    copy = tmp_path / "templates"
    shutil.copytree(templates_dir(), copy)
    missing = CATALOGUE[-1].id
    for lang in LANGS:
        (copy / lang / "scripts" / f"{missing}.html.j2").unlink()
    with pytest.raises(FileNotFoundError, match=rf"scripts/{missing}\.html\.j2: missing"):
        Renderer(copy)
