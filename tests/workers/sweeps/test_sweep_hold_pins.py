"""The breaker's hold and its confirmation, as an operator sees them: the log lines, the summary
and its effects, the admin's report, and which hold a confirmation acts on."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from infra.telegram import TelegramTransient
from models.history import record_history
from models.outbox import Effects
from models.schema import Access, AccessHistory, SweepHold, TelegramEffect
from tests.workers.harness import Pipeline
from tests.workers.sweeps.conftest import ADMIN, CHANNEL, access_of, subscriber
from workers.sweeps import service

ANN, BOB, CAT, DAN = 7301, 7302, 7303, 7304
OTHER_ADMIN = 101
HOUR = timedelta(hours=1)


def limits(ctx: Pipeline, **settings: Any) -> None:
    ctx.settings = ctx.settings.model_copy(update=settings)


def lines(logs: list[MutableMapping[str, Any]], event: str) -> list[dict[str, Any]]:
    return [dict(line) for line in logs if line["event"] == event]


def keys(ctx: Pipeline, effects: Effects) -> list[str]:
    """The outbox keys of `effects`, in their order."""
    with ctx.sessions() as session:
        by_id = {effect_id: key for effect_id, key
                 in session.execute(select(TelegramEffect.id, TelegramEffect.key))}
    return [by_id[effect_id] for effect_id, _ in effects]


def the_hold(ctx: Pipeline) -> SweepHold:
    with ctx.sessions() as session:
        return session.scalars(select(SweepHold)).one()


def held(ctx: Pipeline, *, now: datetime) -> SweepHold:
    """Run the sweep at `now` under a breaker that holds it; the hold it opened."""
    assert service.expire_subscriptions(ctx, now=now).hold_id is not None
    return the_hold(ctx)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "PAGE_SIZE", 2)


def test_a_held_run_logs_its_figures_and_reports_who_went_into_grace(ctx: Pipeline) -> None:
    """The "sweep_held" line names the hold, the removable due, the members, the churn to two
    decimals and the reason; the summary counts the rows moved into grace before the hold."""
    limits(ctx, sweep_max_removals=1, grace_hours=6, sweep_interval_seconds=3600)
    now = datetime.now(UTC)
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=now - 7 * HOUR)
    subscriber(ctx, CAT, paid_through=now - 2 * HOUR)  # in grace
    subscriber(ctx, DAN, paid_through=now + 2 * HOUR)
    with ctx.sessions.begin() as session:  # one expiry in the last day: 1/24 of one a run
        record_history(session, user_id=DAN, chat_id=CHANNEL, action="expired",
                       source="sweep", now=now - 2 * HOUR)

    with capture_logs() as logs:
        summary = service.expire_subscriptions(ctx, now=now)

    hold = the_hold(ctx)
    assert (summary.hold_id, summary.due, summary.to_grace) == (hold.id, 2, 1)
    assert lines(logs, "sweep_held") == [{
        "event": "sweep_held", "log_level": "warning", "hold_id": hold.id, "due": 2,
        "members": 4, "churn": 0.04, "reason": "more than 1 removals in one run"}]


def test_every_admin_is_alerted_by_the_held_runs_effects(ctx: Pipeline) -> None:
    """Two admins: the held run hands over one alert for each, not only the last one's."""
    limits(ctx, sweep_max_removals=0, admin_ids=frozenset({ADMIN, OTHER_ADMIN}))
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)

    summary = service.expire_subscriptions(ctx, now=now)

    assert keys(ctx, summary.effects) == [f"sweep_hold:{summary.hold_id}:{ADMIN}",
                                          f"sweep_hold:{summary.hold_id}:{OTHER_ADMIN}"]


def test_a_confirmation_from_someone_else_is_recorded_and_logged(ctx: Pipeline) -> None:
    """Not an admin: the refusal is in their history (command, actor, the time of asking) and
    a "sweep_confirm_refused" warning names them; the hold stays."""
    limits(ctx, sweep_max_removals=0)
    now = datetime.now(UTC) - 3 * HOUR
    subscriber(ctx, ANN, paid_through=now - HOUR)
    held(ctx, now=now)

    with capture_logs() as logs:
        confirmation = service.confirm_hold(ctx, admin_id=ANN, now=now)

    assert (confirmation.outcome, confirmation.summary) == ("not an admin", None)
    with ctx.sessions() as session:
        refusal = session.scalars(select(AccessHistory)
                                  .where(AccessHistory.action == "admin_refused")).one()
    assert (refusal.user_id, refusal.actor_id, refusal.command, refusal.source,
            refusal.created_at) == (ANN, ANN, "/sweep_confirm", "admin", now)
    assert lines(logs, "sweep_confirm_refused") == [
        {"event": "sweep_confirm_refused", "log_level": "warning", "admin_id": ANN}]
    assert the_hold(ctx).status == "held"


def test_a_confirmation_in_dry_run_says_so_and_removes_nobody(ctx: Pipeline) -> None:
    """SWEEP_DRY_RUN: the outcome is "dry run", an info line names the admin, the hold stays."""
    limits(ctx, sweep_max_removals=0)
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    held(ctx, now=now)
    limits(ctx, sweep_dry_run=True)

    with capture_logs() as logs:
        confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now)

    assert (confirmation.outcome, confirmation.summary) == ("dry run", None)
    assert lines(logs, "sweep_dry_run_would_confirm") == [
        {"event": "sweep_dry_run_would_confirm", "log_level": "info", "admin_id": ADMIN}]
    assert the_hold(ctx).status == "held" and access_of(ctx, ANN).status == "active"


def test_nothing_held_before_any_hold_and_after_a_finished_one_is_logged(ctx: Pipeline) -> None:
    """No hold ever: "nothing held", logged with the admin; the same once a confirmed hold's
    removal is finished."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    nothing = {"event": "sweep_confirm_nothing_held", "log_level": "info", "admin_id": ADMIN}

    with capture_logs() as logs:
        confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now)
    assert (confirmation.outcome, confirmation.summary) == ("nothing held", None)
    assert lines(logs, "sweep_confirm_nothing_held") == [nothing]
    assert access_of(ctx, ANN).status == "active"

    limits(ctx, sweep_max_removals=0)
    held(ctx, now=now)
    assert service.confirm_hold(ctx, admin_id=ADMIN, now=now).outcome == "confirmed"
    with capture_logs() as logs:
        again = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)
    assert (again.outcome, again.summary) == ("nothing held", None)
    assert lines(logs, "sweep_confirm_nothing_held") == [nothing]


@pytest.mark.usefixtures("small_pages")
def test_a_confirmed_removal_hands_over_its_pages_and_reports_the_hold(ctx: Pipeline) -> None:
    """Pages of two: the first page's messages go to `dispatch` as the run goes; the summary
    keeps the last page's and the admin's report, names the hold, and a warning logs it all."""
    limits(ctx, sweep_max_removals=1)
    now = datetime.now(UTC)
    for offset, user_id in enumerate((ANN, BOB, CAT)):
        subscriber(ctx, user_id, paid_through=now - (3 - offset) * HOUR)
    hold = held(ctx, now=now)
    dispatched: list[Effects] = []

    with capture_logs() as logs:
        confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now,
                                            dispatch=dispatched.append)

    assert confirmation.outcome == "confirmed" and confirmation.summary is not None
    summary = confirmation.summary
    access = {user_id: access_of(ctx, user_id) for user_id in (ANN, BOB, CAT)}
    expired = {user_id: f"sweep_expired:{row.id}:{row.paid_through.isoformat()}"
               for user_id, row in access.items() if row.paid_through is not None}
    assert [keys(ctx, effects) for effects in dispatched] == [[expired[ANN], expired[BOB]]]
    assert keys(ctx, summary.effects) == [expired[CAT], f"sweep_confirmed:{hold.id}"]
    assert (summary.hold_id, summary.due, summary.removed) == (hold.id, 3, 3)
    with ctx.sessions() as session:
        report = session.scalars(select(TelegramEffect).where(
            TelegramEffect.key == f"sweep_confirmed:{hold.id}")).one()
    assert report.chat_id == ADMIN
    assert f"Sweep hold #{hold.id} confirmed: 3 removed from the channel, 3 marked expired" \
        in (report.request or "")
    assert lines(logs, "sweep_hold_confirmed") == [{
        "event": "sweep_hold_confirmed", "log_level": "warning", "hold_id": hold.id,
        "admin_id": ADMIN, "outcome": "confirmed", "removed": 3}]


@pytest.mark.usefixtures("small_pages")
def test_a_confirmed_removal_reads_each_page_only_when_it_gets_there(ctx: Pipeline) -> None:
    """Pages of two: a row of the second page paid while the first is removed is never read,
    so it is neither removed nor counted as paid meanwhile (the due count is the hold's)."""
    limits(ctx, sweep_max_removals=1)
    now = datetime.now(UTC)
    for offset, user_id in enumerate((ANN, BOB, CAT)):
        subscriber(ctx, user_id, paid_through=now - (3 - offset) * HOUR)
    held(ctx, now=now)
    ban = ctx.telegram.ban

    def ban_then_cat_pays(*, chat_id: int, user_id: int) -> None:
        ban(chat_id=chat_id, user_id=user_id)
        with ctx.sessions.begin() as session:
            session.execute(update(Access).where(Access.user_id == CAT)
                            .values(paid_through=now + 30 * 24 * HOUR))

    ctx.telegram.ban = ban_then_cat_pays
    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now)

    assert confirmation.summary is not None
    summary = confirmation.summary
    assert (summary.due, summary.removed, summary.paid_meanwhile) == (3, 2, 0)
    assert access_of(ctx, CAT).status == "active"


def test_a_resumed_confirmation_reports_the_whole_removal_since_it_was_confirmed(
    ctx: Pipeline,
) -> None:
    """A 429 cuts the confirmed removal short after one expiry; the resumed run's report counts
    from the confirmation on, so the first run's expiry is in the admin's totals."""
    limits(ctx, sweep_max_removals=1)
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - 3 * HOUR, member=False)  # expires, no removal
    subscriber(ctx, BOB, paid_through=now - 2 * HOUR)
    subscriber(ctx, CAT, paid_through=now - HOUR)
    hold = held(ctx, now=now)
    ctx.telegram.fail_next("banChatMember", TelegramTransient(retry_after=1))
    first = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)
    assert first.summary is not None and first.summary.interrupted is not None

    resumed = service.confirm_hold(ctx, admin_id=ADMIN, now=now + 2 * HOUR)

    assert resumed.outcome == "resumed" and resumed.summary is not None
    assert resumed.summary.hold_id == hold.id
    with ctx.sessions() as session:
        report = session.scalars(select(TelegramEffect).where(
            TelegramEffect.key == f"sweep_confirmed:{hold.id}")).one()
    assert "2 removed from the channel, 3 marked expired in all" in (report.request or "")


def test_a_confirmation_counts_only_who_was_past_grace_when_it_was_held(
    ctx: Pipeline,
) -> None:
    """Grace of 6 h: the one still in grace at the hold is not even in the confirmed run's due
    count (not picked up and let go as paid meanwhile)."""
    limits(ctx, sweep_max_removals=0, grace_hours=6)
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - 7 * HOUR)
    subscriber(ctx, BOB, paid_through=now - 2 * HOUR)
    held(ctx, now=now)

    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)

    assert confirmation.summary is not None
    summary = confirmation.summary
    assert (summary.due, summary.removed, summary.paid_meanwhile) == (1, 1, 0)


def test_a_hold_another_admin_confirmed_meanwhile_is_resumed_not_confirmed_again(
    ctx: Pipeline, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another admin's confirmation lands between reading the open hold and confirming it: it
    wins (the hold stays theirs) and this one resumes the removal they approved."""
    limits(ctx, sweep_max_removals=0, admin_ids=frozenset({ADMIN, OTHER_ADMIN}))
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    hold = held(ctx, now=now)
    open_hold = service.open_hold

    def read_then_lose_the_race(session: Session) -> SweepHold | None:
        found = open_hold(session)
        session.execute(update(SweepHold).where(SweepHold.id == hold.id).values(
            status="confirmed", confirmed_by=OTHER_ADMIN, confirmed_at=now))
        return found

    monkeypatch.setattr(service, "open_hold", read_then_lose_the_race)
    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)

    assert confirmation.outcome == "resumed"
    assert confirmation.summary is not None and confirmation.summary.removed == 1
    after = the_hold(ctx)
    assert (after.status, after.confirmed_by, after.confirmed_at) == (
        "confirmed", OTHER_ADMIN, now)


def test_a_resumed_confirmation_acts_on_the_latest_confirmed_hold(ctx: Pipeline) -> None:
    """Two confirmed holds, none open: a confirmation resumes the newer one, under its cutoff,
    not an older one whose cutoff nobody due now falls under."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - 5 * HOUR)
    with ctx.sessions.begin() as session:
        holds = [SweepHold(due_count=1, member_count=1, reason="r", status="confirmed",
                           confirmed_by=ADMIN, confirmed_at=at, created_at=at)
                 for at in (now - 10 * HOUR, now)]
        session.add_all(holds)
        session.flush()
        newer = holds[1].id

    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)

    assert confirmation.outcome == "resumed" and confirmation.summary is not None
    assert (confirmation.summary.hold_id, confirmation.summary.removed) == (newer, 1)
    assert access_of(ctx, ANN).status == "expired"
