"""Queue the outbox effects a committed transaction produced, each to the task that does it."""

from __future__ import annotations

from collections.abc import Iterable

from infra import task_names
from models import outbox
from workers.context import Call, context

TASK_FOR_EFFECT = {
    outbox.SEND_MESSAGE: task_names.SEND_MESSAGE,
    outbox.SEND_BULK_MESSAGE: task_names.SEND_BULK_MESSAGE,
    outbox.GRANT_ACCESS: task_names.GRANT_INVITE,
}


def dispatch(effects: Iterable[tuple[int, str]]) -> None:
    """Queue `effects` in the order they were written; call only after their commit.

    A person must read one chat's messages in that order, so the effects to one chat run one
    after another (each linked to the one before), while different chats run in parallel.
    A task that ends "blocked" or "failed" returns, so the next one still runs; one that
    raises after its last retry leaves the rest pending, and the relay (payments.relay_inbox)
    queues them after EFFECT_RELAY_AFTER_SECONDS.
    """
    ctx = context()
    effects = list(effects)
    chats: dict[int, int | None] = {}
    if len(effects) > 1:  # a single effect has nothing to wait for: spare the query
        with ctx.sessions() as session:
            chats = outbox.chats_of(session, [effect_id for effect_id, _ in effects])
    in_chat: dict[object, list[Call]] = {}
    for effect_id, method in effects:
        chat = chats.get(effect_id)
        in_chat.setdefault(effect_id if chat is None else ("chat", chat), []).append(
            (TASK_FOR_EFFECT[method], (effect_id,)))
    for calls in in_chat.values():
        ctx.send_in_order(calls)
