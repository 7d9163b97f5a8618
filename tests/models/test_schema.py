"""The schema's guarantees, on SQLite and PostgreSQL: keys, checks, append-only, index use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import pytest
from sqlalchemy import Engine, bindparam, delete, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from models.domain.access import AccessStatus
from models.domain.invoices import InvoiceStatus
from models.domain.ledger import EntryKind, PayoutNetwork
from models.schema import (
    ACCESS_STATUSES,
    INVOICE_STATUSES,
    LEDGER_KINDS,
    PAYOUT_NETWORKS,
    Access,
    AccessHistory,
    AppendOnlyError,
    Base,
    CommissionEntry,
    Invoice,
    PaymentEvent,
    PayoutRequest,
    Plan,
    Referral,
    Referrer,
    RenewalReminder,
    User,
)
from models.types import UTCDateTime

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CHAT = -1001000000001
WALLET = "T" + "x" * 33


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Users 1-3, plan 1, invoice 1 (uuid A1) and referrer 2, committed."""
    with session_factory.begin() as session:
        session.add_all([User(id=1), User(id=2), User(id=3)])
        session.add(Plan(id=1, code="month", title="Month", days=30, price_usd=Decimal("10")))
        session.flush()
        session.add(
            Invoice(id=1, uuid="A1", order_id="o-1", user_id=1, plan_id=1, amount_usd=Decimal("10"))
        )
        session.add(Referrer(user_id=2, pct=Decimal("20")))
    return session_factory


def _refused(factory: sessionmaker[Session], *rows: Base) -> None:
    """Adding the rows in one transaction fails with an IntegrityError."""
    with factory() as session, pytest.raises(IntegrityError):
        session.add_all(rows)
        session.flush()


def _accepted(factory: sessionmaker[Session], *rows: Base) -> None:
    with factory.begin() as session:
        session.add_all(rows)


@pytest.mark.parametrize(
    ("domain", "schema"),
    [
        (AccessStatus, ACCESS_STATUSES),
        (InvoiceStatus, INVOICE_STATUSES),
        (EntryKind, LEDGER_KINDS),
        (PayoutNetwork, PAYOUT_NETWORKS),
    ],
)
def test_check_vocabularies_match_the_domain(domain: type[StrEnum], schema: tuple[str]) -> None:
    """The CHECK constraints allow exactly the domain enums' values."""
    assert {member.value for member in domain} == set(schema)


def test_invoice_uuid_and_order_id_are_unique(seeded: sessionmaker[Session]) -> None:
    """A second invoice with the same provider uuid, or the same order id, is refused."""
    _refused(seeded, Invoice(uuid="A1", order_id="o-2", user_id=1, plan_id=1, amount_usd=1))
    _refused(seeded, Invoice(uuid="B2", order_id="o-1", user_id=1, plan_id=1, amount_usd=1))
    # Invoices not created at the provider yet have no uuid, and there may be many.
    _accepted(
        seeded,
        Invoice(order_id="o-3", user_id=1, plan_id=1, amount_usd=1),
        Invoice(order_id="o-4", user_id=1, plan_id=1, amount_usd=1),
    )


def test_invoice_uuid_is_stored_normalised(seeded: sessionmaker[Session]) -> None:
    """A uuid still carrying CryptoCloud's INV- prefix is refused, in invoices and the inbox."""
    _refused(seeded, Invoice(uuid="INV-B2", order_id="o-2", user_id=1, plan_id=1, amount_usd=1))
    _refused(
        seeded,
        PaymentEvent(invoice_uuid="INV-A1", reported_status="paid", source="poll", payload=""),
    )


def test_payment_events_are_unique_per_uuid_and_status(seeded: sessionmaker[Session]) -> None:
    """The inbox keeps one row per (invoice, reported status); a new status is a new row."""

    def event(status: str) -> PaymentEvent:
        return PaymentEvent(
            invoice_uuid="A1", reported_status=status, source="postback", payload="{}"
        )

    _accepted(seeded, event("partial"), event("success"))
    _refused(seeded, event("success"))


def test_one_commission_per_invoice(seeded: sessionmaker[Session]) -> None:
    """A paid invoice credits its referrer at most once."""

    def credit() -> CommissionEntry:
        return CommissionEntry(referrer_id=2, kind="credit", amount=Decimal("2"), invoice_id=1)

    _accepted(seeded, credit())
    _refused(seeded, credit())


def test_ledger_lines_say_what_they_are_for(seeded: sessionmaker[Session]) -> None:
    """A credit needs its invoice and a debit its payout request; amounts are positive."""
    _refused(seeded, CommissionEntry(referrer_id=2, kind="credit", amount=1))
    _refused(seeded, CommissionEntry(referrer_id=2, kind="debit", amount=1, invoice_id=1))
    _refused(seeded, CommissionEntry(referrer_id=2, kind="credit", amount=0, invoice_id=1))


def test_one_open_payout_request_per_referrer(seeded: sessionmaker[Session]) -> None:
    """A referrer has at most one open request, and may open another once it is decided."""

    def request() -> PayoutRequest:
        return PayoutRequest(referrer_id=2, amount=Decimal("5"), network="TRC20", wallet=WALLET)

    _accepted(seeded, request())
    _refused(seeded, request())

    with seeded.begin() as session:
        session.execute(
            update(PayoutRequest).values(status="approved", decided_at=NOW, decided_by=100)
        )
    _accepted(seeded, request())


def test_payout_request_decision_has_a_time(seeded: sessionmaker[Session]) -> None:
    """An open request has no decision time, and a decided one must have one."""
    _refused(
        seeded,
        PayoutRequest(referrer_id=2, amount=1, network="TRC20", wallet=WALLET, status="rejected"),
    )
    _refused(seeded, PayoutRequest(referrer_id=2, amount=1, network="BTC", wallet=WALLET))


def test_referral_is_unique_per_referred_user_and_never_oneself(
    seeded: sessionmaker[Session],
) -> None:
    """A user has one referrer, and nobody refers themselves."""
    _accepted(seeded, Referral(referred_user_id=1, referrer_id=2))
    _refused(seeded, Referral(referred_user_id=1, referrer_id=3))
    _refused(seeded, Referral(referred_user_id=3, referrer_id=3))
    with seeded() as session, pytest.raises(IntegrityError):
        session.execute(update(User).where(User.id == 3).values(referred_by_id=3))


def test_access_is_unique_per_user_and_chat(seeded: sessionmaker[Session]) -> None:
    """Renewals stack on the one access row of a (user, chat); another chat is another row."""
    _accepted(
        seeded,
        Access(user_id=1, chat_id=CHAT, status="active", paid_through=NOW),
        Access(user_id=1, chat_id=CHAT - 1, status="trialing", is_trial=True),
    )
    _refused(seeded, Access(user_id=1, chat_id=CHAT, status="active"))
    _refused(seeded, Access(user_id=2, chat_id=CHAT, status="paused"))


def test_access_needs_a_known_user(seeded: sessionmaker[Session]) -> None:
    """Foreign keys are enforced: access for a user the bot never saw is refused."""
    _refused(seeded, Access(user_id=404, chat_id=CHAT, status="active"))


def test_access_changes_are_versioned(seeded: sessionmaker[Session]) -> None:
    """A flush over a row changed concurrently since it was read raises StaleDataError."""
    _accepted(seeded, Access(id=1, user_id=1, chat_id=CHAT, status="active", paid_through=NOW))
    with seeded() as mine:
        access = mine.get_one(Access, 1)
        # End the read transaction (SQLite would make the other writer wait on it); the
        # loaded row, version 1, stays in this session.
        mine.commit()
        with seeded.begin() as theirs:
            theirs.get_one(Access, 1).status = "grace"

        access.paid_through = NOW + timedelta(days=30)
        with pytest.raises(StaleDataError):
            mine.flush()


def test_access_history_refuses_orm_update_and_delete(seeded: sessionmaker[Session]) -> None:
    """The ORM refuses to change or delete a history entry."""
    _accepted(seeded, AccessHistory(id=1, user_id=404, action="admin_refused", source="admin"))

    with seeded() as session, pytest.raises(AppendOnlyError):
        session.get_one(AccessHistory, 1).action = "rewritten"
        session.flush()
    with seeded() as session, pytest.raises(AppendOnlyError):
        session.delete(session.get_one(AccessHistory, 1))
        session.flush()


@pytest.mark.parametrize(
    "statement",
    [
        update(AccessHistory).values(action="rewritten"),
        delete(AccessHistory),
        text("UPDATE access_history SET action = 'rewritten'"),
        text("DELETE FROM access_history"),
    ],
    ids=["orm-update", "orm-delete", "sql-update", "sql-delete"],
)
def test_access_history_refuses_sql_update_and_delete(
    seeded: sessionmaker[Session], statement: object
) -> None:
    """The database itself refuses UPDATE and DELETE on access_history (a trigger)."""
    _accepted(seeded, AccessHistory(user_id=1, action="trial_started", source="trial"))

    with seeded() as session, pytest.raises(IntegrityError, match="append-only"):
        session.execute(statement)  # type: ignore[call-overload]

    with seeded() as session:
        assert [row.action for row in session.query(AccessHistory)] == ["trial_started"]


@pytest.mark.postgres
@pytest.mark.parametrize("migrated_template", ["postgresql"], indirect=True)
def test_access_history_refuses_truncate_on_postgres(seeded: sessionmaker[Session]) -> None:
    """On PostgreSQL, TRUNCATE cannot empty the history either (SQLite has no TRUNCATE)."""
    with seeded() as session, pytest.raises(IntegrityError, match="append-only"):
        session.execute(text("TRUNCATE access_history"))


def test_renewal_reminder_once_per_period(seeded: sessionmaker[Session]) -> None:
    """A reminder is sent at most once per (access, days before, period); a renewal resets it."""
    _accepted(seeded, Access(id=1, user_id=1, chat_id=CHAT, status="active", paid_through=NOW))

    def reminder(period_end: datetime) -> RenewalReminder:
        return RenewalReminder(access_id=1, days_before=3, period_end=period_end)

    _accepted(seeded, reminder(NOW))
    _refused(seeded, reminder(NOW))
    _accepted(seeded, reminder(NOW + timedelta(days=30)))


def _plan_lines(engine: Engine) -> list[str]:
    """The plan of the expiry sweep's query for a page of due rows."""
    query = (
        "SELECT id, user_id, chat_id, paid_through FROM access"
        " WHERE status IN ('trialing', 'active', 'grace') AND paid_through <= :now"
        " AND chat_id = -1001 ORDER BY paid_through, id LIMIT 500"
    )
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # An empty table is cheaper to scan; this asks whether the index can serve at all.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        statement = text(explain + query).bindparams(bindparam("now", type_=UTCDateTime))
        return [str(row[-1]) for row in connection.execute(statement, {"now": NOW})]


def test_expiry_sweep_pages_use_the_partial_unswept_index(engine: Engine) -> None:
    """A page of due rows is read through ix_access_unswept_paid_through, not a table scan."""
    plan = "\n".join(_plan_lines(engine))
    assert "ix_access_unswept_paid_through" in plan, plan
