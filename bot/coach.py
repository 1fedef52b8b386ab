"""The dialogue service both front ends call: load the state, move it, render, store.

A front end (console or Telegram) turns what the user did into one call here: `start`, `act`
(a button's move, typed: see bot.actions), `text` (something typed) or `show`. Each call loads the conversation from
the store, moves it through the engine, renders what to show and writes it back in one
transaction. The front end only displays the `Reply`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .actions import (
    FORMS,
    VARIANTS,
    Answer,
    Back,
    Cancel,
    Change,
    Done,
    Extra,
    Finish,
    Move,
    Restart,
    Resume,
    Review,
    Skip,
    Toggle,
)
from .engine import CANCELLED, Engine, Invalid
from .flow import Flow, load_flow
from .paths import default_flow
from .questions import question_screen, review_screen
from .render import Button, Renderer, Screen
from .state import Conversation
from .store import Store
from .upgrade import read_case, upgrade_state

if TYPE_CHECKING:
    from .case import Case
    from .classifier import Assessment

# The result path (classifier, bot.result with the router and the plans, the sender's profile) is
# imported inside the methods that finish or show a result: the console's first prompt needs none
# of it (`python -m bench --only startup`).

SCREENS_KEPT = 256


@dataclass
class Reply:
    """What a front end shows after one user action.

    `dialog` is the questionnaire's own message (edited in place on Telegram); `messages` are new
    messages to send after it; `toast` is a short notice (a callback answer on Telegram).
    """

    dialog: Screen | None = None
    messages: list[Screen] = field(default_factory=list)
    toast: str | None = None
    case_no: int | None = None
    ended: bool = False
    duplicate: bool = False
    # The conversation id and step the dialog screen belongs to: buttons carry them as a nonce.
    nonce: tuple[str, int] | None = None
    # The front end's newest message showing the dialog (its id, kept in the conversation's meta)
    # and whether it shows this screen: "sent" (confirmed once shown) or "edited" (a step's edit
    # recorded with the step itself); None when it may show an older screen.
    message_id: int | None = None
    on_screen: str | None = None


class Coach:
    """Orchestrates engine, classifier, renderer and store for one flow."""

    def __init__(self, store: Store, flow: Flow | None = None, renderer: Renderer | None = None):
        self.store = store
        self.flow = flow or load_flow(default_flow())
        self.engine = Engine(self.flow)
        self.renderer = renderer or Renderer(profiles=self.flow.profiles)
        self._screens: dict[str, Screen] = {}  # the last screens rendered, by state (oldest first)

    # -- helpers -------------------------------------------------------------------------------

    def lang(self, user_id: int, fallback: str = "it") -> str:
        return self.store.user_lang(user_id) or self.renderer.languages.pick(fallback)

    def set_language(self, user_id: int, lang: str) -> None:
        """Remember the user's language; an open questionnaire switches with it."""
        self.store.set_user_lang(user_id, lang)
        found = self.store.load_conversation(user_id)
        if found:
            state, meta = found
            self.store.save_conversation(user_id, state.but(lang=lang), meta)

    def ui(self, lang: str, name: str, *args: Any) -> str:
        return self.renderer.ui(lang, name, *args)

    def _error(self, lang: str, exc: Invalid) -> str:
        return self.renderer.ui(lang, "error", exc.key, exc.params)

    def screen(self, state: Conversation, error: str | None = None) -> Screen:
        """The screen for where the conversation is: a question or the review. The same state shows
        the same screen, so the last few are kept (a review shown again costs no walk and no render)."""
        key = json.dumps([state.stored(), error], sort_keys=True, separators=(",", ":"))
        screen = self._screens.pop(key, None) or self._screen(state, error)
        self._screens[key] = screen
        if len(self._screens) > SCREENS_KEPT:
            del self._screens[next(iter(self._screens))]
        return screen

    def _screen(self, state: Conversation, error: str | None) -> Screen:
        lang = state.lang
        complete = self.engine.complete(state)
        if state.reviewing or complete:
            return review_screen(self.renderer, lang, self.engine.answered(state), complete)
        q = self.engine.question(state)
        assert q is not None
        return question_screen(
            self.renderer,
            lang,
            q,
            self.engine.progress(state),
            error=error,
            picked=state.picked,
            current=state.answers.get(q.id) if state.changing else None,
            can_back=bool(state.history),
        )

    def _dialog(
        self, state: Conversation, error: str | None = None, meta: dict[str, Any] | None = None, **extra: Any
    ) -> Reply:
        nonce = state.nonce
        meta = meta or {}
        marks = (("sent", "shown"), ("edited", "tapped"))
        on_screen = next((how for how, key in marks if meta.get(key) == [*nonce]), None)
        screen = self.screen(state, error)
        return Reply(dialog=screen, nonce=nonce, message_id=meta.get("message_id"), on_screen=on_screen, **extra)

    def redelivered(self, user_id: int) -> Reply:
        """A second delivery of an update already applied: nothing applied or parsed, nothing changed;
        where the user is."""
        state, meta = self.load(user_id)
        if state is None or not self.engine.compatible(state) or state.at == CANCELLED:
            return Reply(duplicate=True)
        return self._dialog(state, meta=meta, duplicate=True)

    def result_again(self, user_id: int, conversation: str) -> Reply | None:
        """The result of the questionnaire `conversation`, if it was finished and saved (None if not).

        A finish whose result a restart kept from the screen (redelivered, or tapped again on the
        review still showing) gets it this way; nothing is saved twice.
        """
        found = self.store.case_from_conversation(user_id, conversation)
        case = self.case(user_id, found.case_no) if found else None
        if case is None:
            return None
        screens = self.result_screens(case.lang, case.case_no, case.answers, case.assessment, user_id=user_id)
        return Reply(messages=screens, case_no=case.case_no, ended=True, duplicate=True)

    def _restart_offer(self, lang: str, text: str) -> Screen:
        return Screen("notice", text, ((Button(self.ui(lang, "button_restart"), Restart()),),))

    def case(self, user_id: int, case_no: int) -> Case | None:
        """One of the user's saved cases with its answers as this flow reads them (`bot.upgrade`);
        None if not theirs."""
        case = self.store.case(user_id, case_no)
        return read_case(case, self.flow) if case is not None else None

    def load(self, user_id: int) -> tuple[Conversation | None, dict[str, Any]]:
        """The user's open conversation (None if none) and its front-end meta; one begun under an
        earlier version of the flow comes carried to this one (`bot.upgrade`), at the right question."""
        found = self.store.load_conversation(user_id)
        if not found:
            return None, {}
        state, meta = found
        if state.flow_version != self.flow.version:  # only an earlier version can be carried over
            state = upgrade_state(self.engine, state) or state
        return state, meta

    # -- entry points --------------------------------------------------------------------------

    def start(self, user_id: int, lang: str | None = None, update_id: int | None = None) -> Reply:
        """Begin a new questionnaire, replacing any open one."""
        lang = lang or self.lang(user_id)
        state = self.engine.new(lang, cid=secrets.token_hex(3))
        if not self.store.save_conversation(user_id, state, {}, update_id=update_id):
            return self.redelivered(user_id)
        return self._dialog(state)

    def reassess(
        self, user_id: int, case_no: int, lang: str | None = None, update_id: int | None = None
    ) -> Reply | None:
        """The questionnaire again for a saved case's client, pre-filled; None if not the user's case."""
        case = self.case(user_id, case_no)
        if case is None:
            return None
        lang = lang or self.lang(user_id)
        fresh = self.engine.new(lang, cid=secrets.token_hex(3)).but(previous=case_no)
        # Questions the flow gained since then are asked as a change, then the review.
        state = self.engine.prefill(fresh, case.answers)
        if not self.store.save_conversation(user_id, state, {}, update_id=update_id):
            return self.redelivered(user_id)
        return self._dialog(state)

    def show(self, user_id: int, fallback_lang: str = "it") -> Reply:
        """Show the open conversation where it is (after a restart, or on request)."""
        state, meta = self.load(user_id)
        if state is None:
            return Reply(messages=[Screen("notice", self.ui(self.lang(user_id, fallback_lang), "nothing_in_progress"))])
        if not self.engine.compatible(state):
            lang = state.lang
            return Reply(messages=[self._restart_offer(lang, self.ui(lang, "flow_changed"))])
        return self._dialog(state, meta=meta)

    def act(
        self,
        user_id: int,
        action: Move | Restart,
        *,
        conversation: str | None = None,
        step: int | None = None,
        update_id: int | None = None,
        fallback_lang: str = "it",
        shown_on: int | None = None,
    ) -> Reply:
        """Apply a button's move (or start again); with `conversation`/`step`, a stale button changes nothing.

        `shown_on` is the front end's message the button was on: the new screen goes to the newest
        message showing the dialog (that one or a newer copy), recorded with the step."""
        state, meta = self.load(user_id)
        if isinstance(action, Restart):
            # Starting again keeps the language the chat was in (a `--lang en` console has no stored language).
            lang = state.lang if state and state.lang else self.lang(user_id, fallback_lang)
            return self.start(user_id, lang, update_id=update_id)
        lang = state.lang if state else self.lang(user_id, fallback_lang)
        if state is None:
            return Reply(
                toast=self.ui(lang, "stale_button") if step is not None else None,
                messages=[] if step is not None else [Screen("notice", self.ui(lang, "nothing_in_progress"))],
            )
        if conversation is not None and (conversation, step) != state.nonce:
            return Reply(toast=self.ui(lang, "stale_button"))
        if not self.engine.compatible(state):
            return Reply(messages=[self._restart_offer(lang, self.ui(lang, "flow_changed"))])
        try:
            new_state = self._apply(state, action)
        except Invalid as exc:
            # A wrong move changes nothing; the same screen comes back with the reason.
            return self._dialog(state, self._error(lang, exc), toast=self._error(lang, exc))
        if new_state.at == CANCELLED:
            if not self.store.drop_conversation(user_id, update_id=update_id):
                return self.redelivered(user_id)
            return Reply(messages=[Screen("notice", self.ui(lang, "cancelled"))], ended=True)
        if isinstance(action, Finish):
            return self._finish(user_id, new_state, update_id)
        if shown_on is not None:
            newest = max(shown_on, meta.get("message_id") or 0)
            meta = {**meta, "message_id": newest, "tapped": [*new_state.nonce]}
        if not self.store.save_conversation(user_id, new_state, meta, update_id=update_id):
            return self.redelivered(user_id)
        return self._dialog(new_state, meta=meta)

    def text(self, user_id: int, raw: str, *, update_id: int | None = None, fallback_lang: str = "it") -> Reply:
        """Something the user typed: the answer to the current question."""
        state, meta = self.load(user_id)
        if state is None:
            return Reply(messages=[Screen("notice", self.ui(self.lang(user_id, fallback_lang), "stray_message"))])
        lang = state.lang
        if not self.engine.compatible(state):
            return Reply(messages=[self._restart_offer(lang, self.ui(lang, "flow_changed"))])
        if state.reviewing or self.engine.complete(state):
            return self._dialog(state)
        try:
            new_state = self.engine.answer(state, raw)
        except Invalid as exc:
            return self._dialog(state, self._error(lang, exc))
        new_state = new_state.but(picked=[])
        if not self.store.save_conversation(user_id, new_state, meta, update_id=update_id):
            return self.redelivered(user_id)
        return self._dialog(new_state)

    def result_sent(self, user_id: int, case_no: int) -> dict[int, int]:
        """Which of a case's result messages reached the user: {index in the result: message id}."""
        return self.store.result_sends(user_id, case_no)

    def record_result_sent(self, user_id: int, case_no: int, part: int, message_id: int) -> None:
        """One of a case's result messages reached the user: a redelivered finish will not send it again."""
        self.store.record_result_send(user_id, case_no, part, message_id)

    def remember(self, user_id: int, **meta: Any) -> None:
        """Keep front-end data (e.g. the Telegram message id of the dialogue) with the conversation."""
        self.store.update_meta(user_id, meta)

    def remember_shown(self, user_id: int, message_id: int, nonce: tuple[str, int] | None) -> None:
        """The dialog screen `nonce` is on the front end's message `message_id` (written with the
        front end's next record of handled updates: no transaction now)."""
        if nonce is not None:
            self.store.update_meta_later(user_id, nonce[0], {"message_id": message_id, "shown": list(nonce)})

    # -- moves ---------------------------------------------------------------------------------

    def _apply(self, state: Conversation, action: Move) -> Conversation:
        engine = self.engine
        match action:
            case Answer(option):
                new = engine.answer(state, option)
            case Toggle(option):
                return self._toggle(state, option)
            case Done():
                new = engine.answer(state, list(state.picked))
            case Back():
                new = engine.back(state)
            case Skip():
                new = engine.skip(state)
            case Cancel():
                new = engine.cancel(state)
            case Review():
                new = engine.show_review(state)
            case Change(question):
                new = engine.change(state, question)
            case Resume():
                new = engine.leave_review(state)
            case Finish():
                if not engine.complete(state):
                    raise Invalid("no_question")
                return state
            case _:
                raise Invalid("unknown_action")
        changed = new.answers.get(new.at) if self._is_multi(new) and new.changing else None
        return new.but(picked=list(changed or []))

    def _toggle(self, state: Conversation, option: str) -> Conversation:
        """Tick or untick an option of the multiple-choice question (an exclusive one stands alone)."""
        q = self.engine.question(state)
        if q is None or q.kind != "multi" or option not in q.option_index:
            raise Invalid("not_an_option", count=len(q.options) if q else 0)
        picked = list(state.picked)
        if option in picked:
            picked.remove(option)
        elif q.option_index[option].exclusive:
            picked = [option]
        else:
            picked = [p for p in picked if not q.option_index[p].exclusive] + [option]
        return state.but(picked=picked, step=state.step + 1)

    def _is_multi(self, state: Conversation) -> bool:
        q = self.engine.question(state)
        return q is not None and q.kind == "multi"

    def _finish(self, user_id: int, state: Conversation, update_id: int | None) -> Reply:
        lang = state.lang
        from .classifier import classify  # the result path, loaded on use

        answers = {q.id: value for q, value in self.engine.answered(state)}
        assessment = classify(self.flow, answers)
        # Answers given to an earlier version of the flow that it no longer asks stay with the case.
        final_state = state.but(answers={**state.earlier, **answers})
        case_no = self.store.save_case(
            user_id,
            final_state,
            assessment.to_dict(),
            answers.get("alias"),
            update_id=update_id,
            search_texts=self.flow.search_texts(answers),
        )
        if case_no is None:
            return self.result_again(user_id, state.cid) or self.redelivered(user_id)
        previous = self.case(user_id, state.previous) if state.previous else None
        screens = self.result_screens(lang, case_no, answers, assessment, user_id=user_id, previous=previous)
        return Reply(messages=screens, case_no=case_no, ended=True)

    # -- results -------------------------------------------------------------------------------
    # The screens themselves are `bot.result`'s (shared with the case book); here the case is read
    # for the user and the sender's profile joined.

    def result_screens(
        self,
        lang: str,
        case_no: int,
        answers: dict[str, Any],
        assessment: Assessment,
        *,
        user_id: int | None = None,
        previous: Case | None = None,
    ) -> list[Screen]:
        """The card, the advice and the first script (at most three messages)."""
        from .result import result_screens  # the result path, loaded on use

        sender = self.sender_profile(user_id) if user_id is not None else {}
        return result_screens(self.renderer, lang, case_no, self.flow.questions, answers, assessment, sender, previous)

    def script_variant(self, user_id: int, case_no: int, index: int, variant: str, form: str) -> Screen | None:
        """One script of a saved case in a variant and form; None if not the user's or out of range."""
        from .result import case_script  # the result path, loaded on use

        case = self.case(user_id, case_no)
        if case is None or variant not in VARIANTS or form not in FORMS:
            return None
        sender = self.sender_profile(user_id)
        return case_script(
            self.renderer, case.lang, case_no, case.answers, case.assessment, index, variant, form, sender
        )[0]

    def extra(self, user_id: int, action: Extra) -> list[Screen] | None:
        """An on-demand extra of a result; None if stale or not the user's."""
        from .result import extra  # the result path, loaded on use

        case = self.case(user_id, action.case_no)
        if case is None:
            return None
        return extra(self.renderer, case.lang, action.case_no, case.answers, case.assessment, action.what)

    # -- the sender's profile ------------------------------------------------------------------

    def sender_profile(self, user_id: int) -> dict[str, str]:
        """The user's sender profile: only known, non-empty fields."""
        from .sender import clean_profile  # the result path, loaded on use

        return clean_profile(self.store.sender_profile(user_id))

    def profile_screen(self, user_id: int, lang: str) -> Screen:
        """What is set (in this language), and how to set the rest."""
        from .sender import FIELDS as SENDER_FIELDS, in_language  # the result path, loaded on use

        fields = [f.id for f in SENDER_FIELDS]
        shown = in_language(self.sender_profile(user_id), lang, self.renderer.languages[lang].default)
        return Screen("profile", self.ui(lang, "profile_screen", fields, shown))

    def set_profile_field(self, user_id: int, field: str, raw: str, lang: str) -> Screen:
        """Set (or, with an empty value, clear) one field; on error a clear answer and no change."""
        from .sender import ProfileError, parse_field, with_field  # the result path, loaded on use

        try:
            field_id, value = parse_field(field, raw)
        except ProfileError as exc:
            return Screen(
                "notice", self.ui(lang, "profile_error", exc.key, exc.field, exc.params), meta={"error": exc.key}
            )
        default = self.renderer.languages[lang].default
        self.store.set_sender_profile(user_id, with_field(self.sender_profile(user_id), field_id, value, lang, default))
        return Screen("notice", self.ui(lang, "profile_set", field_id, value), meta={"field": field_id})


def open_coach(
    db_path: str | Path | None = None, flow_path: str | Path | None = None, surface: str = "telegram"
) -> Coach:
    """A Coach on the given database and flow (defaults: the default database, the bundled flow);
    `surface` is the front end its texts name commands for ("telegram" or "console")."""
    flow = load_flow(flow_path) if flow_path else None
    return Coach(Store.open(db_path), flow, Renderer(surface=surface, profiles=flow.profiles if flow else None))


__all__ = ["Coach", "Reply", "open_coach"]
