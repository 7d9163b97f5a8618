"""`FakeTelegramGateway`: an in-memory `TelegramPort` for unit tests of code that calls Telegram.

It records every aiogram method object it is given (failed calls too), answers with plausible
results, keeps the channel membership that approve/ban/unban imply so `get_chat_member` agrees
with them, and lets a test script failures: `fail_next("sendMessage", TelegramBlocked(...))`, or
Telegram's own words, classified exactly as the real gateway classifies them:
`answer_next("getChatMember", "Bad Request: member not found")`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
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
    BotCommandScopeChat,
    BufferedInputFile,
    Chat,
    ChatInviteLink,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    Document,
    Invoice,
    Message,
    PhotoSize,
    User,
)

from infra.telegram.errors import TelegramFailure, classify
from infra.telegram.port import TelegramPort
from infra.telegram.rate_limit import Lane

T = TypeVar("T")
MemberStatus = Literal["member", "left", "kicked"]

BOT_USER = User(id=123456789, is_bot=True, first_name="Fake bot", username="fake_bot")
_FOREVER = datetime.fromtimestamp(0, UTC)  # what Telegram's until_date=0 parses to


class FakeTelegramGateway(TelegramPort):
    """Records calls in `calls`; membership in `members[(chat_id, user_id)]` (default "left")."""

    def __init__(self) -> None:
        self.calls: list[TelegramMethod[Any]] = []
        self.lanes: list[Lane] = []  # the lane of each call in `calls`
        self.members: dict[tuple[int, int], MemberStatus] = {}
        # Each private chat's own command menu (setMyCommands with BotCommandScopeChat).
        self.commands: dict[int, list[str]] = {}
        self.closed = False
        self._failures: defaultdict[str, deque[TelegramFailure | str]] = defaultdict(deque)
        self._next_id = 0
        # Stars charges Telegram knows (charge id -> payer), and those refunded: a refund of
        # an unknown charge, of someone else's, or a second one fails as Telegram's does.
        self.star_charges: dict[str, int] = {}
        self.refunded: set[str] = set()

    def fail_next(self, method: str, failure: TelegramFailure, *, times: int = 1) -> None:
        """Make the next `times` calls of `method` (API name: "sendMessage") raise `failure`."""
        self._failures[method].extend([failure] * times)

    def answer_next(self, method: str, description: str, *, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail as Telegram answering `description`.

        "Forbidden: …" is a 403, anything else a 400; the failure raised is what the gateway's
        classification makes of that answer to the very call, so tests never pick our class.
        """
        self._failures[method].extend([description] * times)

    def calls_of(self, method: str) -> list[TelegramMethod[Any]]:
        """The recorded calls of one API method, oldest first."""
        return [call for call in self.calls if call.__api_method__ == method]

    def call(
        self, method: TelegramMethod[T], *, chat_id_for_budget: int | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> T:
        self.calls.append(method)
        self.lanes.append(lane)
        if failures := self._failures[method.__api_method__]:
            failure = failures.popleft()
            if isinstance(failure, str):
                status = (TelegramForbiddenError if failure.startswith("Forbidden")
                          else TelegramBadRequest)
                failure = classify(status(method=method, message=failure))
            raise failure
        result: T = self._answer(method)
        return result

    def close(self) -> None:
        self.closed = True

    def _answer(self, method: TelegramMethod[Any]) -> Any:  # noqa: PLR0911, PLR0912 (one branch per method)
        self._next_id += 1
        now = datetime.now(UTC)
        match method:
            case SendMessage(chat_id=int(chat_id), text=text):
                return Message(message_id=self._next_id, date=now, chat=_chat(chat_id), text=text)
            case SendPhoto(chat_id=int(chat_id), photo=str(file_id), caption=caption):
                photo = [PhotoSize(file_id=file_id, file_unique_id=f"fake-{self._next_id}",
                                   width=800, height=600)]
                return Message(message_id=self._next_id, date=now, chat=_chat(chat_id),
                               photo=photo, caption=caption)
            case SendDocument(chat_id=int(chat_id), document=BufferedInputFile() as file):
                document = Document(
                    file_id=f"fake-file-{self._next_id}",
                    file_unique_id=f"fake-{self._next_id}",
                    file_name=file.filename,
                )
                return Message(
                    message_id=self._next_id, date=now, chat=_chat(chat_id), document=document
                )
            case SendPhoto(chat_id=int(chat_id), photo=BufferedInputFile()):
                uploaded = PhotoSize(file_id=f"fake-photo-{self._next_id}",
                                     file_unique_id=f"fake-{self._next_id}", width=1, height=1)
                return Message(message_id=self._next_id, date=now, chat=_chat(chat_id),
                               photo=[uploaded], caption=method.caption)
            case CreateChatInviteLink(expire_date=datetime() | None as expire_date):
                return ChatInviteLink(
                    invite_link=f"https://t.me/+fake{self._next_id:08d}",
                    creator=BOT_USER,
                    creates_join_request=bool(method.creates_join_request),
                    is_primary=False,
                    is_revoked=False,
                    name=method.name,
                    expire_date=expire_date,
                    member_limit=method.member_limit,
                )
            case RevokeChatInviteLink(invite_link=link):
                return ChatInviteLink(
                    invite_link=link,
                    creator=BOT_USER,
                    creates_join_request=False,
                    is_primary=False,
                    is_revoked=True,
                )
            case ApproveChatJoinRequest(chat_id=int(chat_id), user_id=user_id):
                self.members[chat_id, user_id] = "member"
                return True
            case DeclineChatJoinRequest():
                return True
            case BanChatMember(chat_id=int(chat_id), user_id=user_id):
                self.members[chat_id, user_id] = "kicked"
                return True
            case UnbanChatMember(chat_id=int(chat_id), user_id=user_id):
                status = self.members.get((chat_id, user_id), "left")
                if status == "kicked" or not method.only_if_banned:
                    self.members[chat_id, user_id] = "left"
                return True
            case SetMyCommands(scope=BotCommandScopeChat(chat_id=int(chat_id))):
                self.commands[chat_id] = [command.command for command in method.commands]
                return True
            case DeleteMyCommands(scope=BotCommandScopeChat(chat_id=int(chat_id))):
                self.commands.pop(chat_id, None)
                return True
            case GetChatMember(chat_id=int(chat_id), user_id=user_id):
                return _member(self.members.get((chat_id, user_id), "left"), user_id)
            case SendInvoice(chat_id=int(chat_id)):
                return self._invoice(method, chat_id, now)
            case RefundStarPayment(user_id=user_id, telegram_payment_charge_id=charge):
                return self._refund(method, user_id, charge)
        raise NotImplementedError(f"FakeTelegramGateway does not answer {method.__api_method__}")


    def _invoice(self, method: SendInvoice, chat_id: int, now: datetime) -> Message:
        if method.currency != "XTR" or len(method.prices) != 1:
            raise classify(TelegramBadRequest(method=method,
                                              message="Bad Request: STARS_INVOICE_INVALID"))
        if not 1 <= len(method.payload.encode()) <= 128:
            raise classify(TelegramBadRequest(method=method,
                                              message="Bad Request: INVOICE_PAYLOAD_INVALID"))
        invoice = Invoice(title=method.title, description=method.description,
                          start_parameter="", currency=method.currency,
                          total_amount=method.prices[0].amount)
        return Message(message_id=self._next_id, date=now, chat=_chat(chat_id), invoice=invoice)

    def _refund(self, method: RefundStarPayment, user_id: int, charge: str) -> bool:
        refused = ("Bad Request: CHARGE_ALREADY_REFUNDED" if charge in self.refunded
                   else "Bad Request: CHARGE_NOT_FOUND"
                   if self.star_charges.get(charge) != user_id else None)
        if refused is not None:
            raise classify(TelegramBadRequest(method=method, message=refused))
        self.refunded.add(charge)
        return True


def _chat(chat_id: int) -> Chat:
    return Chat(id=chat_id, type="private" if chat_id > 0 else "channel")


def _member(
    status: MemberStatus, user_id: int
) -> ChatMemberMember | ChatMemberLeft | ChatMemberBanned:
    user = User(id=user_id, is_bot=False, first_name=f"User {user_id}")
    if status == "member":
        return ChatMemberMember(user=user)
    if status == "kicked":
        return ChatMemberBanned(user=user, until_date=_FOREVER)
    return ChatMemberLeft(user=user)
