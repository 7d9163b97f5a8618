"""The expiry sweep in-process: who is removed, who never is, grace, breaker, dry run, retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import UnbanChatMember
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from infra import buttons, task_names
from infra.telegram import TelegramPermanent, TelegramTransient
from models.schema import AccessHistory, SweepHold, TelegramEffect
from tests.workers.harness import Pipeline
from tests.workers.sweeps.conftest import (
    ADMIN,
    CHANNEL,
    access_of,
    count,
    membership,
    subscriber,
    sweep_pipeline,
    texts_to,
)
from workers.access.service import extend_access
from workers.context import use_context
from workers.sweeps import service

ANN, BOB, CAT, DAN = 7001, 7002, 7003, 7099
HOUR = timedelta(hours=1)


def sweep(ctx: Pipeline, name: str = task_names.EXPIRE_SUBSCRIPTIONS, *args: Any) -> Any:
    """Run one sweep task through the pipeline (and the messages it queues); its result."""
    ctx.send(name, *args)
    results = ctx.drain()
    return results[0][1]


def history(ctx: Pipeline, user_id: int) -> list[AccessHistory]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory)
                                    .where(AccessHistory.user_id == user_id)))


def test_due_member_is_removed_told_and_recorded(ctx: Pipeline) -> None:
    """A lapsed member is banned then unbanned (free to come back), marked expired and told."""
    paid_through = datetime.now(UTC) - HOUR
    subscriber(ctx, ANN, paid_through=paid_through)
    subscriber(ctx, BOB, paid_through=datetime.now(UTC) + 10 * HOUR)

    report = sweep(ctx)

    assert report["removed"] == 1 and report["expired"] == 1
    assert [c.user_id for c in ctx.telegram.calls_of("banChatMember")] == [ANN]
    unbans = ctx.telegram.calls_of("unbanChatMember")
    assert [(c.user_id, c.only_if_banned) for c in unbans if isinstance(c, UnbanChatMember)] == [
        (ANN, True)]
    assert membership(ctx, ANN) == "left" and membership(ctx, BOB) == "member"
    assert access_of(ctx, ANN).status == "expired" and access_of(ctx, BOB).status == "active"
    started, entry = history(ctx, ANN)  # noted before the ban, so a ban is known to be ours
    assert (started.action, entry.action, entry.source) == (
        "removal_started", "expired_removed", "sweep")
    assert entry.paid_through_before == entry.paid_through_after == paid_through
    [told] = texts_to(ctx, ANN)
    assert told.reply_markup.inline_keyboard[0][0].callback_data == buttons.SHOW_PLANS
    assert texts_to(ctx, BOB) == []


def test_a_user_not_in_the_channel_is_only_marked_expired(ctx: Pipeline) -> None:
    """No ban for someone who never joined or already left; the row and history still change."""
    subscriber(ctx, ANN, paid_through=datetime.now(UTC) - HOUR, member=False)

    report = sweep(ctx)

    assert (report["removed"], report["expired"]) == (0, 1)
    assert ctx.telegram.calls_of("banChatMember") == []
    assert access_of(ctx, ANN).status == "expired"
    assert [entry.action for entry in history(ctx, ANN)] == ["expired"]
    assert len(texts_to(ctx, ANN)) == 1


def test_admins_owner_and_administrators_are_never_removed(ctx: Pipeline) -> None:
    """Configured admins, the channel's creator and its administrators keep their seat."""
    lapsed = datetime.now(UTC) - HOUR
    for user_id in (ADMIN, ANN, BOB):
        subscriber(ctx, user_id, paid_through=lapsed)
    ctx.telegram.staff.update({ANN: "creator", BOB: "administrator"})

    report = sweep(ctx)

    assert (report["removed"], report["kept"]) == (0, 3)
    assert ctx.telegram.calls_of("banChatMember") == []
    assert {membership(ctx, user_id) for user_id in (ADMIN, ANN, BOB)} == {"member"}
    assert [entry.action for entry in history(ctx, ANN)] == ["expired_kept"]
    assert texts_to(ctx, ANN) == []
    # The configured admin is known without asking Telegram.
    assert ADMIN not in {c.user_id for c in ctx.telegram.calls_of("getChatMember")}


def test_a_payment_landing_before_the_removal_keeps_the_user(ctx: Pipeline) -> None:
    """The row is re-checked under lock right before acting: paid since the scan, not removed."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    with ctx.sessions() as session:
        due = service.due_access(session, chat_id=CHANNEL, cutoff=now)
    with ctx.sessions.begin() as session:
        extend_access(session, user_id=ANN, chat_id=CHANNEL, days=30, now=now, plan_id=None,
                      action="payment_activated", source="payment")

    summary = service.remove_due(ctx, due, now=now)

    assert (summary.removed, summary.paid_meanwhile) == (0, 1)
    assert ctx.telegram.calls_of("banChatMember") == []
    assert membership(ctx, ANN) == "member" and access_of(ctx, ANN).status == "active"


def test_a_payment_landing_during_the_removal_sends_a_fresh_invite(ctx: Pipeline) -> None:
    """Paid while Telegram was being asked: the row stays paid and the invite is sent again."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    ask = ctx.telegram.get_chat_member

    def paying_while_asked(**kwargs: Any) -> Any:
        with ctx.sessions.begin() as session:
            extend_access(session, user_id=ANN, chat_id=CHANNEL, days=30, now=now,
                          plan_id=None, action="payment_activated", source="payment")
        return ask(**kwargs)

    ctx.telegram.get_chat_member = paying_while_asked
    with ctx.sessions() as session:
        due = service.due_access(session, chat_id=CHANNEL, cutoff=now)
    summary = service.remove_due(ctx, due, now=now)

    assert (summary.removed, summary.paid_meanwhile) == (0, 1)
    assert access_of(ctx, ANN).status == "active"
    assert [e.action for e in history(ctx, ANN)][-1] == "sweep_removed_paid_meanwhile"
    with ctx.sessions() as session:
        methods = session.scalars(select(TelegramEffect.method)).all()
    assert methods == ["grantAccess"]


def test_grace_keeps_the_user_until_it_ends(
    db_url: str, engine: Any, session_factory: sessionmaker[Session]
) -> None:
    """With 24 h grace a user lapsed 1 h ago moves to grace and stays; after it, is removed."""
    ctx = sweep_pipeline(db_url, engine, session_factory, grace_hours=24)
    now = datetime.now(UTC)
    with use_context(ctx):
        subscriber(ctx, ANN, paid_through=now - HOUR)

        first = service.expire_subscriptions(ctx, now=now)
        assert (first.to_grace, first.removed) == (1, 0)
        assert access_of(ctx, ANN).status == "grace" and membership(ctx, ANN) == "member"

        later = service.expire_subscriptions(ctx, now=now + 24 * HOUR)
        assert later.removed == 1 and membership(ctx, ANN) == "left"
        assert access_of(ctx, ANN).status == "expired"


@pytest.fixture
def breaker(db_url: str, engine: Any,
            session_factory: sessionmaker[Session]) -> Iterator[Callable[..., Pipeline]]:
    """Builds a pipeline with the given limits: ten members, ANN, BOB and CAT of them due."""
    with ExitStack() as stack:
        def build(**limits: Any) -> Pipeline:
            ctx = sweep_pipeline(db_url, engine, session_factory, **limits)
            stack.enter_context(use_context(ctx))
            now = datetime.now(UTC)
            for offset, user_id in enumerate(range(7001, 7011)):
                lapsed = offset < 3
                subscriber(ctx, user_id, paid_through=now - HOUR if lapsed else now + 100 * HOUR)
            return ctx

        yield build


def test_breaker_holds_on_count_alerts_admins_and_confirm_runs_it_once(
    breaker: Callable[..., Pipeline],
) -> None:
    """3 due over a limit of 2: nobody removed, admins alerted, then /sweep_confirm removes."""
    ctx = breaker(sweep_max_removals=2)
    held = sweep(ctx)
    assert held["hold_id"] is not None and held["removed"] == 0
    assert ctx.telegram.calls_of("banChatMember") == []
    [alert] = texts_to(ctx, ADMIN)
    assert "/sweep_confirm" in alert.text and "3 of 10" in alert.text

    again = sweep(ctx)  # still held: nothing happens, no second hold or alert
    assert again["hold_id"] == held["hold_id"] and again["expired"] == 0
    assert count(ctx, SweepHold) == 1 and len(texts_to(ctx, ADMIN)) == 1

    confirmed = sweep(ctx, task_names.CONFIRM_SWEEP_HOLD, ADMIN)
    assert confirmed["outcome"] == "confirmed" and confirmed["removed"] == 3
    assert {membership(ctx, user_id) for user_id in (ANN, BOB, CAT)} == {"left"}
    with ctx.sessions() as session:
        hold = session.scalars(select(SweepHold)).one()
    assert (hold.status, hold.confirmed_by, hold.due_count) == ("confirmed", ADMIN, 3)
    assert "3 removed" in texts_to(ctx, ADMIN)[-1].text

    assert sweep(ctx, task_names.CONFIRM_SWEEP_HOLD, ADMIN) == {"outcome": "nothing held"}
    assert len(ctx.telegram.calls_of("banChatMember")) == 3

    # A later due set is judged afresh: one removal is under the limit, so it just runs.
    subscriber(ctx, DAN, paid_through=datetime.now(UTC) - HOUR)
    assert sweep(ctx)["removed"] == 1 and count(ctx, SweepHold) == 1


def test_a_confirmed_removal_cut_short_by_flood_control_is_resumed(
    breaker: Callable[..., Pipeline],
) -> None:
    """A 429 halfway through the confirmed run: the retry finishes it, and it is reported once."""
    ctx = breaker(sweep_max_removals=2)
    sweep(ctx)
    ctx.telegram.fail_next("unbanChatMember", TelegramTransient(retry_after=1))

    confirmed = sweep(ctx, task_names.CONFIRM_SWEEP_HOLD, ADMIN)

    assert confirmed["outcome"] == "resumed"
    assert {membership(ctx, user_id) for user_id in (ANN, BOB, CAT)} == {"left"}
    assert count(ctx, AccessHistory, AccessHistory.action == "expired_removed") == 3
    [report] = [m for m in texts_to(ctx, ADMIN) if "confirmed" in m.text]
    assert "3 removed" in report.text


def test_breaker_holds_on_share_of_members(breaker: Callable[..., Pipeline]) -> None:
    """3 of 10 members due with a 20 % ceiling: held, whatever the absolute limit."""
    ctx = breaker(sweep_max_share=0.2, sweep_share_min_due=3)
    report = sweep(ctx)
    assert report["hold_id"] is not None and report["removed"] == 0
    with ctx.sessions() as session:
        hold = session.scalars(select(SweepHold)).one()
    assert (hold.due_count, hold.member_count) == (3, 10)
    assert "20%" in hold.reason


def test_breaker_lets_exactly_the_limits_through(breaker: Callable[..., Pipeline]) -> None:
    """The limits are ceilings, not bars: 3 removals with a limit of 3 (30 % of 30 %) run."""
    ctx = breaker(sweep_max_removals=3, sweep_max_share=0.3, sweep_share_min_due=1)
    report = sweep(ctx)
    assert report["hold_id"] is None and report["removed"] == 3


def test_breaker_share_is_exactly_at_its_ceiling(breaker: Callable[..., Pipeline]) -> None:
    """3 of 10 with a 30 % ceiling runs, the count limit aside."""
    ctx = breaker(sweep_max_share=0.3, sweep_share_min_due=3)
    report = sweep(ctx)
    assert report["hold_id"] is None and report["removed"] == 3


def test_admins_do_not_count_towards_the_breaker(breaker: Callable[..., Pipeline]) -> None:
    """A lapsed admin is never removed, so 3 subscribers + 1 admin due stay under a limit of 3."""
    ctx = breaker(sweep_max_removals=3)
    subscriber(ctx, ADMIN, paid_through=datetime.now(UTC) - HOUR)
    report = sweep(ctx)
    assert report["hold_id"] is None and (report["removed"], report["kept"]) == (3, 1)


def test_share_rule_waits_for_a_minimum_number_of_removals(
    breaker: Callable[..., Pipeline],
) -> None:
    """3 of 10 due with a 20 % ceiling but a minimum of 4 for the share rule: no hold."""
    ctx = breaker(sweep_max_share=0.2, sweep_share_min_due=4)
    report = sweep(ctx)
    assert report["hold_id"] is None and report["removed"] == 3


def test_only_admins_may_confirm_a_hold(breaker: Callable[..., Pipeline]) -> None:
    """A confirmation from anyone else changes nothing."""
    ctx = breaker(sweep_max_removals=2)
    sweep(ctx)
    assert sweep(ctx, task_names.CONFIRM_SWEEP_HOLD, ANN) == {"outcome": "not an admin"}
    with ctx.sessions() as session:
        assert session.scalars(select(SweepHold.status)).one() == "held"


def test_dry_run_logs_and_changes_nothing(
    db_url: str, engine: Any, session_factory: sessionmaker[Session]
) -> None:
    """SWEEP_DRY_RUN: one log line per would-be removal, no Telegram call, no row changed."""
    ctx = sweep_pipeline(db_url, engine, session_factory, sweep_dry_run=True, grace_hours=2)
    paid_through = datetime.now(UTC) - 3 * HOUR
    with use_context(ctx):
        subscriber(ctx, ANN, paid_through=paid_through)
        subscriber(ctx, BOB, paid_through=datetime.now(UTC) - HOUR)  # in grace
        with capture_logs() as logs:
            report = sweep(ctx)
        assert report["dry_run"] and report["due"] == 1
        assert [(line["user_id"], line["paid_through"]) for line in logs
                if line["event"] == "sweep_dry_run_would_expire"] == [
            (ANN, paid_through.isoformat())]
        assert ctx.telegram.calls == []
        assert access_of(ctx, ANN).status == "active" and access_of(ctx, BOB).status == "active"
        assert count(ctx, AccessHistory) == count(ctx, TelegramEffect) == 0


def test_a_retried_sweep_changes_nothing(ctx: Pipeline) -> None:
    """Running the sweep again: no second ban, history entry or message."""
    subscriber(ctx, ANN, paid_through=datetime.now(UTC) - HOUR)
    sweep(ctx)
    calls = len(ctx.telegram.calls)

    report = sweep(ctx)

    assert report["due"] == 0 and len(ctx.telegram.calls) == calls
    assert len(history(ctx, ANN)) == 2 and count(ctx, TelegramEffect) == 1


def test_flood_control_mid_run_retries_and_finishes_exactly_once(ctx: Pipeline) -> None:
    """A 429 on the second ban: the task retries after retry_after and each user is done once."""
    for user_id in (ANN, BOB, CAT):
        subscriber(ctx, user_id, paid_through=datetime.now(UTC) - HOUR)
    ctx.telegram.fail_next("banChatMember", TelegramTransient(retry_after=1))

    report = sweep(ctx)

    assert report["removed"] == 3
    assert len(ctx.telegram.calls_of("banChatMember")) == 4  # the refused one, then three
    assert {membership(ctx, user_id) for user_id in (ANN, BOB, CAT)} == {"left"}
    assert count(ctx, AccessHistory, AccessHistory.action == "expired_removed") == 3
    assert count(ctx, AccessHistory, AccessHistory.action == "removal_started") == 3
    assert count(ctx, TelegramEffect) == 3
    assert all(len(texts_to(ctx, user_id)) == 1 for user_id in (ANN, BOB, CAT))


def test_a_refused_removal_is_recorded_and_left_for_the_next_run(ctx: Pipeline) -> None:
    """Telegram refusing the ban (e.g. missing rights): the row stays, its history says why."""
    subscriber(ctx, ANN, paid_through=datetime.now(UTC) - HOUR)
    ctx.telegram.fail_next("banChatMember", TelegramPermanent("not enough rights"), times=2)

    assert sweep(ctx)["refused"] == 1
    assert sweep(ctx)["refused"] == 1
    assert access_of(ctx, ANN).status == "active"
    refusals = [h for h in history(ctx, ANN) if h.action == "removal_refused"]
    assert len(refusals) == 1 and "not enough rights" in (refusals[0].details or "")

    assert sweep(ctx)["removed"] == 1
    assert membership(ctx, ANN) == "left"


LOOKUP_REFUSALS = ["Bad Request: member not found", "Bad Request: user not found",
                   "Bad Request: PARTICIPANT_ID_INVALID", "Forbidden: user is deactivated"]


@pytest.mark.parametrize("answer", LOOKUP_REFUSALS)
def test_one_users_lookup_error_never_stops_a_confirmed_sweep(
    breaker: Callable[..., Pipeline], answer: str,
) -> None:
    """/sweep_confirm: getChatMember refusing the first user (§3) stops neither them nor others."""
    ctx = breaker(sweep_max_removals=2)
    sweep(ctx)
    ctx.telegram.answer_next("getChatMember", answer)

    confirmed = sweep(ctx, task_names.CONFIRM_SWEEP_HOLD, ADMIN)

    assert confirmed["outcome"] == "confirmed" and confirmed["expired"] == 3
    assert [c.user_id for c in ctx.telegram.calls_of("banChatMember")] == [ANN, BOB, CAT]
    assert {membership(ctx, user_id) for user_id in (ANN, BOB, CAT)} == {"left"}
    assert {access_of(ctx, user_id).status for user_id in (ANN, BOB, CAT)} == {"expired"}
    assert sweep(ctx)["due"] == 0


def test_a_permanent_refusal_for_one_user_does_not_stop_the_others(ctx: Pipeline) -> None:
    """An unexpected refusal on the first due row is recorded there; the next rows still go."""
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=datetime.now(UTC) - HOUR)
    ctx.telegram.fail_next("getChatMember", TelegramPermanent("Bad Request: something new"))

    report = sweep(ctx)

    assert (report["refused"], report["removed"]) == (1, 1)
    assert membership(ctx, BOB) == "left" and access_of(ctx, BOB).status == "expired"
    assert [h.action for h in history(ctx, ANN)] == ["removal_refused"]
    assert sweep(ctx)["removed"] == 1 and membership(ctx, ANN) == "left"


def test_the_kick_counts_a_user_already_out_as_removed(ctx: Pipeline) -> None:
    """A ban answered "not in the chat" means the person is out already: the row ends."""
    subscriber(ctx, ANN, paid_through=datetime.now(UTC) - HOUR)
    subscriber(ctx, BOB, paid_through=datetime.now(UTC) - HOUR)
    ctx.telegram.answer_next("banChatMember", "Bad Request: USER_NOT_PARTICIPANT")

    report = sweep(ctx)

    assert (report["expired"], report["refused"]) == (2, 0)
    assert access_of(ctx, ANN).status == "expired"
    assert "expired_removed" in [h.action for h in history(ctx, ANN)]


def test_a_ban_an_admin_set_by_hand_is_not_lifted(ctx: Pipeline) -> None:
    """A due user an admin banned in Telegram stays banned: the sweep only ends the row."""
    subscriber(ctx, ANN, paid_through=datetime.now(UTC) - HOUR, member=False)
    ctx.telegram.members[CHANNEL, ANN] = "kicked"

    report = sweep(ctx)

    assert report["expired"] == 1 and report["removed"] == 0
    assert ctx.telegram.calls_of("unbanChatMember") == []
    assert membership(ctx, ANN) == "kicked"
    [expired] = history(ctx, ANN)
    assert expired.action == "expired" and '"standing": "kicked"' in (expired.details or "")


def test_our_own_ban_cut_short_is_lifted_by_the_retry(ctx: Pipeline) -> None:
    """Banned by the sweep, then interrupted before the unban: the retry lifts our own ban."""
    subscriber(ctx, ANN, paid_through=datetime.now(UTC) - HOUR)
    ctx.telegram.fail_next("unbanChatMember", TelegramTransient(retry_after=1))

    report = sweep(ctx)

    assert report["removed"] == 1 and membership(ctx, ANN) == "left"
    assert len(ctx.telegram.calls_of("banChatMember")) == 1
    assert len(ctx.telegram.calls_of("unbanChatMember")) == 2


def test_set_days_zero_is_removed_by_the_sweep(ctx: Pipeline) -> None:
    """An admin's `setdays 0` ends access; the next sweep must take the user out."""
    from workers.admin import service as admin

    subscriber(ctx, ANN, paid_through=datetime.now(UTC) + 100 * HOUR)
    with ctx.sessions.begin() as session:
        admin.set_days(session, command=admin.Command(actor_id=ADMIN, text="/edit",
                                                      request_key="k"),
                       user_id=ANN, days=0, chat_id=CHANNEL, now=datetime.now(UTC) - HOUR)
    sweep(ctx)
    assert membership(ctx, ANN) == "left"
