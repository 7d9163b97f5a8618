"""The language a worker speaks to one recipient: the one they chose, else Telegram's.

Every text a worker renders for a user is built inside `speaking_to` (or `use_language` with
a language read along with the recipients of a batch), so it reaches them in their language.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra.i18n import resolve, use_language
from models.schema import User


def language_of(session: Session, user_id: int) -> str:
    row = session.execute(select(User.language, User.language_code)
                          .where(User.id == user_id)).first()
    return resolve(chosen=row.language, telegram_code=row.language_code) if row else resolve(
        chosen=None, telegram_code=None)


def languages_of(session: Session, user_ids: Collection[int]) -> dict[int, str]:
    """The language of each of `user_ids` in one read (for a page of a batch)."""
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.language, User.language_code)
                           .where(User.id.in_(list(user_ids))))
    found = {row.id: resolve(chosen=row.language, telegram_code=row.language_code)
             for row in rows}
    return {user_id: found.get(user_id) or resolve(chosen=None, telegram_code=None)
            for user_id in user_ids}


@contextmanager
def speaking_to(session: Session, user_id: int) -> Iterator[str]:
    """Texts built inside the block are in `user_id`'s language."""
    with use_language(language_of(session, user_id)) as language:
        yield language


@contextmanager
def speaking_to_user(sessions: sessionmaker[Session], user_id: int) -> Iterator[str]:
    """`speaking_to` for code outside a transaction: one short read of the language."""
    with sessions() as session:
        language = language_of(session, user_id)
    with use_language(language):
        yield language
