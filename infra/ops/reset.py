"""`reset-sandbox --yes`: the database's half of the sandbox page's "Reset world".

The Telegram stand-in runs it before forgetting its own world and resets nothing if it fails,
so both sides are reset or neither. Refused outside sandbox mode: with a real bot, real people
and real money are in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime

from infra.ops.tools import OK, REFUSED, USAGE, OpsError, Tools
from infra.texts import count
from models.sandbox_reset import forget_subscribers


def reset_sandbox(tools: Tools, *, confirmed: bool) -> int:
    if not tools.settings.telegram_sandbox:
        raise OpsError("refused: reset-sandbox runs only in sandbox mode (BOT_TOKEN is set, so "
                       "these are real subscribers)", code=REFUSED)
    if not confirmed:
        raise OpsError("reset-sandbox forgets every subscriber, payment and balance: "
                       "add --yes to confirm", code=USAGE)
    with tools.sessions.begin() as session:
        summary = forget_subscribers(session, now=datetime.now(UTC))
    tools.say(f"database reset: {count(summary.users, 'subscriber')} forgotten "
              f"({summary.rows} rows; plans and the access history kept)")
    return OK
