"""The console front end: the same dialogue in a terminal, one typed line per answer.

Works interactively and with piped stdin (a line per answer), ends cleanly on EOF or Ctrl-C.
Never imports telegram.
"""

from __future__ import annotations

import sys
from typing import TextIO

from .coach import Coach, Reply
from .render import Screen

CONSOLE_USER = 0
# Typed words for the navigation buttons, Italian and English alike.
COMMANDS = {
    "indietro": "back", "back": "back",
    "salta": "skip", "skip": "skip",
    "annulla": "cancel", "cancel": "cancel",
    "rivedi": "review", "review": "review",
    "ricomincia": "restart", "restart": "restart",
    "aiuto": "help", "help": "help", "?": "help",
    "esci": "quit", "quit": "quit", "exit": "quit",
}
RULE = "─" * 60
# Words for the script versions, Italian and English alike.
VARIANT_WORDS = {
    "morbido": "softer", "soft": "softer", "softer": "softer",
    "fermo": "firmer", "firm": "firmer", "firmer": "firmer",
    "breve": "shorter", "short": "shorter", "shorter": "shorter",
}
FORM_WORDS = {"tu": "tu", "informal": "tu", "lei": "lei", "formal": "lei"}


class Console:
    """Drives a Coach from lines of text."""

    def __init__(self, coach: Coach, user_id: int = CONSOLE_USER, lang: str = "it",
                 stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout):
        self.coach, self.user_id, self.lang = coach, user_id, lang
        self.stdin, self.stdout = stdin, stdout
        self.screen: Screen | None = None

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def ui(self, name: str, *args) -> str:
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
                lines += [f"  {i}) {b.label.removeprefix('▫️ ').removeprefix('✅ ')}" for i, b in enumerate(numbered, 1)]
                if any(b.action.startswith("tog:") for b in numbered):
                    lines.append(self.ui("console_multi_hint"))
            else:
                lines.append(self.ui("console_review_prompt", any(b.action == "finish" for row in screen.buttons for b in row)))
        return "\n".join(lines)

    @staticmethod
    def _numbered(screen: Screen) -> list:
        prefixes = ("opt:", "tog:") if screen.kind == "question" else ("chg:",)
        return [b for row in screen.buttons for b in row if b.action.startswith(prefixes)]

    def handle(self, line: str) -> Reply | None:
        """One typed line -> one Coach call; None means quit."""
        word = line.strip().casefold()
        command = COMMANDS.get(word)
        if command == "quit":
            return None
        if command == "help":
            return Reply(messages=[Screen("notice", self.ui("console_help"))])
        if command:
            return self.coach.act(self.user_id, command, fallback_lang=self.lang)
        screen = self.screen
        if screen is not None and screen.kind == "review":
            if not word:
                last = [b.action for row in screen.buttons for b in row if b.action in ("finish", "resume")]
                return self.coach.act(self.user_id, last[0] if last else "resume", fallback_lang=self.lang)
            choices = self._numbered(screen)
            if word.isdigit() and 1 <= int(word) <= len(choices):
                return self.coach.act(self.user_id, choices[int(word) - 1].action, fallback_lang=self.lang)
            return Reply(toast=self.coach.renderer.ui(self.lang, "error", "not_an_option", {"count": len(choices)}))
        if not word and screen is not None and screen.kind == "question" and any(
            b.action == "skip" for row in screen.buttons for b in row
        ):
            return self.coach.act(self.user_id, "skip", fallback_lang=self.lang)  # Enter skips an optional question
        return self.coach.text(self.user_id, line, fallback_lang=self.lang)

    def variants(self, reply: Reply) -> int:
        """After a result: show any script in another version until Enter or EOF."""
        scripts = [m for m in reply.messages if m.kind == "script"]
        if reply.case_no is None or not scripts:
            return 0
        self.say(self.ui("console_variant_prompt", len(scripts)))
        form = None
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = self.stdin.readline()
            words = line.strip().casefold().split()
            if not words or COMMANDS.get(words[0]) == "quit":
                self.say(self.ui("console_goodbye"))
                return 0
            variant = next((VARIANT_WORDS[w] for w in words[1:] if w in VARIANT_WORDS), "softer")
            form = next((FORM_WORDS[w] for w in words[1:] if w in FORM_WORDS), None)
            known = all(w in VARIANT_WORDS or w in FORM_WORDS for w in words[1:])
            index = int(words[0]) if words[0].isdigit() else 0
            screen = None
            if known and 1 <= index <= len(scripts):
                case = self.coach.store.case(self.user_id, reply.case_no)
                chosen_form = form or (case["answers"].get("form") if case else None) or "tu"
                screen = self.coach.script_variant(self.user_id, reply.case_no, index, variant, chosen_form)
            if screen is None:
                self.say(self.ui("console_variant_error", len(scripts)))
                continue
            self.say(RULE)
            self.say(screen.plain)
            self.say(RULE)

    def run(self, resume: bool = False) -> int:
        """The read-answer loop; returns the exit status."""
        self.say(self.ui("console_intro"))
        state, _ = self.coach.load(self.user_id)
        if resume and state is not None and self.coach.engine.compatible(state):
            self.lang = state["lang"]
            self.say(self.ui("resumed"))
            reply = self.coach.show(self.user_id, self.lang)
        else:
            reply = self.coach.start(self.user_id, self.lang)
        try:
            while True:
                self.show(reply)
                if reply.ended:
                    return self.variants(reply)
                self.stdout.write("> ")
                self.stdout.flush()
                line = self.stdin.readline()
                if not line:
                    self.say()
                    self.say(self.ui("console_goodbye"))
                    return 0
                next_reply = self.handle(line.rstrip("\n"))
                if next_reply is None:
                    self.say(self.ui("console_goodbye"))
                    return 0
                reply = next_reply
        except KeyboardInterrupt:
            self.say()
            self.say(self.ui("console_goodbye"))
            return 130
