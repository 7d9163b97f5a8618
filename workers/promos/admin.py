"""Admin use cases for promo codes: /promo_add, /promo_off, /promo_on, /promo_delete.

Like every admin command (workers/admin/service.py) each is applied once: its reply to the
admin is claimed first, keyed by the admin's message, and every change is in the history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from models.domain import promo as rules
from models.history import record_history
from models.schema import Plan, PromoCode
from workers.admin.service import Command, Done, admin_reply, claim_reply
from workers.promos import service


def add(session: Session, *, command: Command, spec: rules.PromoSpec, now: datetime) -> Done:
    """Create a code, unless a live one has its name or it names a plan that is not on sale."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    on_sale = frozenset(session.scalars(select(Plan.code).where(Plan.active.is_(True))))
    unknown = rules.unknown_plans(spec, plans_on_sale=on_sale)
    if unknown:
        text = texts.promo_unknown_plans(plans=unknown, on_sale=sorted(on_sale))
        return Done(admin_reply(session, reply, command=command, text=text))
    offer = spec.offer
    created = insert_ignore(
        session, PromoCode,
        {"code": spec.code, "kind": offer.kind.value, "percent_off": offer.percent_off,
         "amount_off": offer.amount_off, "gift_days": offer.gift_days,
         "max_uses": spec.max_uses, "uses": 0, "ends_at": spec.ends_at,
         "plans": ",".join(spec.plans) if spec.plans else None, "new_only": spec.new_only,
         "active": True, "created_by": command.actor_id, "created_at": now,
         "updated_at": now},
        conflict=["code"], where=service.LIVE)
    if not created:
        text = texts.promo_exists(code=spec.code)
    else:
        record_history(session, user_id=command.actor_id, action="promo_added",
                       source="admin", now=now, actor_id=command.actor_id,
                       command=command.text, details={"code": spec.code})
        text = texts.promo_added(code=spec.code, offer=service.describe(offer))
    return Done(admin_reply(session, reply, command=command, text=text))


def _change(session: Session, *, command: Command, code: str, now: datetime, action: str,
            change: Callable[[PromoCode], str]) -> Done:
    """Apply `change` to the live code once (it returns the reply) and record `action`."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    row = service.locked_code(session, code)
    if row is None:
        return Done(admin_reply(session, reply, command=command,
                                text=texts.promo_not_found(code=code)))
    text = change(row)
    row.updated_at = now
    record_history(session, user_id=command.actor_id, action=action, source="admin", now=now,
                   actor_id=command.actor_id, command=command.text, details={"code": code})
    return Done(admin_reply(session, reply, command=command, text=text))


def set_active(session: Session, *, command: Command, code: str, active: bool,
               now: datetime) -> Done:
    """Pause (no new redemptions, no discount on new invoices) or resume a code."""
    def switch(row: PromoCode) -> str:
        row.active = active
        return texts.promo_state_set(code=code, active=active)

    return _change(session, command=command, code=code, now=now, change=switch,
                   action="promo_resumed" if active else "promo_paused")


def delete(session: Session, *, command: Command, code: str, now: datetime) -> Done:
    """Delete a code: it stops at once; its row and redemptions stay for the history."""
    def remove(row: PromoCode) -> str:
        row.active, row.deleted_at = False, now
        return texts.promo_deleted(code=code)

    return _change(session, command=command, code=code, now=now, change=remove,
                   action="promo_deleted")
