"""The questionnaire on Telegram: thin handlers, each turning an update into one Coach call.

The questionnaire is one message edited in place; results and scripts are new messages. Buttons
carry a nonce (the conversation id and step) so an old or repeated tap changes nothing; a callback
query is answered first, and a failed answer never skips the edit.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update

from ..actions import Action, Back, Cancel, Extra, Finish, Move, Restart, Review, ScriptVariant, Step, decode
from ..coach import Reply
from ..commands import named
from ..render import Screen
from .context import CoachContext, button_query, incoming_message, private_chat_id, sender_id, user_lang
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


def _command(update: Update) -> str:
    return (incoming_message(update).text or "").split()[0].lstrip("/").split("@")[0].lower()


def _shown_nonce(message: Message | None) -> tuple[str, int] | None:
    """The (conversation, step) the questionnaire buttons of a message carry, if it has any."""
    for action in button_actions(message):
        if isinstance(action, Step):
            return action.conversation, action.step
    return None


# -- showing replies ---------------------------------------------------------------------------


async def show(update: Update, context: CoachContext, reply: Reply, *, in_place: Message | None = None) -> None:
    """Show a Reply: the dialog (edited in place or sent anew), then the new messages.

    A step costs one throttled call: the edit, or (after a typed answer or a command) the new
    question. The old question's buttons are left as they are: their nonce makes them stale. A tap
    on an older copy of the question edits the newest copy instead (the live question stays the
    last one) and takes the tapped copy's buttons off. A result sent again sends only the messages
    that never reached the chat.
    """
    coach, user_id, chat_id = context.coach, sender_id(update), private_chat_id(update)
    if reply.dialog is not None:
        markup = dialog_keyboard(reply.dialog, reply.nonce)
        newer = reply.message_id if in_place is not None and (reply.message_id or 0) > in_place.message_id else None
        if in_place is not None and newer is None:
            await edit(in_place, reply.dialog, markup)
            coach.remember_shown(user_id, in_place.message_id, reply.nonce)
        elif (
            in_place is not None
            and newer is not None
            and await edit_in_chat(context.bot, chat_id, newer, reply.dialog, markup)
        ):
            coach.remember_shown(user_id, newer, reply.nonce)
            await strip_keyboard(context.bot, chat_id, in_place.message_id)
        else:
            sent = await send(context.bot, chat_id, reply.dialog, markup)
            coach.remember_shown(user_id, sent, reply.nonce)
    sent_before = coach.result_sent(user_id, reply.case_no) if reply.duplicate and reply.case_no else {}
    if reply.messages and len(sent_before) >= len(reply.messages):
        return  # the whole result reached the chat before: nothing again
    if reply.dialog is None and reply.ended and in_place is not None and not sent_before:
        await strip_keyboard(context.bot, chat_id, in_place.message_id)
    for part, screen in enumerate(reply.messages):
        if part in sent_before:
            continue
        message_id = await send(context.bot, chat_id, screen, dialog_keyboard(screen))
        if reply.case_no is not None:  # a result: recorded message by message, each sent once
            coach.record_result_sent(user_id, reply.case_no, part, message_id)


async def _send(update: Update, context: CoachContext, screen: Screen) -> None:
    await send(context.bot, private_chat_id(update), screen, dialog_keyboard(screen))


async def _notice(update: Update, context: CoachContext, name: str, *args: Any, lang: str | None = None) -> None:
    await _send(update, context, Screen("notice", context.coach.ui(lang or context.lang(update), name, *args)))


def dialog_lang(update: Update, context: CoachContext) -> str:
    """The open questionnaire's language, else the user's."""
    state, _ = context.coach.load(sender_id(update))
    return state["lang"] if state else context.lang(update)


def _late_notice(update: Update, context: CoachContext, dialog: Screen | None) -> str | None:
    """A toast saying the reply will be late, when the chat's send queue is long (else None)."""
    if dialog is None:
        return None
    delay = expected_delay(context.bot, private_chat_id(update))
    if delay < LATE_REPLY:
        return None
    return context.coach.ui(dialog_lang(update, context), "reply_late", max(1, round(delay)))


# -- commands and typed text -------------------------------------------------------------------


async def on_start(update: Update, context: CoachContext) -> None:
    """Say what the bot does and, if a questionnaire is open, offer to go on with it."""
    coach, lang = context.coach, context.lang(update)
    await _notice(update, context, "welcome", lang=lang)
    state, _ = coach.load(sender_id(update))
    if state is not None:
        await show(update, context, coach.show(sender_id(update), lang))


async def on_new(update: Update, context: CoachContext) -> None:
    """Start a new questionnaire."""
    await show(update, context, context.coach.start(sender_id(update), context.lang(update), update.update_id))


async def on_navigation(update: Update, context: CoachContext) -> None:
    """/annulla, /indietro, /rivedi: the navigation buttons as commands."""
    command = named(_command(update))  # registered only for the navigation commands (bot.commands)
    move, user_id = NAVIGATION[command.word or "" if command else ""], sender_id(update)
    reply = context.coach.act(user_id, move, update_id=update.update_id, fallback_lang=user_lang(update))
    if reply.toast and reply.dialog is not None:
        reply = Reply(dialog=reply.dialog, nonce=reply.nonce)  # the error is inside the re-sent question
    await show(update, context, reply)


async def on_help(update: Update, context: CoachContext) -> None:
    """/aiuto: every command with its line, in the user's language (the same texts as the menu)."""
    lang = context.lang(update)
    await _notice(update, context, "help", context.coach.renderer.languages.menu(lang), lang=lang)


async def on_privacy(update: Update, context: CoachContext) -> None:
    """/privacy: what is kept and how to delete it."""
    await _notice(update, context, "privacy")


async def on_language(update: Update, context: CoachContext) -> None:
    """/lingua <code>: remember the user's language (one of templates/<code>/language.yaml)."""
    choice = (context.args or [""])[0].lower()
    if choice not in context.coach.renderer.languages:
        await _notice(update, context, "language_usage")
        return
    context.coach.set_language(sender_id(update), choice)
    await _notice(update, context, "language_set", lang=choice)


async def on_profile(update: Update, context: CoachContext) -> None:
    """/profilo: the user's own profile; /profilo <field> <value...> changes one field."""
    coach, user_id, lang = context.coach, sender_id(update), context.lang(update)
    words = clean_text(incoming_message(update).text).split(maxsplit=2)
    if len(words) < 2:
        screen = coach.profile_screen(user_id, lang)
    else:
        screen = coach.set_profile_field(user_id, words[1], words[2] if len(words) > 2 else "", lang)
    await _send(update, context, screen)


async def on_text(update: Update, context: CoachContext) -> None:
    """Typed text: the answer to the current question, or a hint when nothing is open."""
    text = clean_text(incoming_message(update).text)
    user_id, update_id, fallback = sender_id(update), update.update_id, user_lang(update)
    reply = context.coach.text(user_id, text, update_id=update_id, fallback_lang=fallback)
    if reply.duplicate and reply.on_screen is not None:
        return  # applied before (a race with its first delivery), and its question is on screen
    await show(update, context, reply)


async def on_other_message(update: Update, context: CoachContext) -> None:
    """Stickers, photos, voice notes...: explain what the bot understands."""
    state, _ = context.coach.load(sender_id(update))
    await _notice(update, context, "use_buttons" if state is not None else "stray_message")


async def on_unknown_command(update: Update, context: CoachContext) -> None:
    """A command the bot does not know: point to /aiuto."""
    await _notice(update, context, "unknown_command")


# -- buttons -----------------------------------------------------------------------------------


async def on_button(update: Update, context: CoachContext) -> None:
    """A tapped button: a questionnaire step, a script variant, more of a result, or a restart offer.
    The callback query is always answered before anything else is sent."""
    query = button_query(update)
    coach, user_id = context.coach, sender_id(update)
    match decode(clean_text(query.data)):
        case Step() as tapped:
            await on_dialog_button(update, context, tapped)
        case ScriptVariant() as variant:
            await on_script_variant(update, context, variant)
        case Extra() as extra:
            await on_extra(update, context, extra)
        case Restart():
            await answer_query(query)
            message = tapped_message(query)
            reply = coach.start(user_id, context.lang(update), update.update_id)
            await show(update, context, reply, in_place=message)
            if message is not None:
                coach.remember(user_id, message_id=message.message_id, shown=list(reply.nonce or ()))
        case _:  # a bare move (no nonce), a case-book action gone astray, or junk
            await answer_query(query, coach.ui(context.lang(update), "stale_button"))


async def on_dialog_button(update: Update, context: CoachContext, tapped: Step) -> None:
    """One questionnaire step: apply it, answer the tap, edit the question in place (one call)."""
    query, coach, user_id = button_query(update), context.coach, sender_id(update)
    message = tapped_message(query)
    reply = coach.act(
        user_id,
        tapped.move,
        conversation=tapped.conversation,
        step=tapped.step,
        update_id=update.update_id,
        fallback_lang=user_lang(update),
        shown_on=message.message_id if message is not None else None,
    )
    if reply.dialog is None and reply.toast is not None:
        await on_stale_tap(update, context, tapped, reply.toast)
        return
    await answer_query(query, reply.toast or _late_notice(update, context, reply.dialog))
    if reply.duplicate and reply.dialog is not None and reply.on_screen == "sent":
        return  # applied before, and its screen is on screen: an edit could change nothing
    if reply.toast is None:  # a toast means "not allowed here": the question stays as it is
        await show(update, context, reply, in_place=message)


async def on_stale_tap(update: Update, context: CoachContext, tapped: Step, toast: str) -> None:
    """A tap that no longer matches the conversation's step.

    A question of the open questionnaire left behind what was saved (a restart between saving
    and editing, an older question above a typed answer) is brought up to date; a finish handled
    before a restart sends its result again; another questionnaire's buttons are switched off; a
    double tap on the current question just gets the toast.
    """
    query, coach, user_id = button_query(update), context.coach, sender_id(update)
    message = tapped_message(query)
    state, _ = coach.load(user_id)
    shown = _shown_nonce(message)
    conversation = tapped.conversation
    finish = state is None and isinstance(tapped.move, Finish)
    result = coach.result_again(user_id, conversation) if finish else None
    if result is not None and shown is not None and shown[0] == conversation:
        # The review still on screen: the result never reached it (a restart), so it comes now.
        await answer_query(query)
        await show(update, context, result, in_place=message)
        return
    now = (state.get("cid"), state["step"]) if state is not None else None
    if shown is not None and now is not None and shown != now and shown[0] == now[0] and message is not None:
        # A question of this questionnaire left behind (a restart may have left a copy): the newest
        # copy shows where it is now, unless it does already (then this older one just goes).
        current = coach.show(user_id, user_lang(update))
        newest = max(current.message_id or 0, message.message_id)
        if newest > message.message_id and current.on_screen is not None:
            await answer_query(query, toast)
            await strip_keyboard(context.bot, message.chat_id, message.message_id)
            return
        await answer_query(query)
        await show(update, context, current, in_place=message)
        return
    await answer_query(query, toast)
    if shown is not None and shown != now and message is not None:  # shown implies a message
        await strip_keyboard(context.bot, message.chat_id, message.message_id)


async def on_redelivered(update: Update, context: CoachContext) -> None:
    """An update handled before, sent again (by Telegram after a crash, by the inbox, or a replay):
    nothing is parsed or applied again; only what the user has not seen of it is shown, once."""
    coach, user_id = context.coach, sender_id(update)
    query = update.callback_query
    if query is None:  # a typed answer or a command: its question, if it never reached the chat
        reply = coach.redelivered(user_id)
        if reply.dialog is not None and reply.on_screen is None:
            await show(update, context, reply)
        return
    await answer_query(query)  # late, as expected: a DEBUG line if it fails
    tapped = decode(clean_text(query.data))
    if not isinstance(tapped, Step):
        return  # a script variant, an extra, a case-book button: its reply went out before
    state, _ = coach.load(user_id)
    message = tapped_message(query)
    if state is None and isinstance(tapped.move, Finish):  # the result's messages still missing, if any
        result = coach.result_again(user_id, tapped.conversation)
        if result is not None:
            await show(update, context, result, in_place=message)
        return
    if state is None or state.get("cid") != tapped.conversation:
        return
    reply = coach.redelivered(user_id)
    if reply.dialog is not None and reply.on_screen != "sent":  # the step's edit may not have happened
        await show(update, context, reply, in_place=message)


async def on_script_variant(update: Update, context: CoachContext, variant: ScriptVariant) -> None:
    """Switch one script message to another variant or form of address, in place."""
    query, coach = button_query(update), context.coach
    user_id = sender_id(update)
    screen = coach.script_variant(user_id, variant.case_no, variant.index, variant.variant, variant.form)
    message = tapped_message(query)
    if screen is None or message is None:
        await answer_query(query, coach.ui(context.lang(update), "stale_button"))
        return
    await answer_query(query)
    await edit(message, screen, dialog_keyboard(screen))


async def on_extra(update: Update, context: CoachContext, extra: Extra) -> None:
    """More of a result on demand (the rest of the scripts, the guide...), as new messages."""
    query, coach = button_query(update), context.coach
    screens = coach.extra(sender_id(update), extra)
    if screens is None:
        await answer_query(query, coach.ui(context.lang(update), "stale_button"))
        return
    await answer_query(query)
    for screen in screens:
        await _send(update, context, screen)
