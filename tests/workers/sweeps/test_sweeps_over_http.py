"""The sweep against the Telegram stand-in over HTTP: real gateway, real send budget on Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from infra import task_names
from models.schema import AccessHistory, TelegramEffect, User
from tests.fixtures.sandboxes import TelegramFaults
from tests.workers.harness import Pipeline, over_http
from tests.workers.sweeps.conftest import access_of, subscriber, sweep_pipeline

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

ANN, BOB = 7201, 7202
CREATOR = 100  # the stand-in's channel owner


@pytest.fixture
def control(telegram_sandbox: TelegramSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{telegram_sandbox.base_url}/control", timeout=5.0) as client:
        yield client


@pytest.fixture
def live(db_url: str, engine: Any, session_factory: sessionmaker[Session],
         telegram_sandbox: TelegramSandbox, redis_url: str) -> Iterator[Pipeline]:
    """A pipeline whose Telegram is the stand-in over HTTP; the owner is not a configured admin."""
    ctx = sweep_pipeline(db_url, engine, session_factory, admin_ids="9999",
                         telegram_api_base=telegram_sandbox.base_url)
    with over_http(ctx, api_base=telegram_sandbox.base_url, redis_url=redis_url) as live:
        yield live


def ok(response: httpx.Response) -> Any:
    body = response.json()
    assert body["ok"], body
    return body["result"]


def member_in_channel(ctx: Pipeline, control: httpx.Client, user_id: int) -> None:
    """A person who started the bot and joined the channel with a link the bot made."""
    ok(control.post("/users", json={"id": user_id, "first_name": f"user{user_id}"}))
    ok(control.post(f"/users/{user_id}/messages", json={"text": "/start"}))
    joined = join(ctx, control, user_id)
    assert joined["channel_status"] == "member"


def join(ctx: Pipeline, control: httpx.Client, user_id: int) -> Any:
    link = ctx.telegram.create_invite_link(chat_id=ctx.settings.channel, name=f"u{user_id}")
    return ok(control.post(f"/users/{user_id}/join", json={"invite_link": link.invite_link}))


def channel_status(control: httpx.Client, user_id: int) -> str:
    users = ok(control.get("/users"))
    return str(next(user["channel_status"] for user in users if user["id"] == user_id))


def sweep(ctx: Pipeline) -> Any:
    ctx.send(task_names.EXPIRE_SUBSCRIPTIONS)
    return ctx.drain()[0][1]


def lapsed(ctx: Pipeline, control: httpx.Client, user_id: int = ANN, *, hours: int = 1) -> None:
    member_in_channel(ctx, control, user_id)
    subscriber(ctx, user_id, paid_through=datetime.now(UTC) - timedelta(hours=hours),
               member=False)


def test_an_expired_member_leaves_and_can_rejoin_after_paying(
    live: Pipeline, control: httpx.Client
) -> None:
    """ban + unban(only_if_banned): out of the channel, told, and not banned for good."""
    lapsed(live, control)
    subscriber(live, CREATOR, paid_through=datetime.now(UTC) - timedelta(hours=1), member=False)

    report = sweep(live)

    assert (report["removed"], report["kept"]) == (1, 1)
    assert channel_status(control, ANN) == "left"
    assert channel_status(control, CREATOR) == "creator"
    told = ok(control.get("/messages", params={"chat_id": ANN, "direction": "bot_to_user"}))
    assert ["ended on" in message["text"] for message in told] == [True]
    assert join(live, control, ANN)["channel_status"] == "member"


def test_flood_control_is_honoured_and_the_removal_completes(
    live: Pipeline, control: httpx.Client
) -> None:
    """A 429 with retry_after on the ban: the task retries and the user is removed once."""
    lapsed(live, control)
    ok(control.post("/faults", json={"method": "banChatMember", "fail_next": 1,
                                     "fail_next_with": "retry_after", "retry_after": 1}))

    with capture_logs() as logs:
        report = sweep(live)

    assert [line["countdown"] for line in logs if line["event"] == "sweep_retry"] == [1.0]
    assert report["removed"] == 1 and channel_status(control, ANN) == "left"
    bans = ok(control.get("/calls", params={"method": "banChatMember"}))
    assert len(bans) == 2  # the refused attempt and the retry
    assert access_of(live, ANN).status == "expired"


def test_a_user_who_blocked_the_bot_is_recorded(live: Pipeline, control: httpx.Client) -> None:
    """The expiry message to a user who blocked the bot fails once and marks them blocked."""
    lapsed(live, control)
    ok(control.post(f"/users/{ANN}/block"))

    report = sweep(live)

    assert report["removed"] == 1 and channel_status(control, ANN) == "left"
    with live.sessions() as session:
        assert session.get_one(User, ANN).blocked_bot_at is not None


@pytest.mark.parametrize("error", ["member_not_found", "user_not_found", "participant_id_invalid"])
def test_one_users_member_lookup_error_never_stops_the_sweep(
    live: Pipeline, control: httpx.Client, telegram_faults: TelegramFaults, error: str,
) -> None:
    """getChatMember answering 400 for the first due user: everyone is removed, run after run."""
    lapsed(live, control, ANN, hours=2)  # first in paid_through order
    lapsed(live, control, BOB)
    telegram_faults.fail("getChatMember", error, user_id=ANN)

    report = sweep(live)

    assert (report["expired"], report["refused"]) == (2, 0)
    assert channel_status(control, ANN) == channel_status(control, BOB) == "left"
    assert access_of(live, ANN).status == access_of(live, BOB).status == "expired"
    assert sweep(live)["due"] == 0


def test_a_kick_of_someone_already_gone_completes(
    live: Pipeline, control: httpx.Client, telegram_faults: TelegramFaults,
) -> None:
    """A ban answered USER_NOT_PARTICIPANT (they left meanwhile) counts as done, not refused."""
    lapsed(live, control)
    telegram_faults.fail("banChatMember", "user_not_participant", user_id=ANN)

    report = sweep(live)

    assert (report["expired"], report["refused"]) == (1, 0)
    assert access_of(live, ANN).status == "expired"


def test_a_ban_set_by_hand_survives_the_sweep(live: Pipeline, control: httpx.Client) -> None:
    """An admin banned a lapsed member in Telegram: the sweep ends the row, the ban stays."""
    lapsed(live, control)
    live.telegram.ban(chat_id=live.settings.channel, user_id=ANN)  # as an admin would

    report = sweep(live)

    assert report["expired"] == 1 and report["removed"] == 0
    assert channel_status(control, ANN) == "kicked"
    assert ok(control.get("/calls", params={"method": "unbanChatMember"})) == []


@pytest.mark.parametrize("error", ["chat_not_found", "user_deactivated", "bot_blocked"])
def test_an_unreachable_user_is_recorded_like_a_blocked_one(
    live: Pipeline, control: httpx.Client, telegram_faults: TelegramFaults, error: str,
) -> None:
    """sendMessage answering chat not found (or deactivated, blocked): the user is unreachable."""
    lapsed(live, control, ANN, hours=2)
    lapsed(live, control, BOB)
    telegram_faults.fail("sendMessage", error, user_id=ANN)

    sweep(live)

    with live.sessions() as session:
        assert session.get_one(User, ANN).blocked_bot_at is not None
        assert session.get_one(User, BOB).blocked_bot_at is None
        effects = {e.chat_id: e.status for e in session.query(TelegramEffect)}
        assert effects == {ANN: "failed", BOB: "done"}
        assert session.query(AccessHistory).filter_by(action="expired_removed").count() == 2


def test_reminders_go_out_to_everyone_but_the_unreachable(
    live: Pipeline, control: httpx.Client, telegram_faults: TelegramFaults,
) -> None:
    """One reminder answered chat not found: recorded on that user, the others still delivered."""
    for user_id in (ANN, BOB):
        member_in_channel(live, control, user_id)
        subscriber(live, user_id, paid_through=datetime.now(UTC) + timedelta(hours=12),
                   member=False)
    telegram_faults.fail("sendMessage", "chat_not_found", user_id=ANN)

    live.send(task_names.SEND_RENEWAL_REMINDERS)
    live.drain()

    told = ok(control.get("/messages", params={"chat_id": BOB, "direction": "bot_to_user"}))
    assert any("renew" in message["text"].lower() for message in told)
    with live.sessions() as session:
        assert session.get_one(User, ANN).blocked_bot_at is not None
        effects = {e.chat_id: e.status for e in session.query(TelegramEffect)}
        assert effects == {ANN: "failed", BOB: "done"}


@pytest.mark.parametrize("method", ["getChatMember", "banChatMember", "unbanChatMember",
                                    "sendMessage"])
@pytest.mark.parametrize("error", ["retry_after", "server_error"])
def test_flood_and_outages_on_any_call_delay_but_never_double_a_removal(
    live: Pipeline, control: httpx.Client, telegram_faults: TelegramFaults, method: str,
    error: str,
) -> None:
    """A 429 or a 5xx on any call of the removal: retried, and each person removed and told once."""
    lapsed(live, control, ANN, hours=2)
    lapsed(live, control, BOB)
    telegram_faults.fail(method, error, times=1)

    sweep(live)

    assert channel_status(control, ANN) == channel_status(control, BOB) == "left"
    assert access_of(live, ANN).status == access_of(live, BOB).status == "expired"
    for user_id in (ANN, BOB):
        told = ok(control.get("/messages", params={"chat_id": user_id,
                                                   "direction": "bot_to_user"}))
        assert len(told) == 1
    bans = ok(control.get("/calls", params={"method": "banChatMember"}))
    assert sorted(c["params"]["user_id"] for c in bans if c["status"] == 200) == [
        str(ANN), str(BOB)]
