"""Callback data shared by the workers' messages and the bot's handlers, in one place.

A worker writes a button into an outbox message (models/outbox.queue_message); the bot answers
when it is pressed. Neither door imports the other side, so the value lives here, below both.
"""

from __future__ import annotations

# "Renew": shows the plans on sale (bot_frontend.keyboards.ShowPlans packs to this).
SHOW_PLANS = "plans"
# What expiry notices and reminders carried before they used SHOW_PLANS: those messages stay
# in subscribers' chats for ever, so the bot still answers it.
LEGACY_RENEW = "renew"

# Buttons on a broadcast's progress message (bot_frontend.keyboards.StopBroadcast and
# ResumeBroadcast pack to "<prefix>:<broadcast id>").
BROADCAST_STOP = "bcast_stop"
BROADCAST_RESUME = "bcast_resume"


def broadcast_keyboard(prefix: str, broadcast_id: int, *, text: str) -> list[list[dict[str, str]]]:
    """One button acting on one broadcast, in the outbox's button format."""
    return [[{"text": text, "data": f"{prefix}:{broadcast_id}"}]]
