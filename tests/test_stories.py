"""The story suite (tests/stories.py), driven through the real engine and classifier.

Every story must get its main profile, its strong second profile and its flags; every variant (the
neighbouring option an honest user might pick) must keep the main profile, and the flags too unless
it changes the answer they come from (how often, how far it went, how it started).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot.scripts import flags_of

from helpers import FLOW, ROOT
from stories import SHOWN_FLAGS, STORIES

PROFILES = FLOW.profiles.ids

# Answers a flag comes from: a variant that changes one of these may change the flags.
FLAG_SOURCES = {"pattern", "conflict", "settle", "origin", "behaviours"}


def _shown(assessment) -> list[str]:
    return sorted(f for f in flags_of(assessment) if f in SHOWN_FLAGS)


@pytest.mark.parametrize("story", STORIES, ids=[s.id for s in STORIES])
def test_a_story_gets_its_profile_second_profile_and_flags(assess, story):
    a, _ = assess(story.answers)
    assert (a.main, a.secondary) == (story.main, story.secondary), a.scores
    assert _shown(a) == list(story.flags)


VARIANTS = [
    pytest.param(story, change, answers, id=f"{story.id}~{name}")
    for story in STORIES
    for change, (name, answers) in zip(story.variants, story.variant_answers(), strict=True)
]


@pytest.mark.parametrize(("story", "change", "answers"), VARIANTS)
def test_a_neighbouring_answer_does_not_flip_the_profile(assess, story, change, answers):
    a, _ = assess(answers)
    assert a.main == story.main, (change, a.scores)
    if not FLAG_SOURCES & set(change):
        assert _shown(a) == list(story.flags), change


def test_the_suite_has_sixty_stories_with_variants_for_every_profile():
    assert len(STORIES) >= 60
    assert all(s.variants for s in STORIES), [s.id for s in STORIES if not s.variants]
    by_main = Counter(s.main for s in STORIES)
    assert set(by_main) == set(PROFILES) and min(by_main.values()) >= 7, by_main
    assert sum(1 for s in STORIES if s.secondary) >= 8
    raised = {f for s in STORIES for f in s.flags}
    assert raised == set(SHOWN_FLAGS) - {"repeated"}, set(SHOWN_FLAGS) - raised
    assert len({s.id for s in STORIES}) == len(STORIES)


def test_the_hard_cases_of_the_last_review_are_in_the_suite():
    """Free and late, devaluing payers, prestigious clients with informal processes, polite frequent
    writers, first outbursts of good clients, public attacks, legal claims, mixed cases."""
    ids = {s.id for s in STORIES}
    for needed in (
        "gratis/owes-2400-and-calls-the-price-a-fortune",
        "gratis/pays-at-120-days-after-a-free-set-up",
        "gratis/discounted-and-demanding-as-if-top-price",
        "vip/prestigious-client-followed-at-any-hour",
        "vip/polite-vip-who-writes-every-week",
        "mvc/good-client-first-outburst",
        "distruttivo/ten-days-of-public-attacks-called-the-first-time",
        "distruttivo/lawyer-letter-and-damages-after-our-error",
    ):
        assert needed in ids


@pytest.mark.parametrize("story", [s for s in STORIES if s.answers.get("pattern") in (None, "no_problem")], ids=str)
def test_contact_frequency_is_never_taken_for_a_pattern(assess, story):
    """A client who writes often but causes no trouble is not "a pattern"."""
    a, _ = assess(story.answers)
    assert not a.recurring


def test_the_readme_reports_the_suite_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"(\d+) stories and (\d+) variants", readme)
    assert found, "the README's questionnaire section names the story suite's size"
    variants = sum(len(s.variants) for s in STORIES)
    assert (int(found.group(1)), int(found.group(2))) == (len(STORIES), variants)
