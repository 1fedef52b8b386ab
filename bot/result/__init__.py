"""The result of a case as screens, built once for every place that shows one: the Coach's result
on Telegram and in the console, and the case book (`/caso`, `clientcoach cases show`).

Data in (answers, assessment, the sender's profile), screens out; the facts come from `bot.facts`,
the choice of messages from the router (`bot.scripts.route`), the words from the Renderer. One
module per part, each importing only those before it:

- `card`: the profile card (profile, confidence, reasons, caveats) and how it moved since an
  earlier case of the same client;
- `advice`: the advice for a profile and the guides;
- `messages`: each ready-to-send message as a screen, with the buttons beside it (`message_rows`:
  one more control per message goes there);
- `plan`: the case's plan (bot.plans) as the advice shows it, and what a step is called;
- `screens`: the whole result (card, advice with the extras' buttons, first message), a saved
  case's advice and messages, and the extras on demand.
"""

from __future__ import annotations

from ..plans import plan_problems
from .advice import advice, guide
from .card import movement, profile_card
from .messages import DEFAULT_VARIANT, message_rows, script, script_form, script_screen, scripts_for
from .plan import plan_text, step_title
from .screens import advice_screens, case_script, extra, result_screens

# The plans that follow the messages are checked when the result path loads (the console's first
# prompt does not load it): plans that do not hold together refuse every result before any user
# sees one. `clientcoach flows check` lists the same problems one by one.
_PLAN_PROBLEMS = plan_problems()
if _PLAN_PROBLEMS:
    raise ValueError("bot/plans.py: " + "; ".join(_PLAN_PROBLEMS))

__all__ = [
    "DEFAULT_VARIANT",
    "advice",
    "advice_screens",
    "case_script",
    "extra",
    "guide",
    "message_rows",
    "movement",
    "plan_text",
    "profile_card",
    "result_screens",
    "script",
    "script_form",
    "script_screen",
    "scripts_for",
    "step_title",
]
