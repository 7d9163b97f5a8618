"""FakeTelegramGateway: the recording stand-in other engineers use in unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiogram.methods import SendMessage, SetWebhook

from infra.telegram import (
    TelegramAlreadyDone,
    TelegramBlocked,
    TelegramPermanent,
    TelegramPort,
    TelegramTransient,
    TelegramUnknownUser,
)
from infra.telegram.fake import FakeTelegramGateway

CHANNEL = -1001000000001


def test_it_is_a_telegram_port() -> None:
    """The fake can stand wherever the real gateway is expected."""
    port: TelegramPort = FakeTelegramGateway()
    assert isinstance(port, TelegramPort)


def test_calls_are_recorded_as_the_aiogram_objects_sent() -> None:
    """Each call is recorded as the method object the real gateway would send."""
    fake = FakeTelegramGateway()
    message = fake.send_message(chat_id=5, text="hello")
    assert fake.calls == [SendMessage(chat_id=5, text="hello")]
    assert message.chat.id == 5
    assert message.text == "hello"


def test_telegrams_own_words_are_classified_against_the_very_call() -> None:
    """answer_next raises what the real gateway would make of that answer to that call."""
    fake = FakeTelegramGateway()
    fake.answer_next("getChatMember", "Bad Request: member not found")
    fake.answer_next("sendMessage", "Bad Request: chat not found", times=2)
    fake.answer_next("approveChatJoinRequest", "Bad Request: HIDE_REQUESTER_MISSING")
    fake.answer_next("banChatMember", "Forbidden: bot was kicked from the channel chat")
    with pytest.raises(TelegramUnknownUser):
        fake.get_chat_member(chat_id=CHANNEL, user_id=5)
    with pytest.raises(TelegramBlocked) as unreachable:
        fake.send_message(chat_id=5, text="x")  # a private chat: the user is unreachable
    assert unreachable.value.user_id == 5
    with pytest.raises(TelegramPermanent) as misconfigured:
        fake.send_message(chat_id=CHANNEL, text="x")  # the channel: a configuration error
    assert not isinstance(misconfigured.value, TelegramBlocked)
    with pytest.raises(TelegramAlreadyDone):
        fake.approve_join_request(chat_id=CHANNEL, user_id=5)
    with pytest.raises(TelegramPermanent, match="kicked"):
        fake.ban(chat_id=CHANNEL, user_id=5)
    assert fake.get_chat_member(chat_id=CHANNEL, user_id=5).status == "left"


def test_scripted_failures_hit_the_next_calls_then_stop() -> None:
    """fail_next raises on exactly the next N calls of that method, and records them."""
    fake = FakeTelegramGateway()
    fake.fail_next("sendMessage", TelegramTransient(retry_after=3), times=2)
    for _ in range(2):
        with pytest.raises(TelegramTransient):
            fake.send_message(chat_id=5, text="x")
    assert fake.approve_join_request(chat_id=CHANNEL, user_id=5) is True
    fake.send_message(chat_id=5, text="x")
    assert len(fake.calls_of("sendMessage")) == 3


def test_blocked_users_can_be_scripted() -> None:
    """A test can make the next DM fail as if the user had blocked the bot."""
    fake = FakeTelegramGateway()
    fake.fail_next("sendMessage", TelegramBlocked(user_id=5))
    with pytest.raises(TelegramBlocked) as raised:
        fake.send_message(chat_id=5, text="x")
    assert raised.value.user_id == 5


def test_membership_follows_approve_ban_and_unban() -> None:
    """get_chat_member agrees with the approvals, bans and unbans made before it."""
    fake = FakeTelegramGateway()
    assert fake.get_chat_member(chat_id=CHANNEL, user_id=5).status == "left"
    fake.approve_join_request(chat_id=CHANNEL, user_id=5)
    assert fake.get_chat_member(chat_id=CHANNEL, user_id=5).status == "member"
    fake.unban(chat_id=CHANNEL, user_id=5)  # only_if_banned: a member stays
    assert fake.get_chat_member(chat_id=CHANNEL, user_id=5).status == "member"
    fake.ban(chat_id=CHANNEL, user_id=5)
    assert fake.get_chat_member(chat_id=CHANNEL, user_id=5).status == "kicked"
    fake.unban(chat_id=CHANNEL, user_id=5)
    assert fake.get_chat_member(chat_id=CHANNEL, user_id=5).status == "left"


def test_invite_links_echo_their_request() -> None:
    """A created link carries the name, expiry and limit asked for; a revoked one is revoked."""
    fake = FakeTelegramGateway()
    expires = datetime.now(UTC) + timedelta(hours=1)
    link = fake.create_invite_link(
        chat_id=CHANNEL, name="sub-42", expire_date=expires, member_limit=1
    )
    assert (link.name, link.expire_date, link.member_limit) == ("sub-42", expires, 1)
    revoked = fake.revoke_invite_link(chat_id=CHANNEL, invite_link=link.invite_link)
    assert revoked.is_revoked


def test_documents_keep_their_filename() -> None:
    """send_document answers with a message whose document has the uploaded filename."""
    fake = FakeTelegramGateway()
    message = fake.send_document(chat_id=100, filename="export.csv", data=b"a,b\n", caption="CSV")
    assert message.document is not None
    assert message.document.file_name == "export.csv"


def test_naive_datetimes_are_refused() -> None:
    """A naive expiry would be read as local time by aiogram, so the port refuses it."""
    fake = FakeTelegramGateway()
    with pytest.raises(ValueError, match="aware"):
        fake.create_invite_link(chat_id=CHANNEL, expire_date=datetime(2030, 1, 1))  # noqa: DTZ001
    assert fake.calls == []


def test_methods_it_cannot_answer_say_so() -> None:
    """An unsupported method fails loudly instead of returning something wrong."""
    with pytest.raises(NotImplementedError, match="setWebhook"):
        FakeTelegramGateway().call(SetWebhook(url="https://example.invalid/hook"))
