"""Payments: invoices at CryptoCloud and the inbox of payment notifications about them.

Invoice uuids are stored normalised, without CryptoCloud's `INV-` prefix, here and in the
inbox, so a postback and a poll about the same invoice meet on one key.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of
from models.types import Money

INVOICE_STATUSES = ("created", "paid", "partial", "overpaid", "canceled")
PAYMENT_EVENT_SOURCES = ("postback", "poll", "manual")
# Invoice methods and inbox providers.
CRYPTOCLOUD, STARS = "cryptocloud", "stars"


class Invoice(Base):
    """An order for a plan, and the CryptoCloud invoice that collects it."""

    __tablename__ = "invoices"
    __table_args__ = (
        # The fallback poll takes the invoices whose `next_poll_at` has come, soonest first;
        # invoices that cannot change any more hold NULL there and stay out of its way.
        Index("ix_invoices_next_poll_at", "next_poll_at"),
        # "Reuse the open invoice" for the same user and plan.
        Index("ix_invoices_user_id_plan_id_status", "user_id", "plan_id", "status"),
        CheckConstraint("uuid NOT LIKE 'INV-%'", name="uuid_normalised"),
        CheckConstraint("amount_usd > 0", name="amount_positive"),
        one_of("status", INVOICE_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # CryptoCloud's id; NULL until the invoice exists there.
    uuid: Mapped[str | None] = mapped_column(String(64), unique=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    amount_usd: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(8), default="USD", server_default="USD")
    status: Mapped[str] = mapped_column(String(16), default="created", server_default="created")
    pay_link: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    # When the fallback poll next asks CryptoCloud about it (models.domain.polling); NULL: never.
    next_poll_at: Mapped[datetime | None]
    paid_usd: Mapped[Decimal | None] = mapped_column(Money)
    surplus_usd: Mapped[Decimal | None] = mapped_column(Money)
    # Set once, by `UPDATE ... WHERE activated_at IS NULL`: the exactly-once guard of the grant.
    activated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    # The promo redemption whose discount `amount_usd` carries (models/schema/promos.py); no
    # foreign key: adding one would rebuild this table on SQLite.
    promo_redemption_id: Mapped[int | None] = mapped_column(index=True)
    # A plan switch's difference (workers/switches): the plan switched from, and the unused
    # value of it the quote credited. NULL for an ordinary purchase. No foreign key, as above.
    switch_from_plan_id: Mapped[int | None]
    switch_credit_usd: Mapped[Decimal | None] = mapped_column(Money)
    # Who collects it: CryptoCloud (a pay link) or Telegram Stars (an invoice message in the
    # bot). A Stars invoice's price is `amount_stars`; `amount_usd` is what it is worth at
    # `stars_usd_rate` (USD per Star, as decimal text) when it was opened.
    method: Mapped[str] = mapped_column(String(16), default=CRYPTOCLOUD,
                                        server_default=CRYPTOCLOUD)
    amount_stars: Mapped[int | None]
    stars_usd_rate: Mapped[str | None] = mapped_column(String(16))


class PaymentEvent(Base):
    """The inbox: one row per (invoice, reported status), however often it is reported."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("invoice_uuid", "reported_status"),
        # The relay scans `processed_at IS NULL` oldest first.
        Index("ix_payment_events_processed_at_received_at", "processed_at", "received_at"),
        CheckConstraint("invoice_uuid NOT LIKE 'INV-%'", name="invoice_uuid_normalised"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        one_of("source", PAYMENT_EVENT_SOURCES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_uuid: Mapped[str] = mapped_column(String(64))
    # CryptoCloud's word for it, kept verbatim: the provider's vocabulary is not ours to limit.
    reported_status: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    # The raw body as received (the gateway bounds its size).
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=now_utc)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Which provider the event is about: `invoice_uuid` is CryptoCloud's invoice id, or for
    # `stars` the key `star-<star_payments.id>` of the Telegram charge.
    provider: Mapped[str] = mapped_column(String(16), default=CRYPTOCLOUD,
                                          server_default=CRYPTOCLOUD)


class StarPayment(Base):
    """One Telegram Stars charge (a `successful_payment`), however often it is delivered, and
    its refund: claimed once (`refund_claimed_at`), done once (`refunded_at`)."""

    __tablename__ = "star_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # telegram_payment_charge_id: Telegram's idempotency key, and what a refund names.
    charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    provider_charge_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # Ours: the invoice's order_id, sent as the invoice payload.
    invoice_payload: Mapped[str] = mapped_column(String(128))
    amount_stars: Mapped[int]
    currency: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(default=now_utc)
    refund_claimed_at: Mapped[datetime | None]
    # The admin command (its request key) that claimed the refund: a redelivered /refund
    # carries on with this charge instead of refunding the user's next one.
    refund_request: Mapped[str | None] = mapped_column(String(255))
    refunded_at: Mapped[datetime | None]
    refunded_by: Mapped[int | None] = mapped_column(BigInteger)
    refund_error: Mapped[str | None] = mapped_column(Text)
