"""Following a case's plan: "sent", the check that falls due, its answers, pause, skip, a new wait.

A mixin of the `CaseBook` (one concern per module), front-end neutral like the rest of it: each
method takes the user id, checks what it is given, calls the store (which scopes every query by the
user) and returns rendered `Screen`s. A screen that schedules a check carries it in
meta["reminder"] (a `DueReminder`), for the front end to arm, as `CaseBook.remind` does: a check is
a reminder that names its step, delivered once, re-armed at start, dropped with its case.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from ..actions import AnswerCheck, ListPage, MarkSent, OpenCase, PlanControl
from ..case import Case
from ..plans import BY_ACTION, CLOSE, END, REASSESS, CasePlan, Planned, plan_for, step_of
from ..render import Button, Screen
from ..result import DEFAULT_VARIANT, plan_text, script, script_form, script_screen, scripts_for
from ..sender import clean_profile
from ..store import DueReminder
from .parsing import CaseBookError, parse_case_no, parse_when

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import tzinfo

    from ..render import Renderer
    from ..store import Store

ACTION_VERSION = "done"  # what an action's "sent" records instead of a message's version and form


class FollowUps:
    """The plan of each case, followed (see the module's docstring)."""

    if TYPE_CHECKING:  # provided by CaseBook and CaseTexts
        store: Store
        renderer: Renderer
        clock: Callable[[], datetime]
        zone: tzinfo

        @property
        def channel(self) -> str: ...

        def lang_for(self, user_id: int, lang: str | None = None) -> str: ...

        def case(self, user_id: int, case_no: int | str) -> Case: ...

        def text(self, lang: str, name: str, *args: Any) -> Markup: ...

        def label(self, lang: str, name: str, *args: Any) -> str: ...

        def summary(self, case: Case) -> dict[str, Any]: ...

        def local(self, stamp: str) -> datetime: ...

    # -- what the plan is, where it stands ------------------------------------------------------

    @staticmethod
    def case_plan(case: Case) -> CasePlan:
        return plan_for(case.assessment, case.answers)

    def _offered(self, case: Case) -> list[str]:
        return [s.id for s in scripts_for(case.assessment, case.answers)]

    def plan_position(self, user_id: int, case: Case, plan: CasePlan) -> tuple[Planned | None, str]:
        """The step the plan is at and its state: the first step until something is done; None once it ended."""
        state = self.store.plan_state(user_id, case.case_no)
        if state is None:
            return plan.first, "proposed"
        return (None if state["state"] == "ended" else plan.get(state["step"])), state["state"]

    def _step_of(self, plan: CasePlan, does: str) -> Planned | None:
        """The case's step that sends `does`: its own, or the step whose alternative it is."""
        declared = step_of(does)
        return plan.for_message(does) or (plan.get(declared.id) if declared else None)

    # -- sent ---------------------------------------------------------------------------------

    def mark_sent(
        self,
        user_id: int,
        case_no: int | str,
        which: str | None = None,
        variant: str = DEFAULT_VARIANT,
        form: str | None = None,
        lang: str | None = None,
    ) -> Screen:
        """Record that a message of the case went out (`which`: its number among the case's messages,
        its id, or None for the step the plan is at; an action's id records it done). When it is a
        step of the plan, its check is scheduled (meta["reminder"])."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no, plan = case.case_no, self.case_plan(case)
        offered = self._offered(case)
        if which is None:
            planned, _ = self.plan_position(user_id, case, plan)
            if planned is None:
                raise CaseBookError("plan_over", no=no)
            does = planned.does
        elif which.isdecimal():
            if not 1 <= int(which) <= len(offered):
                raise CaseBookError("unknown_message", no=no, index=int(which), count=len(offered))
            does = offered[int(which) - 1]
        elif which in offered or plan.for_message(which) is not None:
            does = which
        else:
            raise CaseBookError("unknown_action")
        step = self._step_of(plan, does)
        now = self.clock()
        due = plan.due(step, now) if step is not None else None
        version = ACTION_VERSION if does in BY_ACTION else f"{variant}:{form or script_form(case.answers)}"
        check = self.store.record_sent(user_id, no, step.id if step else None, does, version, due, self.channel, now)
        if check is None:
            raise CaseBookError("unknown_case", no=no)
        title = self._title(lang, case, plan, step, does)
        if check < 0:  # marked sent a moment ago: the same send, its check already set
            pending = self.store.pending_check(user_id, no)
            when = self.local(pending["due"]) if pending else due
            return Screen(
                "notice", self.text(lang, "sent_recorded", no, title, when, does in BY_ACTION), meta={"case_no": no}
            )
        if step is None or due is None:
            return Screen("notice", self.text(lang, "sent_outside_plan", no, title), meta={"case_no": no})
        text = self.text(lang, "sent_recorded", no, title, due.astimezone(self.zone), does in BY_ACTION)
        buttons = ((Button(self.label(lang, "button_pause"), PlanControl(no, "pause")), self._open(lang, no)),)
        meta = {"case_no": no, "reminder": DueReminder(check, user_id, no, due), "step": step.id}
        return Screen("notice", text, buttons, meta)

    def _title(self, lang: str, case: Case, plan: CasePlan, step: Planned | None, does: str) -> str:
        if does in BY_ACTION:
            return self.renderer.ui(lang, "action_short", does)
        answers = plan.message_answers(step) if step is not None else case.answers
        form = script_form(case.answers)
        return script(self.renderer, lang, does, answers, case.assessment, DEFAULT_VARIANT, form)[0]

    def plan_event(self, lang: str, case: Case, plan: CasePlan, event: dict[str, Any]) -> dict[str, Any]:
        """A timeline entry of the plan with what its text needs: the title of the step's message, the
        version sent, whether the step was about money, the new check time."""
        kind, step_id, after = event["kind"], event.get("before"), event.get("after")
        if kind not in ("sent", "answer", "skipped", "check_fired", "wait"):
            return event
        planned = plan.get(step_id)
        does = after.split(":")[0] if kind == "sent" and after else planned.does if planned else None
        extra: dict[str, Any] = {"money": bool(planned and "paid" in planned.then), "version": None}
        if does is not None:
            extra["title"] = self._title(lang, case, plan, planned, does)
        else:
            extra["title"] = step_id or ""
        if kind == "sent" and after and after.count(":") == 2 and does not in BY_ACTION:
            variant, form = after.split(":")[1:]
            extra["version"] = (
                f"{self.renderer.ui(lang, f'variant_{variant}')}, {self.renderer.ui(lang, f'form_{form}')}"
            )
        if kind == "wait" and after:
            extra["due"] = self.local(after)
        return {**event, **extra}

    def _open(self, lang: str, no: int) -> Button:
        return Button(self.label(lang, "button_open", no), OpenCase(no))

    # -- the check ----------------------------------------------------------------------------

    def check_message(self, user_id: int, case: Case, step_id: str, lang: str) -> Screen:
        """What a check says when it falls due: what was sent and when, and a button per answer."""
        no, plan = case.case_no, self.case_plan(case)
        planned = plan.get(step_id)
        sent = [e for e in self.store.timeline(user_id, no) if e["kind"] == "sent" and e["before"] == step_id]
        does = planned.does if planned else (sent[-1]["after"].split(":")[0] if sent else step_id)
        title = self._title(lang, case, plan, planned, does)
        when = self.local(sent[-1]["at"]) if sent else None
        money = bool(planned and "paid" in planned.then)
        answers = planned.answers if planned else ()
        typed = {meaning: word for word, meaning in reversed(self.renderer.languages[lang].words["answers"].items())}
        words = [{"word": typed[a], "label": self.renderer.ui(lang, "answer", a, money)} for a in answers]
        text = self.renderer.render(
            f"{lang}/cases/check.html.j2",
            **self.summary(case),
            title=title,
            sent=when,
            action=does in BY_ACTION,
            words=words,
        )
        buttons = [
            Button(self.renderer.ui(lang, "answer_button", a, money), AnswerCheck(no, step_id, a)) for a in answers
        ]
        rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
        rows.append((Button(self.label(lang, "button_pause"), PlanControl(no, "pause")), self._open(lang, no)))
        return Screen("check", text, tuple(rows), {"case_no": no, "step": step_id, "answers": list(answers)})

    def answer_check(
        self, user_id: int, case_no: int | str, step_id: str, answer: str, lang: str | None = None
    ) -> list[Screen]:
        """How a step went: the plan moves to what the answer leads to (the next step's message,
        ready to send; an outcome, recorded; or its end)."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no, plan = case.case_no, self.case_plan(case)
        planned = plan.get(step_id)
        if planned is None or answer not in planned.then:
            raise CaseBookError("unknown_action")
        target = planned.then[answer]
        following = plan.get(target)
        outcome = target[len(CLOSE) :] if target.startswith(CLOSE) else None
        moved = self.store.record_answer(
            user_id,
            no,
            step_id,
            answer,
            following.id if following else None,
            following.does if following else None,
            self.clock(),
            outcome=outcome,
        )
        if not moved:
            raise CaseBookError("check_answered", no=no)
        kind = "close" if outcome else "step" if following else target if target in (END, REASSESS) else END
        text = self.text(lang, "check_answered_now", no, answer, kind, outcome)
        screens = [Screen("notice", text, meta={"case_no": no, "answer": answer, "outcome": outcome})]
        if following is not None:
            screens.append(self.step_screen(user_id, case, plan, following, lang))
        return screens

    def step_screen(self, user_id: int, case: Case, plan: CasePlan, planned: Planned, lang: str) -> Screen:
        """The step the plan proposes, ready: its message (with "Sent" and the usual versions when the
        result offers it) or its action (with "Done"), and buttons to skip it or pause the plan."""
        no = case.case_no
        controls = (
            Button(self.label(lang, "button_skip"), PlanControl(no, "skip")),
            Button(self.label(lang, "button_pause"), PlanControl(no, "pause")),
        )
        if planned.does in BY_ACTION:
            action = self.text(lang, "step_action", no, self.renderer.ui(lang, "action_title", planned.does))
            done = Button(self.renderer.ui(lang, "button_done"), MarkSent(no, planned.does, DEFAULT_VARIANT, "tu"))
            return Screen("step", action, ((done,), controls), {"case_no": no, "step": planned.id})
        assessment, answers = case.assessment, case.answers
        form = script_form(answers)
        sender = clean_profile(self.store.sender_profile(user_id))
        offered = scripts_for(assessment, answers)
        ids = [s.id for s in offered]
        if planned.does in ids:
            index = ids.index(planned.does) + 1
            screen = script_screen(
                self.renderer,
                case.lang,
                offered[index - 1],
                index,
                len(ids),
                answers,
                assessment,
                DEFAULT_VARIANT,
                form,
                no,
                sender,
            )
            return Screen(
                "step", screen.text, (*screen.buttons, controls), {**screen.meta, "case_no": no, "step": planned.id}
            )
        # A message the plan brings on later (a firmer reminder, once the first went out): written
        # from the answers as they stand by then.
        title, note, body = script(
            self.renderer,
            case.lang,
            planned.does,
            plan.message_answers(planned),
            assessment,
            DEFAULT_VARIANT,
            form,
            sender,
        )
        text = self.renderer.render(
            f"{case.lang}/script.html.j2",
            title=title,
            note=Markup(note),
            body=Markup(body),
            variant=DEFAULT_VARIANT,
            form=form,
            index=plan.course().index(planned) + 1 if planned in plan.course() else 1,
            total=len(plan.course()),
            formal=False,
        )
        sent = Button(self.renderer.ui(lang, "button_sent"), MarkSent(no, planned.does, DEFAULT_VARIANT, form))
        return Screen("step", text, ((sent,), controls), {"case_no": no, "step": planned.id, "script": planned.does})

    # -- pause, skip, another wait ------------------------------------------------------------

    def control_plan(self, user_id: int, case_no: int | str, what: str, lang: str | None = None) -> list[Screen]:
        """Pause the plan, resume it, skip the step it is at, or show it."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no, plan = case.case_no, self.case_plan(case)
        if what == "show":
            return [self.plan_view(user_id, no, lang)]
        planned, state = self.plan_position(user_id, case, plan)
        if planned is None:
            raise CaseBookError("plan_over", no=no)
        if what == "pause":
            if not self.store.pause_plan(user_id, no, planned.id, planned.does, self.clock()):
                raise CaseBookError("plan_not_running", no=no)
            resume = Button(self.label(lang, "button_resume"), PlanControl(no, "resume"))
            return [Screen("notice", self.text(lang, "plan_paused", no), ((resume,),), {"case_no": no})]
        if what == "resume":
            due = plan.due(planned, self.clock())
            check = self.store.resume_plan(user_id, no, due, self.channel, self.clock())
            if check is None:
                raise CaseBookError("plan_not_paused", no=no)
            meta: dict[str, Any] = {"case_no": no}
            if check:
                meta["reminder"] = DueReminder(check, user_id, no, due)
            return [
                Screen(
                    "notice",
                    self.text(lang, "plan_resumed", no, due.astimezone(self.zone) if check else None),
                    meta=meta,
                )
            ]
        if what == "skip":
            following = plan.get(planned.then.get("no_answer", END))
            self.store.skip_step(
                user_id,
                no,
                planned.id,
                following.id if following else None,
                following.does if following else None,
                self.clock(),
            )
            screens = [
                Screen("notice", self.text(lang, "step_skipped", no, following is not None), meta={"case_no": no})
            ]
            if following is not None:
                screens.append(self.step_screen(user_id, case, plan, following, lang))
            return screens
        raise CaseBookError("unknown_action")

    def change_wait(self, user_id: int, case_no: int | str, when: str, lang: str | None = None) -> Screen:
        """The check of the step waiting comes at another time (a duration or a date, as a reminder's)."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        due = parse_when(when, self.clock(), self.zone)
        self.case(user_id, number)
        check = self.store.move_check(user_id, number, due, self.channel, self.clock())
        if check is None:
            raise CaseBookError("plan_not_waiting", no=number)
        text = self.text(lang, "wait_changed", number, due.astimezone(self.zone))
        return Screen("notice", text, meta={"case_no": number, "reminder": DueReminder(check, user_id, number, due)})

    def plan_view(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """The case's plan as the result showed it, with where it stands now and buttons to go on."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no, plan = case.case_no, self.case_plan(case)
        planned, state = self.plan_position(user_id, case, plan)
        pending = self.store.pending_check(user_id, no)
        offered = self._offered(case)
        first = offered.index(plan.first.does) + 1 if plan.first and plan.first.does in offered else None
        started = self.store.plan_state(user_id, no) is not None  # then "where it stands" says what to do
        form = script_form(case.answers)
        outline = plan_text(self.renderer, lang, plan, case.assessment, form, no, first, how_to=not started)
        where = self.text(
            lang,
            "plan_state",
            no,
            state,
            self._title(lang, case, plan, planned, planned.does) if planned else None,
            self.local(pending["due"]) if pending else None,
        )
        buttons: list[Button] = []
        if state == "paused":
            buttons.append(Button(self.label(lang, "button_resume"), PlanControl(no, "resume")))
        elif planned is not None:
            buttons += [
                Button(self.label(lang, "button_skip"), PlanControl(no, "skip")),
                Button(self.label(lang, "button_pause"), PlanControl(no, "pause")),
            ]
        rows = (tuple(buttons), (self._open(lang, no), Button(self.label(lang, "button_list"), ListPage(1))))
        return Screen("plan", f"{outline}\n\n{where}", tuple(r for r in rows if r), {"case_no": no, "state": state})


__all__ = ["ACTION_VERSION", "FollowUps"]
