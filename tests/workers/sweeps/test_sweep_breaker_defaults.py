"""The breaker's defaults tell an accident from ordinary churn, in a small channel and at 1M.

Pure verdicts first (`breaker_reason` with the default settings), then the same on a database
through the real sweep task: a held run alerts the admins, an ordinary one just runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.settings import Settings, load_settings
from models.schema import AccessHistory, SweepHold
from tests.workers.harness import Pipeline, make_pipeline
from tests.workers.sweeps.conftest import ADMIN, CHANNEL, ChannelFake, count, subscriber, texts_to
from workers.context import use_context
from workers.sweeps import service

MILLION = 1_000_000
CHURN_AT_A_MILLION = 70.0  # ordinary lapses per 5-minute run at a million (issue 13)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def defaults() -> Settings:
    return load_settings(_env_file=None)


def verdict(settings: Settings, *, due: int, members: int, churn: float) -> str | None:
    return service.breaker_reason(
        due=due, members=members, max_removals=settings.sweep_max_removals,
        max_share=settings.sweep_max_share, share_min_due=settings.sweep_share_min_due,
        recent_churn=churn, max_churn_factor=settings.sweep_max_churn_factor)


def test_ordinary_churn_at_a_million_runs_under_the_defaults(defaults: Settings) -> None:
    """70 lapses of 1M members, as every 5-minute run sees: no hold (main's 50 held them)."""
    assert verdict(defaults, due=70, members=MILLION, churn=CHURN_AT_A_MILLION) is None


def test_a_busy_run_at_a_million_within_the_churn_factor_runs(defaults: Settings) -> None:
    """Ten times the usual lapses in one run is still churn, not an accident."""
    assert verdict(defaults, due=700, members=MILLION, churn=CHURN_AT_A_MILLION) is None


@pytest.mark.parametrize("due", [10_000, 50_000])
def test_a_few_percent_lapsing_at_once_at_a_million_holds(defaults: Settings, due: int) -> None:
    """1 % or 5 % of 1M at once (a wrong plan, a bad migration) is far above the churn: held."""
    reason = verdict(defaults, due=due, members=MILLION, churn=CHURN_AT_A_MILLION)
    assert reason is not None and "recent churn" in reason


def test_a_clock_jump_at_a_million_holds_on_the_share(defaults: Settings) -> None:
    """Half the paying base due at once is held whatever the churn has been."""
    reason = verdict(defaults, due=MILLION // 2, members=MILLION, churn=10_000)
    assert reason is not None and "of the members" in reason


def test_a_small_channel_losing_a_few_runs(defaults: Settings) -> None:
    """3 of 20 members lapsing in one run, with no churn so far: under the floor, no hold."""
    assert verdict(defaults, due=3, members=20, churn=0) is None


def test_a_small_channel_losing_everyone_holds(defaults: Settings) -> None:
    """All 20 of 20 members due at once is an accident at any size."""
    assert verdict(defaults, due=20, members=20, churn=0) is not None


def test_the_absolute_ceiling_is_unset_by_default_and_still_honoured(defaults: Settings) -> None:
    """SWEEP_MAX_REMOVALS empty means no ceiling; set, it holds above it whatever the rest."""
    assert defaults.sweep_max_removals is None
    assert load_settings(_env_file=None, sweep_max_removals="").sweep_max_removals is None
    capped = load_settings(_env_file=None, sweep_max_removals=50)
    reason = verdict(capped, due=70, members=MILLION, churn=CHURN_AT_A_MILLION)
    assert reason == "more than 50 removals in one run"


def test_churn_factor_zero_turns_the_churn_rule_off(defaults: Settings) -> None:
    """With SWEEP_MAX_CHURN_FACTOR=0 only the share (and any ceiling) can hold."""
    off = load_settings(_env_file=None, sweep_max_churn_factor=0)
    assert verdict(off, due=10_000, members=MILLION, churn=CHURN_AT_A_MILLION) is None


# The same on a database, through the sweep task with the default breaker -----------------------

@pytest.fixture
def channel(db_url: str, engine: Any,
            session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """Default breaker settings; 300 members, of them 12 lapsed an hour ago."""
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    ctx.telegram = ChannelFake()
    with use_context(ctx):
        now = datetime.now(UTC)
        for user_id in range(8001, 8301):
            lapsed = user_id <= 8012
            subscriber(ctx, user_id, paid_through=now - HOUR if lapsed else now + 100 * HOUR)
        yield ctx


def recent_expiries(ctx: Pipeline, how_many: int) -> None:
    """`how_many` rows the sweep expired over the last day (other, long gone subscribers)."""
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        session.add_all(AccessHistory(
            user_id=90_000 + n, chat_id=CHANNEL, action="expired_removed", source="sweep",
            created_at=now - timedelta(seconds=60 + n * 200)) for n in range(how_many))


def sweep(ctx: Pipeline) -> Any:
    ctx.send(task_names.EXPIRE_SUBSCRIPTIONS)
    return ctx.drain()[0][1]


def test_twelve_lapsing_where_churn_is_usual_just_run(channel: Pipeline) -> None:
    """12 due of 300 after a day of ~2 expiries a run: removed, nobody alerted."""
    recent_expiries(channel, 400)  # 400 a day = 1.4 a 5-minute run; 12 is under 10x that

    report = sweep(channel)

    assert report["hold_id"] is None and report["removed"] == 12
    assert count(channel, SweepHold) == 0 and texts_to(channel, ADMIN) == []


def test_twelve_lapsing_where_nobody_lapsed_before_hold_and_alert(channel: Pipeline) -> None:
    """The same 12 with no expiry in the last day: held, nobody removed, the admin alerted."""
    report = sweep(channel)

    assert report["hold_id"] is not None and report["removed"] == 0
    assert channel.telegram.calls_of("banChatMember") == []
    [alert] = texts_to(channel, ADMIN)
    assert "/sweep_confirm" in alert.text and "12 of 300" in alert.text
