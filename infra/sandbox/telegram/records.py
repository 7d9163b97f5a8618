"""The records the in-memory Telegram world is made of: plain, mutable dataclasses.

They hold state only; the rules that change them live in `world`, `people` and `methods`, and
their Bot API JSON shapes in `serialize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from infra.sandbox.telegram.updates import UpdateQueue

MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]
PARTICIPANT_STATUSES: frozenset[str] = frozenset({"creator", "administrator", "member"})


@dataclass(kw_only=True)
class UserRecord:
    """A Telegram account (a person or a bot)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False


@dataclass(kw_only=True)
class WebhookConfig:
    """What setWebhook stored; a new call replaces the whole object."""

    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    last_error_date: datetime | None = None
    last_error_message: str | None = None


@dataclass(kw_only=True)
class BotRecord:
    """A bot: its token, its account, its update queue and its settings."""

    token: str
    user: UserRecord
    updates: UpdateQueue
    webhook: WebhookConfig | None = None
    # (scope as canonical JSON, language_code) -> the BotCommand list
    commands: dict[tuple[str, str], list[dict[str, object]]] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.user.id


@dataclass(kw_only=True)
class FileRecord:
    """An uploaded file, kept with its bytes so tests and the page can download it."""

    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    data: bytes
    file_path: str
    # Photos only: their size in pixels.
    width: int | None = None
    height: int | None = None


@dataclass(kw_only=True)
class MessageRecord:
    """One message in one chat, in either direction."""

    seq: int  # world-wide order, so readers can ask for "everything after"
    message_id: int
    chat_id: int
    sender_id: int  # a user id, or the bot's id for what the bot sent
    from_bot: bool
    date: datetime
    text: str | None = None
    entities: list[dict[str, object]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, object]] = field(default_factory=list)
    reply_markup: dict[str, object] | None = None
    document: FileRecord | None = None
    photo: FileRecord | None = None
    edit_date: datetime | None = None
    deleted: bool = False
    # A Stars invoice (sendInvoice): title, description, payload, currency, total_amount; and
    # where paying it stands for the page ("waiting", "paid", "refused: …", "refunded").
    invoice: dict[str, object] | None = None
    payment_state: str | None = None
    # The service message a payment leaves in the chat (Message.successful_payment).
    successful_payment: dict[str, object] | None = None


@dataclass(kw_only=True)
class PrivateChat:
    """The private chat between one bot and one user."""

    bot_id: int
    user_id: int
    started: bool = False
    blocked: bool = False
    messages: list[MessageRecord] = field(default_factory=list)
    next_message_id: int = 1


@dataclass(kw_only=True)
class MemberRecord:
    """One user's standing in a channel; `until_date` None means forever for kicked users."""

    user_id: int
    status: MemberStatus
    until_date: datetime | None = None
    via_link: str | None = None
    rights: dict[str, bool] | None = None  # administrators only


@dataclass(kw_only=True)
class InviteLinkRecord:
    """An additional invite link of a channel."""

    url: str
    creator_id: int
    created_at: datetime
    name: str = ""
    expire_date: datetime | None = None
    member_limit: int = 0  # 0 = no limit
    creates_join_request: bool = False
    is_revoked: bool = False
    joined_count: int = 0  # every join through the link, for the page


@dataclass(kw_only=True)
class JoinRequestRecord:
    """A pending request to join a channel."""

    user_id: int
    date: datetime
    link_url: str | None


@dataclass(kw_only=True)
class ChannelRecord:
    """A private channel with its members, links and pending join requests."""

    id: int
    title: str
    type: Literal["channel", "supergroup"] = "channel"
    members: dict[int, MemberRecord] = field(default_factory=dict)
    links: dict[str, InviteLinkRecord] = field(default_factory=dict)
    join_requests: dict[int, JoinRequestRecord] = field(default_factory=dict)
    messages: list[MessageRecord] = field(default_factory=list)
    next_message_id: int = 1
    # Everyone who was ever in it: "left" reads "not joined" for the others on the page.
    past_members: set[int] = field(default_factory=set)


@dataclass(kw_only=True)
class CallbackQueryRecord:
    """A pressed inline button and the bot's answer to it."""

    id: str
    bot_id: int
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: datetime
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None


@dataclass(kw_only=True)
class CallRecord:
    """One Bot API request as the stand-in received and answered it."""

    id: int
    at: datetime
    method: str
    bot_id: int | None
    params: dict[str, object]
    status: int
    description: str | None


@dataclass(kw_only=True)
class PreCheckoutRecord:
    """A person pressed Pay on a Stars invoice: the bot must answer within 10 seconds."""

    id: str
    bot_id: int
    user_id: int
    message_id: int  # the invoice message
    created_at: datetime
    answered: bool = False


@dataclass(kw_only=True)
class StarChargeRecord:
    """Stars a person paid the bot (a telegram_payment_charge_id), and whether refunded."""

    charge_id: str
    bot_id: int
    user_id: int
    amount: int
    refunded: bool = False
