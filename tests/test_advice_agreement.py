"""Agreement in the advice (issue 18, point 5): the client's gender, a title's article, English names.

Every advice template is rendered for a woman, a man and a company, addressed as tu and as Lei,
in Italian and English, with and without a private label (plain or with a title), and with the
conditions that open its optional paragraphs. Then:
- a woman is never spoken of in a man's forms (and the other way round), a company never with a
  singular pronoun where the advice speaks of "them";
- a title never follows a bare preposition («di signor Rossi», «a ing. Bellini»): `with_article`
  puts the article in («del signor Rossi», «all'ing. Bellini»);
- English output names the profiles in English (VIP, LVC and MVC are English already).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

import pytest
from markupsafe import Markup

from bot import result as results
from bot.articles import article_of, with_article
from bot.classifier import Assessment, Reason
from bot.render import Renderer

from helpers import FLOW

PROFILES = FLOW.profiles.ids
RENDERER = Renderer()
LANGS = ("it", "en")
WHO = ("woman_tu", "woman_lei", "man_tu", "man_lei", "company_tu", "company_lei")
ALIASES = (
    None,
    "Marco",
    "signor Rinaldi",
    "signora Maria Grazia",
    "ing. Bellini",
    "avv. Martinelli",
    "dott.ssa Ferri",
    "Sig. Conti",
    "prof. Neri",
    "Studio Rossi",
)
# (own_error, shared_error, first_time, secondary, second_below): every optional paragraph opens somewhere.
CONDITIONS = (
    (False, False, False, None, False),
    (True, False, True, "vip", False),
    (False, True, False, "distruttivo", True),
    (True, False, False, "lvc", False),
    (False, False, True, "gratis", True),
    (False, False, False, "mvc", False),
    (False, False, False, "incontentabile", False),
)

# A title after a bare preposition: «di signor Rossi», «a ing. Bellini», «con avv. Neri».
BARE_TITLE = re.compile(
    r"\b(di|a|su|con|per|da|in) (signor|signora|sig\.|avv\.|ing\.|dott\.|dott\.ssa|prof\.)", re.IGNORECASE
)
# A man's forms, spoken of the client: wrong for a woman.
MASCULINE = re.compile(
    r"\b(lascialo|lasciarlo|usalo|guidalo|seguirlo|indirizzalo|trattalo|digli|gli riservi|lo preoccupa|"
    r"lo incoraggi|lo infiammi|furbo|offeso|impegnativo|pronto a|il cliente giusto|un cliente così|"
    r"se ne va da solo|questo cliente|un cliente VIP|riservi solo a lui|per lui)\b",
    re.IGNORECASE,
)
# A woman's forms: wrong for a man or a company.
FEMININE = re.compile(
    r"\b(lasciala|lasciarla|usala|guidala|seguirla|indirizzala|trattala|dille|le riservi|la preoccupa|"
    r"la incoraggi|la infiammi|furba|offesa|impegnativa|pronta a|la cliente giusta|una cliente|"
    r"se ne va da sola|questa cliente|riservi solo a lei|per lei)\b",
    re.IGNORECASE,
)
# Where the advice speaks of a company as "them", a singular pronoun is wrong.
COMPANY_SINGULAR = re.compile(
    r"\b(lascialo andare|indirizzalo|guidalo|seguirlo|digli|lo preoccupa|riservi solo a lui|"
    r"se ne va da solo|si lamenta o fa)\b",
    re.IGNORECASE,
)

ITALIAN_PROFILE_NAMES = re.compile(r"\b(gratis|incontentabil\w*|distruttiv\w*)\b", re.IGNORECASE)
ENGLISH_PERSONAL = re.compile(r"\b(he|she|him|his|her|hers|himself|herself)\b", re.IGNORECASE)


def assessment(main: str, own_error: bool, shared_error: bool, first_time: bool, secondary: str | None) -> Assessment:
    return Assessment(
        scores={p: (8.0 if p == main else 5.0 if p == secondary else 1.0) for p in PROFILES},
        main=main,
        secondary=secondary if secondary != main else None,
        confidence="medium",
        reasons=(Reason("payment", "free", 4.0),),
        own_error=own_error,
        first_time=first_time,
        recurring=False,
        thin=False,
        good_client=main == "mvc",
        shared_error=shared_error,
    )


def every_advice(lang: str, who: str) -> list[tuple[str, str]]:
    """(what was rendered, plain text) of every advice for this client, over aliases and conditions."""
    rendered = []
    for profile, alias, conditions in itertools.product(PROFILES, ALIASES, CONDITIONS):
        own, shared, first, secondary, below = conditions
        a = assessment(profile, own, shared, first, secondary)
        answers = {"alias": alias, "who": who, "conflict": ["lawyer_letter"], "notice": "with_notice"}
        screen = results.advice(RENDERER, lang, answers, a, second_below=below)
        rendered.append((f"{lang}/{profile} {who} alias={alias!r} {conditions}", screen.plain))
    return rendered


def hit(pattern: re.Pattern[str], text: str) -> str | None:
    """The first match of `pattern` with some text around it, or None."""
    found = pattern.search(text)
    return text[max(0, found.start() - 40) : found.end() + 20] if found else None


@pytest.mark.parametrize("who", WHO)
def test_italian_advice_agrees_with_the_client(who: str) -> None:
    gender = who.partition("_")[0]
    for label, text in every_advice("it", who):
        if gender == "woman":
            assert not hit(MASCULINE, text), f"{label}: a man's form for a woman: {hit(MASCULINE, text)!r}"
        else:
            assert not hit(FEMININE, text), f"{label}: a woman's form: {hit(FEMININE, text)!r}"
        if gender == "company":
            assert not hit(COMPANY_SINGULAR, text), f"{label}: singular: {hit(COMPANY_SINGULAR, text)!r}"
        assert not hit(BARE_TITLE, text), f"{label}: a title without its article: {hit(BARE_TITLE, text)!r}"


@pytest.mark.parametrize("who", WHO)
def test_english_advice_names_the_profiles_in_english(who: str) -> None:
    for label, text in every_advice("en", who):
        assert not hit(ITALIAN_PROFILE_NAMES, text), f"{label}: Italian name: {hit(ITALIAN_PROFILE_NAMES, text)!r}"
        assert not hit(ENGLISH_PERSONAL, text), f"{label}: the client is 'they': {hit(ENGLISH_PERSONAL, text)!r}"


def test_the_titled_client_is_named_with_its_article_in_the_advice() -> None:
    a = assessment("distruttivo", False, False, False, None)
    text = results.advice(RENDERER, "it", {"alias": "signor Rinaldi", "who": "man_lei"}, a).plain
    assert "il malcontento del signor Rinaldi" in text
    a = assessment("incontentabile", False, False, False, None)
    assert (
        "scrivi all'ing. Bellini"
        in results.advice(RENDERER, "it", {"alias": "ing. Bellini", "who": "man_lei"}, a).plain
    )
    a = assessment("vip", False, False, False, None)
    assert (
        "con l'avv. Martinelli"
        in results.advice(RENDERER, "it", {"alias": "avv. Martinelli", "who": "woman_lei"}, a).plain
    )
    a = assessment("lvc", False, False, False, None)
    text = results.advice(RENDERER, "it", {"alias": "signora Maria Grazia", "who": "woman_tu"}, a).plain
    assert "dalla signora Maria Grazia" in text and "Lasciala andare" in text and "dille" in text


def test_a_company_is_spoken_of_in_the_plural() -> None:
    a = assessment("lvc", False, False, False, None)
    text = results.advice(RENDERER, "it", {"alias": "Studio Rossi", "who": "company_lei"}, a).plain
    assert "Lasciali andare" in text and "Indirizzali" in text and "dallo Studio Rossi" in text


@pytest.mark.parametrize("lang", LANGS)
def test_the_good_client_verdict_does_not_assume_a_gender(lang: str) -> None:
    a = assessment("mvc", False, False, False, None)
    for who in WHO:
        text = results.profile_card(RENDERER, lang, {}, {"who": who}, a).plain
        assert not re.search(r"\blasciarl[oa]\b", text), text


def test_english_profile_names_everywhere_the_user_reads_them() -> None:
    for profile in PROFILES:
        for macro in ("profile_name", "profile_short"):
            name = RENDERER.ui("en", macro, profile)
            assert not ITALIAN_PROFILE_NAMES.search(name), (macro, name)
        assert not ITALIAN_PROFILE_NAMES.search(RENDERER.ui("en", "button_second", profile))
    assert RENDERER.ui("en", "profile_short", "gratis") == "Free-rider"
    assert RENDERER.ui("en", "profile_short", "vip") == "VIP"
    # Italian keeps the Italian names (they are the interface's words).
    assert RENDERER.ui("it", "profile_short", "gratis") == "Gratis"


def test_the_chart_names_the_profiles_in_english(tmp_path) -> None:
    from bot.casebook.stats import chart_data

    class Texts:
        renderer = RENDERER
        flow = FLOW

        @staticmethod
        def local(moment):
            return moment

        @staticmethod
        def label(lang, name, *args):
            return name

    import datetime as dt

    rows = [(dt.datetime(2026, 5, 1, 10), "incontentabile", "aperto"), (dt.datetime(2026, 6, 1), "gratis", "risolto")]
    _, _, panels, _ = chart_data(Texts(), "en", rows)  # type: ignore[arg-type]
    labels = [series.label for series in panels[0].series]
    assert "Never satisfied" in labels and "Free-rider" in labels
    assert not any(ITALIAN_PROFILE_NAMES.search(label) for label in labels)


# -- with_article ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address,preposition,gender,expected",
    [
        ("signor Rossi", "di", None, "del signor Rossi"),
        ("signor Rinaldi", "", None, "il signor Rinaldi"),
        ("signora Maria Grazia", "su", "woman", "sulla signora Maria Grazia"),
        ("Sig.ra Bassi", "a", None, "alla Sig.ra Bassi"),
        ("sig. Conti", "con", None, "con il sig. Conti"),
        ("avv. Neri", "di", None, "dell'avv. Neri"),
        ("avv. Martinelli", "con", "woman", "con l'avv. Martinelli"),
        ("ing. Bellini", "a", None, "all'ing. Bellini"),
        ("arch. Sala", "per", None, "per l'arch. Sala"),
        ("dott. Bianchi", "da", None, "dal dott. Bianchi"),
        ("dott. Bianchi", "da", "woman", "dalla dott. Bianchi"),
        ("dott.ssa Ferri", "in", None, "nella dott.ssa Ferri"),
        ("prof. Neri", "di", "woman", "della prof. Neri"),
        ("la signora Rossi", "di", None, "della signora Rossi"),
        ("l'avv. Neri", "a", None, "all'avv. Neri"),
        ("Studio Rossi", "a", "company", "allo Studio Rossi"),
        ("Hotel Miramare", "di", "company", "dell'Hotel Miramare"),
        ("Marco", "a", None, "a Marco"),
        ("Anna", "a", "woman", "ad Anna"),
        ("Marco", "di", None, "di Marco"),
        ("Marco", "", None, "Marco"),
        ("Rossi Costruzioni srl", "per", "company", "per Rossi Costruzioni srl"),
        ("La Bottega srl", "di", "company", "di La Bottega srl"),  # a capitalised article is the name's
        ("signor", "di", None, "di signor"),  # a bare word, not a title before a name
        ("  ing. Bellini ", "A", None, "all'ing. Bellini"),
    ],
)
def test_with_article(address: str, preposition: str, gender: str | None, expected: str) -> None:
    assert str(with_article(address, preposition, gender)) == expected


def test_with_article_escapes_the_name_but_not_the_article() -> None:
    result = with_article('avv. <b>Neri</b> & "soci"', "di")
    assert isinstance(result, Markup)
    assert result == "dell'avv. &lt;b&gt;Neri&lt;/b&gt; &amp; &#34;soci&#34;"


def test_with_article_of_nothing_is_empty() -> None:
    assert with_article(None, "di") == "" and with_article("  ", "a") == ""


def test_article_of_keeps_the_address_as_typed() -> None:
    assert article_of("Avv. Neri") == ("l'", "Avv. Neri")
    assert article_of("gli Esposito") == ("gli", "Esposito")
    assert article_of("Marco") == (None, "Marco")


def test_with_article_is_a_filter_and_a_global_of_the_templates() -> None:
    env = RENDERER.env
    assert env.from_string('{{ x|with_article("di") }}').render(x="ing. Bellini") == "dell'ing. Bellini"
    assert env.from_string('{{ with_article(x, "a", "woman") }}').render(x="dott. Bianchi") == "alla dott. Bianchi"
    assert env.from_string('{{ x|with_article("a") }}').render(x="O'Brien & C.") == "a O&#39;Brien &amp; C."


@pytest.mark.parametrize(("lang", "free_words"), [("it", "lavoro gratis"), ("en", "free work")])
def test_the_free_rider_advice_follows_how_the_client_pays(lang: str, free_words: str) -> None:
    """A free rider who pays, late, is told to get the overdue amount settled, not to stop working
    for free; one on a discount is not told the work is free either."""
    assessment = Assessment({"gratis": 9.0}, "gratis", None, "high", (), False, False, True, False, False)
    plain = {
        p: results.advice(RENDERER, lang, {"payment": p}, assessment).plain for p in ("free", "late", "below_price")
    }
    assert free_words in plain["free"]
    assert free_words not in plain["late"] and free_words not in plain["below_price"]
    assert ("sollecito" if lang == "it" else "reminder") in plain["late"]


HOLDS = {
    "it": {"money": "Prima il saldo", "pressure": "Niente in cambio della minaccia", "legal": "Prima il legale"},
    "en": {"money": "Payment first", "pressure": "Nothing in exchange for the threat", "legal": "Counsel first"},
}
OVERDUE = {"payment": "late", "owed": "640", "owed_since": "overdue"}


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("profile", ["incontentabile", "lvc", "gratis"])
def test_what_the_guards_hold_comes_before_any_concession_in_the_advice(lang: str, profile: str) -> None:
    """The advice that suggests a concession, a price or an exit opens with what the messages' guards
    hold: under a legal claim counsel first, under a threat nothing in exchange for it, with an
    invoice overdue payment first (the free-rider advice speaks of the payment in its own words)."""
    said = HOLDS[lang]
    plain = Assessment({profile: 9.0}, profile, None, "high", (), False, False, True, False, False)

    def advice(answers: dict, **flags: bool) -> str:
        return results.advice(RENDERER, lang, answers, replace(plain, **flags)).plain

    assert not [hold for hold in said.values() if hold in advice({})]
    assert "\n\n1." not in advice({}), "nothing held: no empty line before the first step"
    assert (said["money"] in advice(OVERDUE)) is (profile != "gratis")
    assert said["money"] not in advice({**OVERDUE, "owed_since": "not_due"})
    assert said["pressure"] in advice({}, pressure=True)
    assert said["legal"] in advice({}, legal=True)
    both = advice({}, legal=True, pressure=True)
    assert said["legal"] in both and said["pressure"] not in both, "counsel first covers the threat too"
