"""The choices a user makes by button or by typed word, listed once.

The buttons (bot.actions), the store (a case's outcome) and the word tables of every language.yaml
(bot.languages.WORD_TABLES: words for exactly these) all take them from here. Nothing else is
imported, so the command line's start pays nothing for them.
"""

from __future__ import annotations

VARIANTS = ("softer", "firmer", "shorter")  # a message's versions
FORMS = ("tu", "lei")  # the forms of address
EXTRAS = ("guide", "figures", "second", "all")  # more of a result, on demand
# A case's outcome, stored under these names (which always work as typed).
STATUSES = ("aperto", "risolto", "cliente_tenuto", "cliente_lasciato")
# How a step of a case's plan went, answered at its check (bot.plans).
ANSWERS = ("paid", "settled", "answered", "no_answer", "worse")

__all__ = ["ANSWERS", "EXTRAS", "FORMS", "STATUSES", "VARIANTS"]
