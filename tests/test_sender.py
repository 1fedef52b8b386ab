"""The sender's profile: parsing each field, the Coach methods the front ends call, and the console command."""

from __future__ import annotations

import pytest

from bot import result as results
from bot.actions import Finish
from bot.coach import Coach
from bot.render import Renderer
from bot.sender import FIELDS, MAX_RAW, ProfileError, clean_profile, parse_field
from bot.store import Store

USER = 42


@pytest.fixture
def coach(store: Store, flow) -> Coach:
    return Coach(store, flow, Renderer(surface="telegram"))


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("nome", "  Giulia   Neri ", ("name", "Giulia Neri")),
        ("firma", "«Giulia Neri»", ("name", "Giulia Neri")),
        ("attività", "Studio Neri", ("business", "Studio Neri")),
        ("voce", "NOI", ("voice", "noi")),
        ("voice", "we", ("voice", "noi")),
        ("voce", "io", ("voice", "io")),
        ("orari", "dal lunedì al venerdì,\n9-13", ("hours", "dal lunedì al venerdì, 9-13")),
        ("risposta", "entro un giorno lavorativo", ("reply_time", "entro un giorno lavorativo")),
        ("reply time", "within a day", ("reply_time", "within a day")),
        ("canale", "email", ("channel", "email")),
        ("iva", "+ IVA", ("vat", "plus")),
        ("vat", "included", ("vat", "included")),
        ("iva", "forfettario", ("vat", "none")),
        ("nome", "", ("name", "")),
    ],
)
def test_each_field_is_parsed_and_cleaned(name, raw, expected):
    assert parse_field(name, raw) == expected


@pytest.mark.parametrize(
    ("name", "raw", "key"),
    [
        ("colore", "blu", "unknown_field"),
        ("nome", "x" * 61, "too_long"),
        ("nome", "<b>Giulia</b>", "no_markup"),
        ("voce", "forse", "choose"),
        ("iva", "qualche volta", "choose"),
        ("nome", "x" * (MAX_RAW + 1), "too_long"),
    ],
)
def test_a_bad_value_is_refused_with_its_reason(name, raw, key):
    with pytest.raises(ProfileError) as exc:
        parse_field(name, raw)
    assert exc.value.key == key


def test_huge_input_is_refused_on_its_length_before_any_other_work():
    for f in FIELDS:
        with pytest.raises(ProfileError) as exc:
            parse_field(f.id, "a" * 100_000)
        assert exc.value.key == "too_long"


def test_a_stored_profile_keeps_only_known_non_empty_fields():
    assert clean_profile({"name": "G", "business": "", "hack": "x", "voice": 3}) == {"name": "G"}
    assert clean_profile(None) == {}


# -- the Coach methods -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_profile_screen_shows_what_is_set_and_how_to_set_the_rest(coach, lang):
    empty = coach.profile_screen(USER, lang)
    assert "/profilo" in empty.plain
    coach.set_profile_field(USER, "name", "Giulia Neri", lang)
    shown = coach.profile_screen(USER, lang).plain
    assert "Giulia Neri" in shown
    assert ("non impostato" if lang == "it" else "not set") in shown


def test_setting_a_field_confirms_and_a_bad_value_changes_nothing(coach, store):
    ok = coach.set_profile_field(USER, "voce", "noi", "it")
    assert "noi" in ok.plain and store.sender_profile(USER) == {"voice": "noi"}
    bad = coach.set_profile_field(USER, "voce", "forse", "it")
    assert bad.meta["error"] == "choose" and "Non ho cambiato nulla" in bad.plain
    assert coach.set_profile_field(USER, "colore", "blu", "en").meta["error"] == "unknown_field"
    assert store.sender_profile(USER) == {"voice": "noi"}
    coach.set_profile_field(USER, "voce", "", "it")
    assert coach.sender_profile(USER) == {}


def test_the_messages_sign_with_the_profile(coach, drive, store):
    coach.set_profile_field(USER, "nome", "Giulia Neri", "it")
    coach.set_profile_field(USER, "attività", "Studio Neri", "it")
    state = drive({"payment": "late", "owed": 500, "owed_since": "overdue", "balance": "drains"})
    store.save_conversation(USER, {**state, "cid": "c", "picked": []}, {})
    reply = coach.act(USER, Finish())
    script = reply.messages[-1]
    assert script.kind == "script" and "Giulia Neri\nStudio Neri" in script.plain
    assert "/profilo" not in reply.messages[0].plain, "no profile hint once the name is set"


def test_worded_fields_are_kept_per_language_and_never_cross_into_the_other(coach, store, renderer):
    """«in giornata» typed in Italian never lands in an English letter; each language has its own."""
    from bot.classifier import Assessment

    coach.set_profile_field(USER, "risposta", "in giornata", "it")
    coach.set_profile_field(USER, "nome", "Giulia Neri", "it")
    assert store.sender_profile(USER) == {"reply_time:it": "in giornata", "name": "Giulia Neri"}
    answers = {"who": "woman_lei", "behaviours": ["rude"]}
    blank = Assessment({}, "incontentabile", None, "low", (), False, True, False, True, False)
    sender = coach.sender_profile(USER)
    _, _, italian = results.script(renderer, "it", "attesa", answers, blank, "shorter", None, sender)
    _, _, english = results.script(renderer, "en", "attesa", answers, blank, "shorter", None, sender)
    assert "in giornata" in italian and "in giornata" not in english
    assert "Giulia Neri" in english, "a name is the same in every language"
    coach.set_profile_field(USER, "reply time", "within the day", "en")
    _, _, english = results.script(
        renderer, "en", "attesa", answers, blank, "shorter", None, coach.sender_profile(USER)
    )
    assert "within the day" in english and "in giornata" not in english
    assert "in giornata" in coach.profile_screen(USER, "it").plain
    assert "within the day" in coach.profile_screen(USER, "en").plain


def test_an_untagged_worded_field_stored_earlier_counts_for_the_default_language_only(coach, store):
    store.set_sender_profile(USER, {"hours": "9-13", "name": "Giulia"})
    assert "9-13" in coach.profile_screen(USER, "it").plain
    assert "9-13" not in coach.profile_screen(USER, "en").plain
    coach.set_profile_field(USER, "orari", "9-18", "it")
    assert store.sender_profile(USER) == {"hours:it": "9-18", "name": "Giulia"}


# -- the console command -----------------------------------------------------------------------


def test_the_console_command_shows_sets_and_refuses(tmp_path, capsys):
    from bot.cli import run_command

    db = str(tmp_path / "cc.db")

    def run(*argv: str) -> int:
        return run_command(["--db", db, "--create", *argv])

    assert run("profile", "--set", "nome=Giulia Neri", "--set", "voce=noi") == 0
    assert "Giulia Neri" in capsys.readouterr().out
    assert run("profile", "--set", "voce=forse", "--set", "nome=Altro") == 1
    assert "io, noi" in capsys.readouterr().err
    assert run("--lang", "en", "profile") == 0
    out = capsys.readouterr().out
    assert "Giulia Neri" in out and "we (for the team)" in out and "clientcoach profile --set" in out
