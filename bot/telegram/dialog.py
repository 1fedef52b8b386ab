"""The questionnaire on Telegram: thin handlers, each turning a request (an update unpacked once,
see context.Request) into one Coach call.

The questionnaire is one message edited in place; results and scripts are new messages. Buttons
carry a nonce (the conversation id and step) so an old or repeated tap changes nothing; a callback
query is answered first, and a failed answer never skips the edit.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Message

from ..actions import Action, Back, Cancel, Extra, Finish, Move, Restart, Review, ScriptVariant, Step
from ..coach import Reply
from ..commands import named
from ..render import Screen
from .context import Request, handles
from .messages import (
    answer_query,
    button_actions,
    clean_text,
    edit,
    edit_in_chat,
    keyboard,
    send,
    strip_keyboard,
    tapped_message,
)
from .throughput import expected_delay  # how long the chat's send queue is

# A step whose edit will wait longer than this (the chat's pace) says so in the callback answer.
LATE_REPLY = 2.0

# The questionnaire moves a command makes, by the command's chat word (`bot.commands.Command.word`).
NAVIGATION: dict[str, Move] = {"cancel": Cancel(), "back": Back(), "review": Review()}


# -- pure helpers ------------------------------------------------------------------------------


def dialog_keyboard(screen: Screen, nonce: tuple[str, int] | None = None) -> InlineKeyboardMarkup | None:
    """A Coach screen's keyboard: questionnaire moves carry the nonce, every other action is complete."""
    if nonce is None:
        return keyboard(screen)

    def with_nonce(action: Action) -> Action:
        return Step(nonce[0], nonce[1], action) if isinstance(action, Move) else action

    return keyboard(screen, with_nonce)


def _command(req: Request) -> str:
    return (req.message.text or "").split()[0].lstrip("/").split("@")[0].lower()


def _shown_nonce(message: Message | None) -> tuple[str, int] | None:
    """The (conversation, step) the questionnaire buttons of a message carry, if it has any."""
    for action in button_actions(message):
        if isinstance(action, Step):
            return action.conversation, action.step
    return None


# -- showing replies ---------------------------------------------------------------------------


async def show(req: Request, reply: Reply, *, in_place: Message | None = None) -> None:
    """Show a Reply: the dialog (edited in place or sent anew), then the new messages.

    A step costs one throttled call: the edit, or (after a typed answer or a command) the new
    question. The old question's buttons are left as they are: their nonce makes them stale. A tap
    on an older copy of the question edits the newest copy instead (the live question stays the
    last one) and takes the tapped copy's buttons off. A result sent again sends only the messages
    that never reached the chat.
    """
    coach, bot, user_id, chat_id = req.coach, req.bot, req.user_id, req.chat_id
    if reply.dialog is not None:
        markup = dialog_keyboard(reply.dialog, reply.nonce)
        newer = reply.message_id if in_place is not None and (reply.message_id or 0) > in_place.message_id else None
        if in_place is not None and newer is None:
            await edit(in_place, reply.dialog, markup)
            coach.remember_shown(user_id, in_place.message_id, reply.nonce)
        elif (
            in_place is not None and newer is not None and await edit_in_chat(bot, chat_id, newer, reply.dialog, markup)
        ):
            coach.remember_shown(user_id, newer, reply.nonce)
            await strip_keyboard(bot, chat_id, in_place.message_id)
        else:
            sent = await send(bot, chat_id, reply.dialog, markup)
            coach.remember_shown(user_id, sent, reply.nonce)
    sent_before = coach.result_sent(user_id, reply.case_no) if reply.duplicate and reply.case_no else {}
    if reply.messages and len(sent_before) >= len(reply.messages):
        return  # the whole result reached the chat before: nothing again
    if reply.dialog is None and reply.ended and in_place is not None and not sent_before:
        await strip_keyboard(bot, chat_id, in_place.message_id)
    for part, screen in enumerate(reply.messages):
        if part in sent_before:
            continue
        message_id = await send(bot, chat_id, screen, dialog_keyboard(screen))
        if reply.case_no is not None:  # a result: recorded message by message, each sent once
            coach.record_result_sent(user_id, reply.case_no, part, message_id)


async def _send(req: Request, screen: Screen) -> None:
    await send(req.bot, req.chat_id, screen, dialog_keyboard(screen))


async def _notice(req: Request, name: str, *args: Any, lang: str | None = None) -> None:
    await _send(req, Screen("notice", req.coach.ui(lang or req.lang, name, *args)))


def dialog_lang(req: Request) -> str:
    """The open questionnaire's language, else the user's."""
    state, _ = req.coach.load(req.user_id)
    return state["lang"] if state else req.lang


def _late_notice(req: Request, dialog: Screen | None) -> str | None:
    """A toast saying the reply will be late, when the chat's send queue is long (else None)."""
    if dialog is None:
        return None
    delay = expected_delay(req.bot, req.chat_id)
    if delay < LATE_REPLY:
        return None
    return req.coach.ui(dialog_lang(req), "reply_late", max(1, round(delay)))


# -- commands and typed text -------------------------------------------------------------------


@handles
async def on_start(req: Request) -> None:
    """Say what the bot does and, if a questionnaire is open, offer to go on with it."""
    coach, lang = req.coach, req.lang
    await _notice(req, "welcome", lang=lang)
    state, _ = coach.load(req.user_id)
    if state is not None:
        await show(req, coach.show(req.user_id, lang))


@handles
async def on_new(req: Request) -> None:
    """Start a new questionnaire."""
    await show(req, req.coach.start(req.user_id, req.lang, req.update_id))


@handles
async def on_navigation(req: Request) -> None:
    """/annulla, /indietro, /rivedi: the navigation buttons as commands."""
    command = named(_command(req))  # registered only for the navigation commands (bot.commands)
    move = NAVIGATION[command.word or "" if command else ""]
    reply = req.coach.act(req.user_id, move, update_id=req.update_id, fallback_lang=req.client_lang)
    if reply.toast and reply.dialog is not None:
        reply = Reply(dialog=reply.dialog, nonce=reply.nonce)  # the error is inside the re-sent question
    await show(req, reply)


@handles
async def on_help(req: Request) -> None:
    """/aiuto: every command with its line, in the user's language (the same texts as the menu)."""
    lang = req.lang
    await _notice(req, "help", req.coach.renderer.languages.menu(lang), lang=lang)


@handles
async def on_privacy(req: Request) -> None:
    """/privacy: what is kept and how to delete it."""
    await _notice(req, "privacy")


@handles
async def on_language(req: Request) -> None:
    """/lingua <code>: remember the user's language (one of templates/<code>/language.yaml)."""
    choice = (req.context.args or [""])[0].lower()
    if choice not in req.coach.renderer.languages:
        await _notice(req, "language_usage")
        return
    req.coach.set_language(req.user_id, choice)
    await _notice(req, "language_set", lang=choice)


@handles
async def on_profile(req: Request) -> None:
    """/profilo: the user's own profile; /profilo <field> <value...> changes one field."""
    coach, user_id, lang = req.coach, req.user_id, req.lang
    words = clean_text(req.message.text).split(maxsplit=2)
    if len(words) < 2:
        screen = coach.profile_screen(user_id, lang)
    else:
        screen = coach.set_profile_field(user_id, words[1], words[2] if len(words) > 2 else "", lang)
    await _send(req, screen)


@handles
async def on_text(req: Request) -> None:
    """Typed text: the answer to the current question, or a hint when nothing is open."""
    text = clean_text(req.message.text)
    reply = req.coach.text(req.user_id, text, update_id=req.update_id, fallback_lang=req.client_lang)
    if reply.duplicate and reply.on_screen is not None:
        return  # applied before (a race with its first delivery), and its question is on screen
    await show(req, reply)


@handles
async def on_other_message(req: Request) -> None:
    """Stickers, photos, voice notes...: explain what the bot understands."""
    state, _ = req.coach.load(req.user_id)
    await _notice(req, "use_buttons" if state is not None else "stray_message")


@handles
async def on_unknown_command(req: Request) -> None:
    """A command the bot does not know: point to /aiuto."""
    await _notice(req, "unknown_command")


# -- buttons -----------------------------------------------------------------------------------


@handles
async def on_button(req: Request) -> None:
    """A tapped button: a questionnaire step, a script variant, more of a result, or a restart offer.
    The callback query is always answered before anything else is sent."""
    query, coach = req.button, req.coach
    match req.action:
        case Step() as tapped:
            await on_dialog_button(req, tapped)
        case ScriptVariant() as variant:
            await on_script_variant(req, variant)
        case Extra() as extra:
            await on_extra(req, extra)
        case Restart():
            await answer_query(query)
            message = tapped_message(query)
            reply = coach.start(req.user_id, req.lang, req.update_id)
            await show(req, reply, in_place=message)
            if message is not None:
                coach.remember(req.user_id, message_id=message.message_id, shown=list(reply.nonce or ()))
        case _:  # a bare move (no nonce), a case-book action gone astray, or junk
            await answer_query(query, coach.ui(req.lang, "stale_button"))


async def on_dialog_button(req: Request, tapped: Step) -> None:
    """One questionnaire step: apply it, answer the tap, edit the question in place (one call)."""
    query = req.button
    message = tapped_message(query)
    reply = req.coach.act(
        req.user_id,
        tapped.move,
        conversation=tapped.conversation,
        step=tapped.step,
        update_id=req.update_id,
        fallback_lang=req.client_lang,
        shown_on=message.message_id if message is not None else None,
    )
    if reply.dialog is None and reply.toast is not None:
        await on_stale_tap(req, tapped, reply.toast)
        return
    await answer_query(query, reply.toast or _late_notice(req, reply.dialog))
    if reply.duplicate and reply.dialog is not None and reply.on_screen == "sent":
        return  # applied before, and its screen is on screen: an edit could change nothing
    if reply.toast is None:  # a toast means "not allowed here": the question stays as it is
        await show(req, reply, in_place=message)


async def on_stale_tap(req: Request, tapped: Step, toast: str) -> None:
    """A tap that no longer matches the conversation's step.

    A question of the open questionnaire left behind what was saved (a restart between saving
    and editing, an older question above a typed answer) is brought up to date; a finish handled
    before a restart sends its result again; another questionnaire's buttons are switched off; a
    double tap on the current question just gets the toast.
    """
    query, coach, user_id = req.button, req.coach, req.user_id
    message = tapped_message(query)
    state, _ = coach.load(user_id)
    shown = _shown_nonce(message)
    conversation = tapped.conversation
    finish = state is None and isinstance(tapped.move, Finish)
    result = coach.result_again(user_id, conversation) if finish else None
    if result is not None and shown is not None and shown[0] == conversation:
        # The review still on screen: the result never reached it (a restart), so it comes now.
        await answer_query(query)
        await show(req, result, in_place=message)
        return
    now = (state.get("cid"), state["step"]) if state is not None else None
    if shown is not None and now is not None and shown != now and shown[0] == now[0] and message is not None:
        # A question of this questionnaire left behind (a restart may have left a copy): the newest
        # copy shows where it is now, unless it does already (then this older one just goes).
        current = coach.show(user_id, req.client_lang)
        newest = max(current.message_id or 0, message.message_id)
        if newest > message.message_id and current.on_screen is not None:
            await answer_query(query, toast)
            await strip_keyboard(req.bot, message.chat_id, message.message_id)
            return
        await answer_query(query)
        await show(req, current, in_place=message)
        return
    await answer_query(query, toast)
    if shown is not None and shown != now and message is not None:  # shown implies a message
        await strip_keyboard(req.bot, message.chat_id, message.message_id)


@handles
async def on_redelivered(req: Request) -> None:
    """An update handled before, sent again (by Telegram after a crash, by the inbox, or a replay):
    nothing is parsed or applied again; only what the user has not seen of it is shown, once."""
    coach, user_id, query = req.coach, req.user_id, req.query
    if query is None:  # a typed answer or a command: its question, if it never reached the chat
        reply = coach.redelivered(user_id)
        if reply.dialog is not None and reply.on_screen is None:
            await show(req, reply)
        return
    await answer_query(query)  # late, as expected: a DEBUG line if it fails
    tapped = req.action
    if not isinstance(tapped, Step):
        return  # a script variant, an extra, a case-book button: its reply went out before
    state, _ = coach.load(user_id)
    message = tapped_message(query)
    if state is None and isinstance(tapped.move, Finish):  # the result's messages still missing, if any
        result = coach.result_again(user_id, tapped.conversation)
        if result is not None:
            await show(req, result, in_place=message)
        return
    if state is None or state.get("cid") != tapped.conversation:
        return
    reply = coach.redelivered(user_id)
    if reply.dialog is not None and reply.on_screen != "sent":  # the step's edit may not have happened
        await show(req, reply, in_place=message)


async def on_script_variant(req: Request, variant: ScriptVariant) -> None:
    """Switch one script message to another variant or form of address, in place."""
    query, coach = req.button, req.coach
    screen = coach.script_variant(req.user_id, variant.case_no, variant.index, variant.variant, variant.form)
    message = tapped_message(query)
    if screen is None or message is None:
        await answer_query(query, coach.ui(req.lang, "stale_button"))
        return
    await answer_query(query)
    await edit(message, screen, dialog_keyboard(screen))


async def on_extra(req: Request, extra: Extra) -> None:
    """More of a result on demand (the rest of the scripts, the guide...), as new messages."""
    query, coach = req.button, req.coach
    screens = coach.extra(req.user_id, extra)
    if screens is None:
        await answer_query(query, coach.ui(req.lang, "stale_button"))
        return
    await answer_query(query)
    for screen in screens:
        await _send(req, screen)
