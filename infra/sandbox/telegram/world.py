"""The in-memory Telegram world: bots, users, private chats, the channel, files and the call log.

Owns the state, the lookups every rule needs, and the primitive changes that emit updates
(a message, a member's status). Every reader and writer holds `world.lock`: the server's event
loop and a test's own thread may both touch the world.
"""

from __future__ import annotations

import random
import string
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from infra.sandbox.telegram import serialize
from infra.sandbox.telegram.faults import FaultInjector
from infra.sandbox.telegram.flood import FloodControl
from infra.sandbox.telegram.records import (
    PARTICIPANT_STATUSES,
    BotRecord,
    CallbackQueryRecord,
    CallRecord,
    ChannelRecord,
    FileRecord,
    InviteLinkRecord,
    MemberRecord,
    MemberStatus,
    MessageRecord,
    PreCheckoutRecord,
    PrivateChat,
    StarChargeRecord,
    UserRecord,
)
from infra.sandbox.telegram.updates import UpdateQueue
from infra.settings import (
    SANDBOX_ADMIN_ID,
    SANDBOX_BOT_TOKEN,
    SANDBOX_BOT_USERNAME,
    SANDBOX_BUNDLE_CHAT_ID,
    SANDBOX_BUNDLE_CHAT_TITLE,
    SANDBOX_CHANNEL_ID,
    SANDBOX_CHANNEL_TITLE,
)

CALL_LOG_SIZE = 10_000
FIRST_USER_ID = 1_000_001  # people created on the page; the admin and test ids sit below
_ID_ALPHABET = string.ascii_letters + string.digits + "_-"
# What an administrator bot may do in the channel; the two the project needs are on by default.
BOT_ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
    "can_delete_messages": True, "can_manage_video_chats": False, "can_restrict_members": True,
    "can_promote_members": False, "can_change_info": False, "can_invite_users": True,
    "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False,
    "can_send_welcome_messages": False, "can_post_messages": True, "can_edit_messages": True,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class TelegramWorld:
    """Everything the stand-in knows; construct with the sandbox defaults or your own."""

    def __init__(
        self, *, token: str = SANDBOX_BOT_TOKEN, bot_username: str = SANDBOX_BOT_USERNAME,
        bot_first_name: str = "Sandbox Paywall Bot", channel_id: int = SANDBOX_CHANNEL_ID,
        channel_title: str = SANDBOX_CHANNEL_TITLE, admin_id: int = SANDBOX_ADMIN_ID,
        admin_first_name: str = "Admin", flood_limits: bool = False, seed: int | None = None,
        clock: Callable[[], datetime] = utc_now, webhook_retry_delay: float = 1.0,
        join_request_dm_window: timedelta = timedelta(minutes=5),
    ) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.clock = clock
        self.webhook_retry_delay = webhook_retry_delay
        self.join_request_dm_window = join_request_dm_window
        self.token, self.channel_id, self.admin_id = token, channel_id, admin_id
        self._initial = (bot_username, bot_first_name, channel_title, admin_first_name)
        self.flood = FloodControl(enabled=flood_limits)
        self.faults = FaultInjector(rng=self.rng)
        self._webhook_listeners: list[Callable[[], None]] = []
        self._queues: dict[str, UpdateQueue] = {}
        # These outlive resets (and, saved by `persistence`, restarts): a reader's "after seq",
        # the page's "changed since" and a new person's id never go back to a value in use.
        self.version = 0
        self.message_seq = 0
        self.highest_user_id = FIRST_USER_ID - 1
        self._populate()

    # -- lifecycle ---------------------------------------------------------------------------

    def _populate(self) -> None:
        bot_username, bot_first_name, channel_title, admin_first_name = self._initial
        self.users: dict[int, UserRecord] = {}
        self.bots: dict[str, BotRecord] = {}
        self.private_chats: dict[tuple[int, int], PrivateChat] = {}
        self.channels: dict[int, ChannelRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        # Telegram Stars (methods/payments.py): Pay pressed, answers awaited; charges made.
        self.pre_checkouts: dict[str, PreCheckoutRecord] = {}
        self.star_charges: dict[str, StarChargeRecord] = {}
        # The switch that makes Telegram deliver each successful_payment twice, as it may.
        self.duplicate_payments = False
        self.calls: deque[CallRecord] = deque(maxlen=CALL_LOG_SIZE)
        self._call_ids = 0
        self.add_user(user_id=self.admin_id, first_name=admin_first_name)
        bot = self.add_bot(token=self.token, username=bot_username, first_name=bot_first_name)
        # The channel, and a second private chat a bundle plan can grant with it.
        for chat_id, title in ((self.channel_id, channel_title),
                               (SANDBOX_BUNDLE_CHAT_ID, SANDBOX_BUNDLE_CHAT_TITLE)):
            if chat_id in self.channels:
                continue  # a stand-in configured with the bundle chat's id as its channel
            channel = ChannelRecord(id=chat_id, title=title, past_members={self.admin_id, bot.id})
            channel.members[self.admin_id] = MemberRecord(user_id=self.admin_id, status="creator")
            channel.members[bot.id] = MemberRecord(
                user_id=bot.id, status="administrator", rights=dict(BOT_ADMIN_RIGHTS),
            )
            self.channels[channel.id] = channel

    def reset(self) -> None:
        """Back to the initial world; faults and flood buckets are cleared too."""
        with self.lock:
            self._populate()
            self.faults.clear()
            self.flood.configure(enabled=self.flood.enabled, limits=self.flood.limits)
        self.notify_webhook_changed()

    def add_bot(self, *, token: str, username: str, first_name: str) -> BotRecord:
        """A bot account; its id is the token's numeric prefix, as in real tokens."""
        with self.lock:
            bot_id = int(token.split(":", 1)[0])
            # A queue outlives resets: update ids keep growing, so a running poller's offset
            # does not swallow the first updates of the new world.
            queue = self._queues.setdefault(token, UpdateQueue())
            queue.clear()
            queue.set_allowed_updates(None)
            user = UserRecord(id=bot_id, first_name=first_name, username=username, is_bot=True)
            self.users[bot_id] = user
            bot = self.bots[token] = BotRecord(token=token, user=user, updates=queue)
            self.touch()
            return bot

    def add_user(
        self, *, user_id: int, first_name: str, last_name: str | None = None,
        username: str | None = None, language_code: str | None = None,
    ) -> UserRecord:
        """Create or update a person."""
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                user = self.users[user_id] = UserRecord(id=user_id, first_name=first_name)
                if user_id >= FIRST_USER_ID:
                    self.note_user_id(user_id)
            user.first_name, user.last_name = first_name, last_name
            user.username, user.language_code = username, language_code
            self.touch()
            return user

    # -- small helpers -----------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def touch(self) -> None:
        """Mark a change, so the page knows to redraw."""
        self.version += 1

    def random_id(self, length: int) -> str:
        return "".join(self.rng.choice(_ID_ALPHABET) for _ in range(length))

    def next_user_id(self) -> int:
        """An id never handed out before, not even before a reset or a restart."""
        with self.lock:
            return self.highest_user_id + 1

    def note_user_id(self, user_id: int) -> None:
        """Ids up to `user_id` are taken (by a person here, or one the engine already knows)."""
        with self.lock:
            self.highest_user_id = max(self.highest_user_id, user_id)

    # -- lookups -----------------------------------------------------------------------------

    @property
    def default_bot(self) -> BotRecord:
        return self.bots[self.token]

    @property
    def channel(self) -> ChannelRecord:
        return self.channels[self.channel_id]

    def bot_by_id(self, bot_id: int | None) -> BotRecord:
        if bot_id is None:
            return self.default_bot
        for bot in self.bots.values():
            if bot.id == bot_id:
                return bot
        raise KeyError(bot_id)

    def private_chat(self, bot_id: int, user_id: int) -> PrivateChat:
        key = (bot_id, user_id)
        if key not in self.private_chats:
            self.private_chats[key] = PrivateChat(bot_id=bot_id, user_id=user_id)
        return self.private_chats[key]

    def member(self, channel: ChannelRecord, user_id: int) -> MemberRecord:
        """The user's effective standing: a ban whose until_date passed is "left"."""
        member = channel.members.get(user_id)
        if member is None:
            return MemberRecord(user_id=user_id, status="left")
        if member.status == "kicked" and member.until_date and member.until_date <= self.now():
            member.status, member.until_date = "left", None
        return member

    def admin_bots(self, channel: ChannelRecord) -> list[BotRecord]:
        return [
            bot for bot in self.bots.values()
            if self.member(channel, bot.id).status == "administrator"
        ]

    def link_members(self, channel: ChannelRecord, url: str) -> int:
        """Current members who joined through `url` (what member_limit counts)."""
        return sum(
            1 for m in channel.members.values() if m.via_link == url and m.status == "member"
        )

    def find_link(self, url: str) -> tuple[ChannelRecord, InviteLinkRecord] | None:
        for channel in self.channels.values():
            if url in channel.links:
                return channel, channel.links[url]
        return None

    # -- changes that emit updates -----------------------------------------------------------

    def emit(self, bot: BotRecord, kind: str, payload: dict[str, object]) -> None:
        bot.updates.push(kind, payload)

    def add_message(
        self, chat: PrivateChat | ChannelRecord, *, sender_id: int, from_bot: bool,
        text: str | None = None, entities: list[dict[str, object]] | None = None,
        reply_markup: dict[str, object] | None = None, document: FileRecord | None = None,
        caption: str | None = None, caption_entities: list[dict[str, object]] | None = None,
        photo: FileRecord | None = None,
    ) -> MessageRecord:
        self.message_seq += 1
        chat_id = chat.user_id if isinstance(chat, PrivateChat) else chat.id
        message = MessageRecord(
            seq=self.message_seq, message_id=chat.next_message_id, chat_id=chat_id,
            sender_id=sender_id, from_bot=from_bot, date=self.now(), text=text,
            entities=entities or [], reply_markup=reply_markup, document=document,
            caption=caption, caption_entities=caption_entities or [], photo=photo,
        )
        chat.next_message_id += 1
        chat.messages.append(message)
        self.touch()
        return message

    def set_member_status(
        self, channel: ChannelRecord, user_id: int, status: MemberStatus, *, actor_id: int,
        until_date: datetime | None = None, via_link: str | None = None,
        via_join_request: bool = False, rights: dict[str, bool] | None = None,
    ) -> None:
        """Change a standing and tell the channel's administrator bots (`chat_member`)."""
        old = self.member(channel, user_id)
        old_json = serialize.chat_member(self, old)
        if status == "left":
            channel.members.pop(user_id, None)
            new = MemberRecord(user_id=user_id, status="left")
        else:
            if status in PARTICIPANT_STATUSES:
                channel.past_members.add(user_id)
            new = channel.members[user_id] = MemberRecord(
                user_id=user_id, status=status, until_date=until_date,
                via_link=via_link if status == "member" else None,
                rights=rights if status == "administrator" else None,
            )
        self.touch()
        link = channel.links.get(via_link) if via_link else None
        for bot in self.admin_bots(channel):
            payload = serialize.chat_member_updated(
                self, chat=serialize.channel_chat(channel), actor_id=actor_id,
                old=old_json, new=serialize.chat_member(self, new),
                invite_link=serialize.invite_link(self, channel, link) if link else None,
                via_join_request=via_join_request,
            )
            self.emit(bot, "chat_member", payload)

    # -- webhooks and the call log -----------------------------------------------------------

    def add_webhook_listener(self, listener: Callable[[], None]) -> None:
        self._webhook_listeners.append(listener)

    def remove_webhook_listener(self, listener: Callable[[], None]) -> None:
        self._webhook_listeners.remove(listener)

    def notify_webhook_changed(self) -> None:
        for listener in list(self._webhook_listeners):
            listener()

    def record_call(
        self, *, method: str, bot_id: int | None, params: dict[str, object], status: int,
        description: str | None,
    ) -> None:
        with self.lock:
            self._call_ids += 1
            self.calls.append(CallRecord(
                id=self._call_ids, at=self.now(), method=method, bot_id=bot_id, params=params,
                status=status, description=description,
            ))
