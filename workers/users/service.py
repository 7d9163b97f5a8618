"""Subscriber use cases the bot starts: register, accept the terms, free trial, resend invite.

Each runs in the caller's transaction and returns the outbox effects it wrote; the task
dispatches them after the commit. Safe to run twice: the user row is an upsert, the referral
is first-touch by its primary key, and the trial is guarded by `trial_used_at` on a locked row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from infra.i18n import SUPPORTED
from models import outbox
from models.domain import access as rules
from models.history import record_history
from models.outbox import Effects
from models.outbox import queue_message as message
from models.schema import Invoice, Referral, TelegramEffect, User
from workers.access.service import as_rule, locked_access, store
from workers.languages import speaking_to


def trial_refusal_text(reason: rules.TrialRefusal) -> str:
    """Why no trial, in the language of the moment."""
    return {rules.TrialRefusal.ALREADY_USED: texts.TRIAL_ALREADY_USED,
            rules.TrialRefusal.HAS_ACCESS: texts.TRIAL_HAS_ACCESS,
            rules.TrialRefusal.DISABLED: texts.TRIAL_DISABLED}[reason]


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What Telegram tells us about a user; names change, so every contact refreshes them."""

    user_id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language_code: str | None = None


def upsert_user(session: Session, *, profile: Profile, now: datetime) -> None:
    names = {"username": profile.username, "first_name": profile.first_name,
             "last_name": profile.last_name, "language_code": profile.language_code}
    inserted = insert_ignore(session, User, {"id": profile.user_id, "created_at": now, **names},
                             conflict=["id"])
    if not inserted:
        # Whoever writes to the bot can be written to again (broadcasts skip blocked users).
        session.execute(update(User).where(User.id == profile.user_id)
                        .values(**names, blocked_bot_at=None))


def known_user(session: Session, *, user: int | dict[str, Any], now: datetime) -> int:
    """The user's id; given the Telegram profile (what the bot sends), the user row is written
    too, so a task never depends on `users.register` having run before it."""
    if isinstance(user, dict):
        profile = Profile(**user)
        upsert_user(session, profile=profile, now=now)
        return profile.user_id
    return int(user)


def has_paid(session: Session, *, user_id: int) -> bool:
    return bool(session.scalar(select(exists().where(
        Invoice.user_id == user_id, Invoice.activated_at.is_not(None)))))


def register(session: Session, *, profile: Profile, referrer_id: int | None,
             now: datetime) -> bool:
    """Record the user; attach the referrer if this is the first one; True if attached.

    A referrer is kept only if they are a known user other than this one, the user has no
    referrer yet (first touch wins) and has never paid (a paying customer was not "brought").
    """
    upsert_user(session, profile=profile, now=now)
    user_id = profile.user_id
    if referrer_id is None or referrer_id == user_id or session.get(User, referrer_id) is None:
        return False
    if has_paid(session, user_id=user_id):
        return False
    attached = insert_ignore(
        session, Referral,
        {"referred_user_id": user_id, "referrer_id": referrer_id, "created_at": now},
        conflict=["referred_user_id"],
    )
    if attached:
        session.execute(update(User).where(User.id == user_id, User.referred_by_id.is_(None))
                        .values(referred_by_id=referrer_id))
        record_history(session, user_id=user_id, action="referred", source="user", now=now,
                       details={"referrer_id": referrer_id})
    return attached


def set_language(session: Session, *, profile: Profile, language: str, now: datetime) -> bool:
    """Store the language the user chose with /language; False (nothing stored) if it is not
    one the catalogues speak."""
    if language not in SUPPORTED:
        return False
    upsert_user(session, profile=profile, now=now)
    session.execute(update(User).where(User.id == profile.user_id).values(language=language))
    return True


def accept_terms(session: Session, *, profile: Profile, now: datetime) -> None:
    upsert_user(session, profile=profile, now=now)
    session.execute(update(User).where(User.id == profile.user_id,
                                       User.terms_accepted_at.is_(None))
                    .values(terms_accepted_at=now))




def grant(session: Session, *, key: str, user_id: int, chat_id: int, access_id: int,
          now: datetime) -> Effects:
    """Write a grant effect: the invite (or "already in") arrives as after a payment."""
    effect_id = outbox.add_effect(
        session, key=key, method=outbox.GRANT_ACCESS, chat_id=user_id,
        payload={"user_id": user_id, "chat_id": chat_id, "access_id": access_id}, now=now,
    )
    return [] if effect_id is None else [(effect_id, outbox.GRANT_ACCESS)]


def start_trial(session: Session, *, user_id: int, chat_id: int, days: int, request_key: str,
                now: datetime) -> Effects:
    """Start the once-per-user trial, or tell the user why not (once per request)."""
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    grant_key = f"grant:trial:{request_key}"
    if user is None:  # only a bare id from an older bot can miss the row
        return message(session, key=f"trial_refused:{request_key}", chat_id=user_id,
                       text=texts.ACCOUNT_NOT_FOUND, now=now)
    # A redelivered request that already started the trial must not be told "already used".
    if session.scalar(select(exists().where(TelegramEffect.key == grant_key))):
        return []
    row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
    try:
        new = rules.start_trial(trial_used_at=user.trial_used_at, days=days, now=now,
                                current=as_rule(row))
    except rules.TrialUnavailable as refused:
        with speaking_to(session, user_id):
            text = trial_refusal_text(refused.reason)
        return message(session, key=f"trial_refused:{request_key}", chat_id=user_id,
                       text=text, now=now)
    before = row.paid_through
    store(row, new, now=now)
    user.trial_used_at = now
    session.flush()
    record_history(session, user_id=user_id, chat_id=chat_id, action="trial_started",
                   source="trial", now=now, before=before, after=row.paid_through,
                   details={"days": days})
    return grant(session, key=grant_key, user_id=user_id, chat_id=chat_id, access_id=row.id,
                 now=now)


def resend_invite(session: Session, *, user_id: int, chat_id: int, request_key: str,
                  grace: timedelta, now: datetime) -> Effects:
    """Queue the invite again (a fresh effect key) while access covers now, else say why not."""
    if session.get(User, user_id) is None:  # no row: nothing was ever paid or granted
        return message(session, key=f"resend_refused:{request_key}", chat_id=user_id,
                       text=texts.ACCOUNT_NOT_FOUND, now=now)
    row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
    if not rules.is_covered(as_rule(row), now=now, grace=grace):
        with speaking_to(session, user_id):
            text = texts.NO_ACCESS_FOR_INVITE
        return message(session, key=f"resend_refused:{request_key}", chat_id=user_id,
                       text=text, now=now)
    return grant(session, key=f"grant:resend:{user_id}:{chat_id}:{request_key}",
                 user_id=user_id, chat_id=chat_id, access_id=row.id, now=now)
