"""Referrals: who referred whom, referrers' rates, the commission ledger and payout requests.

A referrer's balance is `sum(credits) - sum(debits)` over `commission_ledger`; the unique keys
make a credit happen once per paid invoice and a debit once per approved payout.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of
from models.types import Money, Percent

LEDGER_KINDS = ("credit", "debit")
PAYOUT_NETWORKS = ("TRC20", "BEP20", "ERC20")
PAYOUT_STATUSES = ("open", "approved", "rejected")


class Referrer(Base):
    """A user allowed to earn commission, and their rate."""

    __tablename__ = "referrers"
    # Basis points: 0 < pct <= 100 %.
    __table_args__ = (CheckConstraint("pct > 0 AND pct <= 10000", name="pct_range"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    pct: Mapped[Decimal] = mapped_column(Percent)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)


class Referral(Base):
    """Who brought a user in; the primary key allows one referrer per referred user."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("referrer_id <> referred_user_id", name="not_self"),
        Index("ix_referrals_referrer_id", "referrer_id"),
    )

    referred_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False
    )
    referrer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class CommissionEntry(Base):
    """One line of a referrer's ledger: a credit for a paid invoice or a debit for a payout."""

    __tablename__ = "commission_ledger"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # A line says exactly what it is for: an invoice (credit) or a payout (debit).
        CheckConstraint(
            "(kind = 'credit' AND invoice_id IS NOT NULL AND payout_request_id IS NULL)"
            " OR (kind = 'debit' AND payout_request_id IS NOT NULL AND invoice_id IS NULL)",
            name="kind_reference",
        ),
        Index("ix_commission_ledger_referrer_id", "referrer_id"),
        one_of("kind", LEDGER_KINDS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("referrers.user_id"))
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Money)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), unique=True)
    payout_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("payout_requests.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class PayoutRequest(Base):
    """A referrer's request to be paid their balance to a wallet, and the admin's decision."""

    __tablename__ = "payout_requests"
    __table_args__ = (
        # At most one open request per referrer; decided ones do not count.
        Index(
            "uq_payout_requests_referrer_id_open",
            "referrer_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_when_closed"),
        one_of("network", PAYOUT_NETWORKS),
        one_of("status", PAYOUT_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("referrers.user_id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    network: Mapped[str] = mapped_column(String(8))
    wallet: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    decided_at: Mapped[datetime | None]
    # The admin's Telegram id.
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
