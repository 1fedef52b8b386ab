"""Every option can be typed by the words that tell it apart, in every language of the bot.

A person types «uomo, Lei» or «spesso», not the full label: for each option of each choice
question some word of its label (or of its `words`) picks it and nothing else, and typed words
that fit two options are refused with the usual reprompt.
"""

from __future__ import annotations

import pytest

from bot.engine import STOPWORDS, Engine, Invalid
from bot.flow import word_key

from helpers import FLOW

ENGINE = Engine(FLOW)
CHOICES = [q for q in FLOW.questions.values() if q.is_choice]


def _telling_words(q, option, lang: str) -> list[str]:
    return [w for w in word_key(option.label[lang]).split() if w not in STOPWORDS] + list(option.words.get(lang, ()))


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("q", CHOICES, ids=[q.id for q in CHOICES])
def test_some_word_of_every_option_picks_it_and_nothing_else(q, lang):
    for option in q.options:
        picked = []
        for word in _telling_words(q, option, lang):
            try:
                picked.append(ENGINE.parse(q, word, lang))
            except Invalid:
                continue
        assert [option.id] in picked or option.id in picked, f"{q.id}.{option.id} ({lang}): no word picks it"


@pytest.mark.parametrize(
    ("qid", "typed", "lang", "value"),
    [
        ("who", "uomo, Lei", "it", "man_lei"),
        ("who", "Donna tu", "it", "woman_tu"),
        ("who", "azienda, del Lei", "it", "company_lei"),
        ("who", "woman, formal", "en", "woman_lei"),
        ("pattern", "spesso", "it", "often"),
        ("pattern", "È la prima volta ma il rapporto è recente", "it", "first"),
        ("relationship", "abbonamento", "it", "ongoing"),
        ("relationship", "prepaid package", "en", "prepaid"),
        ("notice", "sì", "it", "with_notice"),
        ("conflict", "recensione pubblicata, lettera", "it", ["review_posted", "lawyer_letter"]),
        ("vip_signals", "WhatsApp", "it", ["informal"]),
    ],
)
def test_the_words_a_person_types_pick_the_option(qid, typed, lang, value):
    assert ENGINE.parse(FLOW.questions[qid], typed, lang) == value


@pytest.mark.parametrize(("qid", "typed"), [("who", "Lei"), ("pattern", "volta"), ("who", "tu")])
def test_words_that_fit_two_options_are_refused(qid, typed):
    with pytest.raises(Invalid) as refused:
        ENGINE.parse(FLOW.questions[qid], typed, "it")
    assert refused.value.key == "not_an_option"
