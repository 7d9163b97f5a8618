"""What workers depend on to talk to Telegram: `call` plus the handful of calls they make.

The real `TelegramGateway` and the recording `FakeTelegramGateway` both implement `call`; the
convenience methods below build aiogram method objects once, for both, so the fake accepts
exactly the arguments the real gateway does and records the very objects it would send.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

from aiogram.methods import (
    ApproveChatJoinRequest,
    BanChatMember,
    CreateChatInviteLink,
    DeclineChatJoinRequest,
    DeleteMyCommands,
    GetChatMember,
    RefundStarPayment,
    RevokeChatInviteLink,
    SendDocument,
    SendInvoice,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
    UnbanChatMember,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    ChatInviteLink,
    ChatMemberRestricted,
    LabeledPrice,
    Message,
    ReplyMarkupUnion,
    ResultChatMemberUnion,
)

from infra.telegram.errors import TelegramBlocked, TelegramUnknownUser
from infra.telegram.rate_limit import Lane

T = TypeVar("T")


def _aware(moment: datetime | None, name: str) -> datetime | None:
    # aiogram sends a datetime as a unix timestamp; a naive one would be read as local time.
    if moment is not None and moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC)")
    return moment


def member_status(member: ResultChatMemberUnion) -> str:
    """The member's standing as a plain word: creator, administrator, member, left or kicked.

    aiogram's status is a str enum whose str() is its name, so the value is compared; a
    restricted user counts as a member only while still in the chat.
    """
    status = str(getattr(member.status, "value", member.status))
    if isinstance(member, ChatMemberRestricted):
        return "member" if member.is_member else "left"
    return status


class TelegramPort(ABC):
    """The Bot API as workers see it; every failure is one of `infra.telegram.errors`."""

    @abstractmethod
    def call(
        self, method: TelegramMethod[T], *, chat_id_for_budget: int | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> T:
        """Run one Bot API method and return its result, or raise a `TelegramFailure`.

        `lane` is BULK for a message one of many receive (reminders, notices, broadcasts): it
        yields the send budget to INTERACTIVE calls, which someone is waiting on now.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the port is not used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send_message(
        self, *, chat_id: int, text: str, reply_markup: ReplyMarkupUnion | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> Message:
        return self.call(SendMessage(chat_id=chat_id, text=text, reply_markup=reply_markup),
                         lane=lane)

    def send_photo(
        self, *, chat_id: int, photo: str | bytes, filename: str = "photo.png",
        caption: str | None = None, reply_markup: ReplyMarkupUnion | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> Message:
        """Send a photo: one Telegram already holds (`photo` is its file_id) or an upload
        (`photo` is the image's bytes, sent as `filename`), with an optional caption."""
        file = BufferedInputFile(photo, filename=filename) if isinstance(photo, bytes) else photo
        return self.call(SendPhoto(chat_id=chat_id, photo=file, caption=caption,
                                   reply_markup=reply_markup), lane=lane)

    def send_document(
        self, *, chat_id: int, filename: str, data: bytes, caption: str | None = None
    ) -> Message:
        document = BufferedInputFile(data, filename=filename)
        return self.call(SendDocument(chat_id=chat_id, document=document, caption=caption))

    def set_commands(self, *, chat_id: int, commands: list[tuple[str, str]]) -> bool:
        """The command menu one private chat sees: (command, description) pairs, in order."""
        return self.call(SetMyCommands(
            commands=[BotCommand(command=name, description=description)
                      for name, description in commands],
            scope=BotCommandScopeChat(chat_id=chat_id)))

    def delete_commands(self, *, chat_id: int) -> bool:
        """Drop one chat's own menu: it sees the default commands again."""
        return self.call(DeleteMyCommands(scope=BotCommandScopeChat(chat_id=chat_id)))

    def create_invite_link(
        self,
        *,
        chat_id: int,
        name: str | None = None,
        expire_date: datetime | None = None,
        member_limit: int | None = None,
        creates_join_request: bool = False,
    ) -> ChatInviteLink:
        return self.call(
            CreateChatInviteLink(
                chat_id=chat_id,
                name=name,
                expire_date=_aware(expire_date, "expire_date"),
                member_limit=member_limit,
                creates_join_request=creates_join_request,
            )
        )

    def revoke_invite_link(self, *, chat_id: int, invite_link: str) -> ChatInviteLink:
        return self.call(RevokeChatInviteLink(chat_id=chat_id, invite_link=invite_link))

    def approve_join_request(self, *, chat_id: int, user_id: int) -> bool:
        return self.call(ApproveChatJoinRequest(chat_id=chat_id, user_id=user_id))

    def decline_join_request(self, *, chat_id: int, user_id: int) -> bool:
        return self.call(DeclineChatJoinRequest(chat_id=chat_id, user_id=user_id))

    def ban(self, *, chat_id: int, user_id: int, until_date: datetime | None = None) -> bool:
        """Remove and ban; without `until_date` the ban is forever."""
        until = _aware(until_date, "until_date")
        return self.call(BanChatMember(chat_id=chat_id, user_id=user_id, until_date=until))

    def unban(self, *, chat_id: int, user_id: int, only_if_banned: bool = True) -> bool:
        """Lift a ban; with `only_if_banned=False` this also removes a current member (a kick)."""
        return self.call(
            UnbanChatMember(chat_id=chat_id, user_id=user_id, only_if_banned=only_if_banned)
        )

    def send_stars_invoice(
        self, *, chat_id: int, title: str, description: str, payload: str, label: str,
        amount: int,
    ) -> Message:
        """An invoice in Telegram Stars: currency XTR, one price, no provider token; `payload`
        (ours, 1-128 bytes) comes back in the pre-checkout query and the payment."""
        return self.call(SendInvoice(chat_id=chat_id, title=title, description=description,
                                     payload=payload, currency="XTR",
                                     prices=[LabeledPrice(label=label, amount=amount)]))

    def refund_star_payment(self, *, user_id: int, charge_id: str) -> bool:
        """Give a Stars payment back; a second refund of a charge is a 400
        (CHARGE_ALREADY_REFUNDED, classified `TelegramAlreadyDone`)."""
        return self.call(RefundStarPayment(user_id=user_id, telegram_payment_charge_id=charge_id))

    def get_chat_member(self, *, chat_id: int, user_id: int,
                        lane: Lane = Lane.INTERACTIVE) -> ResultChatMemberUnion:
        return self.call(GetChatMember(chat_id=chat_id, user_id=user_id), lane=lane)

    def standing(self, *, chat_id: int, user_id: int) -> str:
        """`member_status` of the user in the chat, or "unknown" when Telegram will not say.

        getChatMember answers 400 for real people (member not found, user not found,
        PARTICIPANT_ID_INVALID; reference telegram.md §3) and 403 for deleted accounts: that
        is about this one user, never a reason to stop, and never proof they are a member.
        """
        try:
            return member_status(self.get_chat_member(chat_id=chat_id, user_id=user_id))
        except (TelegramUnknownUser, TelegramBlocked):
            return "unknown"
