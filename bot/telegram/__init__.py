"""The Telegram front end, on python-telegram-bot 22: one module per concern, imported one way.

    app         wiring: build_application, run polling or a webhook, signals
    dialog      the questionnaire, results and scripts, /nuovo /lingua /profilo ...
    cases       the case book: /storico /caso ..., its buttons, reminders on the JobQueue
    guard       who may talk to the bot, and what a failed handler tells the user
    updates     fetching updates under faults: the ledger, the polling bot, the Application
    webhook     the tornado webhook server
    throughput  updates in parallel (in order per chat) and the fair rate limiter
    messages    the one message manager: send, edit, strip a keyboard, split, "not modified"
    context     typed services for the handlers (context.coach, .casebook, .settings)

This file imports nothing, so importing one module never drags in (or cycles back to) the rest.
"""
