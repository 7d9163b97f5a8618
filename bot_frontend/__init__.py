"""The Telegram bot: a door that reads state and sends tasks by name, never writing itself.

`app.build_dispatcher` wires the routers (one per area under `routers/`) and the middlewares;
`__main__` runs it by long polling, or behind a webhook when BOT_WEBHOOK_URL is set.
"""
