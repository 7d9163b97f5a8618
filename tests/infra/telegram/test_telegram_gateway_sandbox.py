"""TelegramGateway over real HTTP against the Bot API stand-in (infra/sandbox/telegram).

Multi-process tests fork, as Celery's prefork pool does: the gateway is built in the parent and
used in the children, which is the lifecycle the gateway documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from infra.settings import SANDBOX_BOT_TOKEN, SANDBOX_CHANNEL_ID
from infra.telegram import (
    BudgetTimeout,
    SendBudget,
    TelegramAlreadyDone,
    TelegramBlocked,
    TelegramFailure,
    TelegramGateway,
    TelegramPermanent,
    TelegramTransient,
)

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

TOKEN = SecretStr(SANDBOX_BOT_TOKEN)


class Control:
    """The stand-in's control API: act as people, inject faults, read the call log."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=5)

    def request(self, verb: str, path: str, **kwargs: Any) -> Any:
        answer = self._http.request(verb, path, **kwargs).json()
        assert answer["ok"], answer
        return answer["result"]

    def user(self, *, started: bool = True) -> int:
        user_id: int = self.request("POST", "/control/users", json={"first_name": "Ann"})["id"]
        if started:
            self.request("POST", f"/control/users/{user_id}/messages", json={"text": "/start"})
        return user_id

    def calls(self, method: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.request(
            "GET", "/control/calls", params={"method": method}
        )
        return found

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def control(telegram_sandbox: TelegramSandbox) -> Iterator[Control]:
    """A control-API client for the stand-in."""
    client = Control(telegram_sandbox.base_url)
    yield client
    client.close()


@pytest.fixture
def gateway(telegram_sandbox: TelegramSandbox) -> Iterator[TelegramGateway]:
    """A gateway without a send budget, pointed at the stand-in."""
    with TelegramGateway(token=TOKEN, api_base=telegram_sandbox.base_url, budget=None) as gw:
        yield gw


def test_send_message_reaches_the_user(gateway: TelegramGateway, control: Control) -> None:
    """A sent message comes back as an aiogram Message and is in the user's chat."""
    user_id = control.user()
    message = gateway.send_message(chat_id=user_id, text="Welcome!")
    assert message.chat.id == user_id
    received = control.request(
        "GET", "/control/messages", params={"chat_id": user_id, "direction": "bot_to_user"}
    )
    assert [m["text"] for m in received] == ["Welcome!"]


def test_send_document_uploads_the_bytes(gateway: TelegramGateway, control: Control) -> None:
    """A CSV export arrives as a document with its filename and caption."""
    message = gateway.send_document(
        chat_id=control.user(), filename="export.csv", data=b"id,amount\n1,10\n", caption="CSV"
    )
    assert message.document is not None
    assert message.document.file_name == "export.csv"


def test_injected_429_is_transient_with_its_retry_after(
    gateway: TelegramGateway, control: Control
) -> None:
    """The stand-in's 429 with retry_after=3 surfaces as TelegramTransient(retry_after=3)."""
    user_id = control.user()
    control.request(
        "POST",
        "/control/faults",
        json={
            "method": "sendMessage",
            "fail_next": 1,
            "fail_next_with": "retry_after",
            "retry_after": 3,
        },
    )
    with pytest.raises(TelegramTransient) as raised:
        gateway.send_message(chat_id=user_id, text="hi")
    assert raised.value.retry_after == 3
    assert raised.value.method == "sendMessage"
    gateway.send_message(chat_id=user_id, text="hi")  # the fault was for one call only


def test_injected_5xx_is_transient_with_backoff(gateway: TelegramGateway, control: Control) -> None:
    """A server error surfaces as TelegramTransient without retry_after."""
    control.request(
        "POST",
        "/control/faults",
        json={
            "method": "*",
            "fail_next": 1,
            "fail_next_with": "server_error",
        },
    )
    with pytest.raises(TelegramTransient) as raised:
        gateway.get_chat_member(chat_id=SANDBOX_CHANNEL_ID, user_id=control.user())
    assert raised.value.retry_after is None


def test_a_user_who_blocked_the_bot_is_blocked(gateway: TelegramGateway, control: Control) -> None:
    """A DM to a user who blocked the bot raises TelegramBlocked naming that user."""
    user_id = control.user()
    control.request("POST", f"/control/users/{user_id}/block")
    with pytest.raises(TelegramBlocked) as raised:
        gateway.send_message(chat_id=user_id, text="hi")
    assert raised.value.user_id == user_id


def test_a_user_who_never_started_the_bot_is_blocked(
    gateway: TelegramGateway, control: Control
) -> None:
    """A DM to a user who never pressed Start raises TelegramBlocked."""
    user_id = control.user(started=False)
    with pytest.raises(TelegramBlocked):
        gateway.send_message(chat_id=user_id, text="hi")


def test_approving_twice_is_already_done(gateway: TelegramGateway, control: Control) -> None:
    """The second approval of one join request raises TelegramAlreadyDone; the user is in."""
    user_id = control.user()
    link = gateway.create_invite_link(
        chat_id=SANDBOX_CHANNEL_ID, name="sub-1", creates_join_request=True
    )
    joined = control.request(
        "POST", f"/control/users/{user_id}/join", json={"invite_link": link.invite_link}
    )
    assert joined["outcome"] == "requested"
    assert gateway.approve_join_request(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id) is True
    with pytest.raises(TelegramAlreadyDone):
        gateway.approve_join_request(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id)
    member = gateway.get_chat_member(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id)
    assert member.status == "member"


def test_ban_and_unban_round_trip(gateway: TelegramGateway, control: Control) -> None:
    """A banned user shows as kicked, and as left once unbanned."""
    user_id = control.user()
    assert gateway.ban(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id)
    assert gateway.get_chat_member(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id).status == "kicked"
    assert gateway.unban(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id)
    assert gateway.get_chat_member(chat_id=SANDBOX_CHANNEL_ID, user_id=user_id).status == "left"


def test_revoked_links_come_back_revoked(gateway: TelegramGateway) -> None:
    """revoke_invite_link answers with the same link marked revoked."""
    link = gateway.create_invite_link(chat_id=SANDBOX_CHANNEL_ID, member_limit=1)
    revoked = gateway.revoke_invite_link(chat_id=SANDBOX_CHANNEL_ID, invite_link=link.invite_link)
    assert (revoked.invite_link, revoked.is_revoked) == (link.invite_link, True)


def test_the_budget_is_waited_for_before_the_request(
    telegram_sandbox: TelegramSandbox, control: Control, redis_client: redis.Redis
) -> None:
    """A second DM to one chat within a second times out in the budget, never reaching Telegram."""
    user_id = control.user()
    budget = SendBudget(redis_client, per_second=100)
    with TelegramGateway(
        token=TOKEN, api_base=telegram_sandbox.base_url, budget=budget, budget_timeout=0.2
    ) as gateway:
        gateway.send_message(chat_id=user_id, text="first")
        with pytest.raises(BudgetTimeout) as raised:
            gateway.send_message(chat_id=user_id, text="second")
    assert raised.value.retry_after is not None
    assert 0.5 < raised.value.retry_after <= 1.1  # a second plus the delivery margin
    assert len(control.calls("sendMessage")) == 1


def test_a_dm_to_a_user_the_bot_never_saw_is_unreachable(gateway: TelegramGateway) -> None:
    """chat not found for a private chat: the user is unreachable, like blocked (§3)."""
    with pytest.raises(TelegramBlocked, match="chat not found") as raised:
        gateway.send_message(chat_id=999_999_999, text="hi")
    assert raised.value.user_id == 999_999_999


def test_an_unknown_channel_is_permanent(gateway: TelegramGateway) -> None:
    """chat not found for a channel id is a configuration error: permanent, not retried."""
    with pytest.raises(TelegramPermanent, match="chat not found") as raised:
        gateway.send_message(chat_id=-100_999_999, text="hi")
    assert not isinstance(raised.value, TelegramBlocked)


def test_a_wrong_token_is_permanent_and_never_shown(telegram_sandbox: TelegramSandbox) -> None:
    """A token the server rejects is a permanent failure whose text does not contain it."""
    secret = "987654321:WRONG-secret-token"
    with (
        TelegramGateway(
            token=SecretStr(secret), api_base=telegram_sandbox.base_url, budget=None
        ) as gateway,
        pytest.raises(TelegramPermanent) as raised,
    ):
        gateway.send_message(chat_id=1, text="hi")
    assert "WRONG-secret" not in str(raised.value)
    assert "WRONG-secret" not in repr(gateway)


class SoftTimeLimit(Exception):
    """Stands in for Celery's SoftTimeLimitExceeded, which a signal handler raises."""


@contextlib.contextmanager
def interrupted_after(seconds: float) -> Iterator[None]:
    """Raise SoftTimeLimit in this thread after `seconds`, as Celery's soft time limit does.

    pytest-timeout owns SIGALRM too: its handler and remaining time are put back afterwards.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise SoftTimeLimit

    previous = signal.signal(signal.SIGALRM, interrupt)
    started = time.monotonic()
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            elapsed = time.monotonic() - started
            signal.setitimer(signal.ITIMER_REAL, max(remaining - elapsed, 0.001), interval)


def test_an_interrupted_call_is_cancelled_and_the_gateway_stays_usable(
    gateway: TelegramGateway, control: Control
) -> None:
    """A call cut short by a signal leaves no request pending on the loop; the next call works."""
    user_id = control.user()
    control.request("POST", "/control/faults", json={"method": "sendMessage", "latency_seconds": 1})
    with interrupted_after(0.2), pytest.raises(SoftTimeLimit):
        gateway.send_message(chat_id=user_id, text="slow")
    assert not asyncio.all_tasks(gateway._loop)  # white-box: nothing left to resume later
    control.request("DELETE", "/control/faults")
    assert gateway.send_message(chat_id=user_id, text="next").text == "next"


def _send_in_child(gateway: TelegramGateway, chat_ids: list[int], results: Queue[Any]) -> None:
    """In a forked child: send one message per chat through the inherited gateway."""
    outcomes: list[str] = []
    for chat_id in chat_ids:
        try:
            gateway.send_message(chat_id=chat_id, text="broadcast")
            outcomes.append("ok")
        except TelegramFailure as failure:
            outcomes.append(f"{type(failure).__name__}: {failure}")
    gateway.close()
    results.put(outcomes)


def _run_children(gateway: TelegramGateway, batches: list[list[int]]) -> list[list[str]]:
    context = multiprocessing.get_context("fork")
    results: Queue[list[str]] = context.Queue()
    children = [
        context.Process(target=_send_in_child, args=(gateway, batch, results)) for batch in batches
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=10)
        assert child.exitcode == 0
    return outcomes


def test_a_gateway_used_in_the_parent_still_works_in_a_forked_child(
    gateway: TelegramGateway, control: Control
) -> None:
    """After a fork the child builds its own loop and session; the parent's keep working."""
    user_id = control.user()
    gateway.send_message(chat_id=user_id, text="from the parent")
    assert _run_children(gateway, [[user_id]]) == [["ok"]]
    gateway.send_message(chat_id=user_id, text="parent again")
    texts = [
        m["text"]
        for m in control.request(
            "GET", "/control/messages", params={"chat_id": user_id, "direction": "bot_to_user"}
        )
    ]
    assert texts == ["from the parent", "broadcast", "parent again"]


def test_flood_limits_are_live_without_a_budget(gateway: TelegramGateway, control: Control) -> None:
    """Control for the shared-budget test: unbudgeted sends to 40 chats draw 429s."""
    # A 10/s global limit keeps this certain even on a slow machine (40 sends in < 3 s).
    control.request("POST", "/control/flood", json={"enabled": True, "global_per_second": 10.0})
    users = [control.user() for _ in range(40)]
    failures = []
    for user_id in users:
        try:
            gateway.send_message(chat_id=user_id, text="burst")
        except TelegramTransient as failure:
            failures.append(failure)
    assert failures


@pytest.mark.redis
@pytest.mark.slow
def test_two_processes_on_a_shared_budget_draw_no_429(
    telegram_sandbox: TelegramSandbox, control: Control, redis_client: redis.Redis
) -> None:
    """60 DMs from two processes through one 20/s budget meet no flood control at all."""
    users = [control.user() for _ in range(60)]
    control.request("POST", "/control/flood", json={"enabled": True})
    budget = SendBudget(redis_client, per_second=20)
    with TelegramGateway(token=TOKEN, api_base=telegram_sandbox.base_url, budget=budget) as gateway:
        outcomes = _run_children(gateway, [users[:30], users[30:]])
    assert outcomes == [["ok"] * 30, ["ok"] * 30]
    statuses = [call["status"] for call in control.calls("sendMessage")]
    assert statuses.count(200) == 60
    assert 429 not in statuses
