"""The console front end: the same dialogue in a terminal, one typed line per answer.

Works interactively and with piped stdin (a line per answer), ends cleanly on EOF or Ctrl-C.
Never imports telegram.
"""

from __future__ import annotations

import os
import secrets
import sys
import unicodedata
from datetime import tzinfo
from typing import Any, TextIO, TypeVar

from .actions import Action, Answer, Back, Cancel, Change, Extra, Finish, Move, Restart, Resume, Review, Skip, Toggle
from .coach import Coach, Reply
from .render import Screen

CONSOLE_USER = 0
RULE = "─" * 60
# What the typed navigation commands do (the words for them are each language's).
COMMAND_MOVES: dict[str, Move | Restart] = {
    "back": Back(),
    "skip": Skip(),
    "cancel": Cancel(),
    "review": Review(),
    "restart": Restart(),
}
# How a tickable option shows whether it is ticked (the console's own marks, where Telegram has ✅ and ▫️).
TICKS = {True: "[x] ", False: "[ ] ", None: ""}
ActionKind = TypeVar("ActionKind", bound=Action)
# How long a console holds the user's questionnaire without typing; after that another run may take it.
LEASE_SECONDS = 30.0


def clean_line(line: str) -> str:
    """A typed line as the console reads it: digits such as ² or ① and odd spaces in their plain
    form (so they are numbers, never a crash), everything else untouched."""
    if line.isascii():
        return line
    return "".join(
        unicodedata.normalize("NFKC", c)
        if (c.isdigit() and not c.isdecimal()) or unicodedata.category(c) == "Zs"
        else c
        for c in line
    )


def undecodable(line: str) -> bool:
    """True if the line held bytes that are not UTF-8 (read with errors="surrogateescape")."""
    return any("\udc80" <= c <= "\udcff" for c in line)


class CleanInput:
    """A text stream whose lines come through `clean_line`."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def readline(self) -> str:
        return clean_line(self.stream.readline())


class Console:
    """Drives a Coach from lines of text."""

    def __init__(
        self,
        coach: Coach,
        user_id: int = CONSOLE_USER,
        lang: str = "it",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        zone: tzinfo | None = None,
    ):
        self.coach, self.user_id, self.lang, self.zone = coach, user_id, lang, zone
        # Typed words (navigation, script versions and forms, a result's extras): every language's work.
        languages = coach.renderer.languages
        self.command_words, self.variant_words, self.form_words, self.extra_words = (
            languages.words(table) for table in ("commands", "variants", "forms", "extras")
        )
        # The streams of the moment, not of import time: `cli.main` also runs with swapped ones (tests).
        self.stdin, self.stdout = CleanInput(stdin or sys.stdin), stdout or sys.stdout
        self.screen: Screen | None = None
        # Who holds the questionnaire: this process, told apart from any other console run.
        self.owner = f"console:{os.getpid()}:{secrets.token_hex(4)}"
        self.seen: tuple[str, int] | None = None

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def ui(self, name: str, *args: Any) -> str:
        return self.coach.renderer.ui(self.lang, name, *args)

    def show(self, reply: Reply) -> None:
        if reply.dialog is not None:
            self.screen = reply.dialog
            self.say()
            self.say(self.describe(reply.dialog))
        elif reply.toast and not reply.messages:
            self.say(reply.toast)
        for message in reply.messages:
            self.say()
            if message.kind == "script":
                self.say(RULE)
            if message.kind == "scripts_intro":  # the Telegram text speaks of buttons
                self.say(self.ui("console_scripts_intro", message.meta["count"]))
                continue
            self.say(message.plain)
        if reply.case_no is not None:
            self.say(RULE)

    def describe(self, screen: Screen) -> str:
        """A screen as console text: the text, then the numbered choices."""
        lines = [screen.plain]
        numbered = self._numbered(screen)
        if numbered:
            lines.append("")
            if screen.kind == "question":
                lines += [f"  {i}) {TICKS[b.checked]}{b.label}" for i, b in enumerate(numbered, 1)]
                if any(isinstance(b.action, Toggle) for b in numbered):
                    lines.append(self.ui("console_multi_hint"))
            else:
                lines.append(self.ui("console_review_prompt", bool(self._actions(screen, Finish))))
        return "\n".join(lines)

    @staticmethod
    def _actions(screen: Screen, kind: type[ActionKind]) -> list[ActionKind]:
        """The actions of a screen's buttons of one kind, in order."""
        return [b.action for row in screen.buttons for b in row if isinstance(b.action, kind)]

    @staticmethod
    def _numbered(screen: Screen) -> list:
        kinds = (Answer, Toggle) if screen.kind == "question" else (Change,)
        return [b for row in screen.buttons for b in row if isinstance(b.action, kinds)]

    def handle(self, line: str) -> Reply | None:
        """One typed line -> one Coach call; None means quit."""
        if undecodable(line):  # bytes that are not UTF-8: say so, change nothing
            return Reply(toast=self.ui("console_not_utf8"))
        word = line.strip().casefold()
        command = self.command_words.get(word)
        if command == "quit":
            return None
        if command == "help":
            return Reply(messages=[Screen("notice", self.ui("console_help"))])
        if command in COMMAND_MOVES:
            return self.coach.act(self.user_id, COMMAND_MOVES[command], fallback_lang=self.lang)
        screen = self.screen
        if screen is not None and screen.kind == "review":
            if not word:
                last: list[Move] = [*self._actions(screen, Finish), *self._actions(screen, Resume)]
                return self.coach.act(self.user_id, last[0] if last else Resume(), fallback_lang=self.lang)
            choices = self._numbered(screen)
            if word.isdecimal() and 1 <= int(word) <= len(choices):
                return self.coach.act(self.user_id, choices[int(word) - 1].action, fallback_lang=self.lang)
            return Reply(toast=self.coach.renderer.ui(self.lang, "error", "not_an_option", {"count": len(choices)}))
        if not word and screen is not None and screen.kind == "question" and self._actions(screen, Skip):
            return self.coach.act(self.user_id, Skip(), fallback_lang=self.lang)  # Enter skips an optional question
        return self.coach.text(self.user_id, line, fallback_lang=self.lang)

    def variants(self, reply: Reply) -> int:
        """After a result: the extras (guide, second profile, figures, list) and any script in any
        version, typed as words («guida», «secondo», «numeri», «messaggi») or «2», «2 fermo», «1 breve Lei»,
        until Enter or EOF."""
        from .result import script_form  # the result path: loaded once there is a result, not before the first prompt

        advice = next((m for m in reply.messages if m.kind == "advice"), None)
        if reply.case_no is None or advice is None:
            return 0
        count = int(advice.meta.get("scripts", 0))
        has_second = Extra(reply.case_no, "second") in self._actions(advice, Extra)
        self.say(self.ui("console_extras", has_second, count))
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = self.stdin.readline()
            words = line.strip().casefold().split()
            if not words or self.command_words.get(words[0]) == "quit":
                self.say(self.ui("console_goodbye"))
                return 0
            screens: list[Screen] | None = None
            extra = self.extra_words.get(words[0])
            if extra and len(words) == 1:
                screens = self.coach.extra(self.user_id, Extra(reply.case_no, extra))
            elif words[0].isdecimal() and all(w in self.variant_words or w in self.form_words for w in words[1:]):
                variant = next((self.variant_words[w] for w in words[1:] if w in self.variant_words), "softer")
                form = next((self.form_words[w] for w in words[1:] if w in self.form_words), None)
                case = self.coach.case(self.user_id, reply.case_no)
                chosen_form = form or script_form(case.answers if case else {})
                screen = self.coach.script_variant(self.user_id, reply.case_no, int(words[0]), variant, chosen_form)
                screens = [screen] if screen is not None else None
            if not screens:
                self.say(self.ui("console_extras_error", has_second, max(count, 1)))
                continue
            for screen in screens:
                self.say(RULE)
                self.say(screen.plain)
            self.say(RULE)

    def _position(self) -> tuple[str, int] | None:
        """Which questionnaire is open and at which step (None: none), to notice a change made elsewhere."""
        state, _ = self.coach.load(self.user_id)
        return state.nonce if state is not None else None

    def _show_due(self) -> None:
        """Reminders that have fallen due: the console delivers them when it starts."""
        store = self.coach.store
        if not any(r.user_id == self.user_id for r in store.pending_reminders()):
            return  # the usual case, without loading the case book
        from .casebook import CaseBook

        screens = CaseBook(store, self.coach.flow, self.coach.renderer, zone=self.zone).deliver_due(
            self.user_id, self.lang
        )
        if screens:
            self.say()
            self.say(self.ui("console_due_header", len(screens)))
        for screen in screens:
            self.say()
            self.say(screen.plain)

    def _first_reply(self, resume: bool, new: bool, reassess: int | None = None) -> Reply | None:
        """Resume, start, re-assess a saved case, or (None) refuse to replace an unfinished
        questionnaire unasked."""
        state, _ = self.coach.load(self.user_id)
        if state is not None and self.coach.engine.compatible(state) and not new:
            if not resume or reassess is not None:
                self.say(self.ui("console_unfinished"))
                return None
            self.lang = state.lang
            self.say(self.ui("resumed"))
            return self.coach.show(self.user_id, self.lang)
        if reassess is not None:
            # The case's answers, pre-filled: what the flow gained is asked, then the review; the
            # result says how the profile moved since that case.
            reply = self.coach.reassess(self.user_id, reassess, self.lang)
            if reply is None:
                self.say(self.ui("console_no_such_case", reassess))
            return reply
        return self.coach.start(self.user_id, self.lang)

    def _bye(self, reply: Reply) -> None:
        """Leaving: say that an unfinished questionnaire is kept, and how to come back to it."""
        if not reply.ended and self.coach.load(self.user_id)[0] is not None:
            self.say(self.ui("console_kept"))
        self.say(self.ui("console_goodbye"))

    def run(self, resume: bool = False, new: bool = False, reassess: int | None = None) -> int:
        """The read-answer loop; returns the exit status.

        `resume` goes on with an unfinished questionnaire; without it (or `new`), one is never
        replaced: the run stops with a line naming both options. Only one console at a time holds
        a user's questionnaire: another is told so (exit 1) until this one has been idle for
        LEASE_SECONDS, and a run whose questionnaire was taken over stops before changing it.
        """
        self.say(self.ui("console_intro"))
        store = self.coach.store
        if not store.lease_conversation(self.user_id, self.owner, LEASE_SECONDS):
            self.say(self.ui("console_busy", LEASE_SECONDS))
            return 1
        reply = Reply()
        try:
            self._show_due()
            first = self._first_reply(resume, new, reassess)
            if first is None:
                return 1
            reply = first
            while True:
                self.show(reply)
                if reply.ended and reply.case_no is not None:
                    if reply.case_no == 1 and store.path:  # the first case: say where cases are kept
                        self.say(self.ui("db_first_saved", store.path))
                    return self.variants(reply)
                self.seen = self._position()
                self.stdout.write("> ")
                self.stdout.flush()
                line = self.stdin.readline()
                if not line:
                    self.say()
                    self._bye(reply)
                    return 0
                if not store.lease_conversation(self.user_id, self.owner, LEASE_SECONDS):
                    self.say(self.ui("console_taken_over"))
                    return 1
                if self._position() != self.seen:  # another run moved it while this one was idle
                    self.say(self.ui("console_changed_elsewhere"))
                    reply = self.coach.show(self.user_id, self.lang)
                    continue
                next_reply = self.handle(line.rstrip("\n"))
                if next_reply is None:
                    self._bye(reply)
                    return 0
                reply = next_reply
        except KeyboardInterrupt:
            self.say()
            self._bye(reply)
            return 130
        finally:
            store.release_conversation(self.user_id, self.owner)
