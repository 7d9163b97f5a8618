"""The database schema: SQLAlchemy 2.0 typed tables; Alembic migrations create them.

Databases are built by `models.migrations` only (never `metadata.create_all`): the migrations
also install what the models cannot express, such as the append-only triggers.
Status columns are plain strings limited by CHECK constraints to the values listed here, which
are the string values of the domain's enums.
"""

from models.schema.access import (
    ACCESS_STATUSES,
    HISTORY_SOURCES,
    Access,
    AccessHistory,
    AppendOnlyError,
    InviteLink,
    Plan,
    PlanChat,
    RenewalReminder,
    User,
)
from models.schema.audits import (
    AUDIT_ACTUALS,
    AUDIT_FINDINGS,
    AUDIT_FIX_OUTCOMES,
    AUDIT_STATUSES,
    AuditFinding,
    AuditRun,
)
from models.schema.base import NAMING_CONVENTION, Base
from models.schema.broadcasts import (
    BROADCAST_STATUSES,
    RECIPIENT_STATUSES,
    SEGMENTS,
    Broadcast,
    BroadcastRecipient,
)
from models.schema.operations import (
    EFFECT_STATUSES,
    SWEEP_HOLD_STATUSES,
    DeadLetter,
    ScheduledRun,
    SweepHold,
    TaskAttempt,
    TelegramEffect,
)
from models.schema.payments import (
    INVOICE_STATUSES,
    PAYMENT_EVENT_SOURCES,
    Invoice,
    PaymentEvent,
    StarPayment,
)
from models.schema.promos import (
    PROMO_KINDS,
    REDEMPTION_STATUSES,
    PromoCode,
    PromoRedemption,
)
from models.schema.referrals import (
    LEDGER_KINDS,
    PAYOUT_NETWORKS,
    PAYOUT_STATUSES,
    CommissionEntry,
    PayoutRequest,
    Referral,
    Referrer,
)
from models.schema.staff import STAFF_ROLES, StaffRole

metadata = Base.metadata

__all__ = [
    "ACCESS_STATUSES",
    "AUDIT_ACTUALS",
    "AUDIT_FINDINGS",
    "AUDIT_FIX_OUTCOMES",
    "AUDIT_STATUSES",
    "BROADCAST_STATUSES",
    "EFFECT_STATUSES",
    "HISTORY_SOURCES",
    "INVOICE_STATUSES",
    "LEDGER_KINDS",
    "NAMING_CONVENTION",
    "PAYMENT_EVENT_SOURCES",
    "PAYOUT_NETWORKS",
    "PAYOUT_STATUSES",
    "PROMO_KINDS",
    "RECIPIENT_STATUSES",
    "REDEMPTION_STATUSES",
    "SEGMENTS",
    "STAFF_ROLES",
    "SWEEP_HOLD_STATUSES",
    "Access",
    "AccessHistory",
    "AppendOnlyError",
    "AuditFinding",
    "AuditRun",
    "Base",
    "Broadcast",
    "BroadcastRecipient",
    "CommissionEntry",
    "DeadLetter",
    "InviteLink",
    "Invoice",
    "PaymentEvent",
    "PayoutRequest",
    "Plan",
    "PlanChat",
    "PromoCode",
    "PromoRedemption",
    "Referral",
    "Referrer",
    "RenewalReminder",
    "ScheduledRun",
    "StaffRole",
    "StarPayment",
    "SweepHold",
    "TaskAttempt",
    "TelegramEffect",
    "User",
    "metadata",
]
