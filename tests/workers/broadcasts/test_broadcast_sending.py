"""Broadcast use cases in-process (fake Telegram, real database, both backends): who receives
it, once each; blocked users skipped next time; failures kept to their recipient; stop/resume."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from aiogram.exceptions import TelegramServerError
from aiogram.methods import SendMessage, SendPhoto, TelegramMethod
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.telegram import TelegramFailure, TelegramTransient
from infra.telegram.fake import FakeTelegramGateway
from infra.telegram.rate_limit import Lane
from models import broadcasts as queries
from models.schema import (
    Access,
    AccessHistory,
    Broadcast,
    BroadcastRecipient,
    Invoice,
    Plan,
    User,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.broadcasts import service
from workers.broadcasts.tasks import resume, send_page, start, stop
from workers.context import use_context

T = TypeVar("T")
ADMIN = 100
CHAT = -1001000000001
NOW = datetime.now(UTC)
DAY = timedelta(days=1)
PAID, ENDING, TRIAL, LAPSED, NEVER, REFERRED = 501, 502, 503, 504, 505, 506


class ScriptedTelegram(FakeTelegramGateway):
    """The fake, with answers scripted per chat: `script[chat_id]` is a list of failures (or
    Telegram's own words) its next calls meet, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.script: defaultdict[int, list[TelegramFailure | str]] = defaultdict(list)
        self.on_send: Any = None  # called before each message to a subscriber

    def call(self, method: TelegramMethod[T], *, chat_id_for_budget: int | None = None,
             lane: Lane = Lane.INTERACTIVE) -> T:
        chat = getattr(method, "chat_id", None)
        if isinstance(chat, int) and chat != ADMIN and self.on_send is not None:
            self.on_send(chat)
        if isinstance(chat, int) and self.script[chat]:
            answer = self.script[chat].pop(0)
            if isinstance(answer, str):
                self.answer_next(method.__api_method__, answer)
            else:
                self.fail_next(method.__api_method__, answer)
        return super().call(method, chat_id_for_budget=chat_id_for_budget, lane=lane)

    def broadcast_sends(self) -> list[Any]:
        """Messages to subscribers (not the admin's progress and report), including refused."""
        return [c for c in self.calls if isinstance(c, SendMessage | SendPhoto)
                and c.chat_id != ADMIN]


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline with the scripted fake and a short claim lease, installed as the context."""
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN), effect_relay_after_seconds=3)
    pipeline.telegram = ScriptedTelegram()
    # A page's "go on after N seconds" is queued like any task here.
    pipeline.send_later = lambda name, *args, countdown: pipeline.queued.append(  # type: ignore[method-assign]
        (name, args))
    with use_context(pipeline):
        yield pipeline


def subscribers(sessions: sessionmaker[Session]) -> None:
    """One of each: paid, paid and ending in 2 days, trial, lapsed, never paid, referred."""
    for user_id in (PAID, ENDING, TRIAL, LAPSED, NEVER):
        add_user(sessions, user_id)
    add_user(sessions, REFERRED, referred_by=PAID)
    with sessions.begin() as session:
        plan_id = session.scalar(select(Plan.id))
        if plan_id is None:
            plan = Plan(code="month", title="Month", days=30, price_usd=10, created_at=NOW)
            session.add(plan)
            session.flush()
            plan_id = plan.id
        for user_id, ends, trial in ((PAID, NOW + 20 * DAY, False),
                                     (ENDING, NOW + 2 * DAY, False),
                                     (TRIAL, NOW + DAY, True), (LAPSED, NOW - 5 * DAY, False)):
            session.add(Access(user_id=user_id, chat_id=CHAT, paid_through=ends,
                               status="active", is_trial=trial, created_at=NOW,
                               updated_at=NOW))
            if not trial:
                session.add(Invoice(order_id=f"o{user_id}", user_id=user_id, plan_id=plan_id,
                                    amount_usd=10, status="paid", activated_at=NOW))


def command(key: str = "k1", actor: int = ADMIN) -> dict[str, Any]:
    return {"actor_id": actor, "text": "/broadcast", "request_key": key}


def draft(segment: str = "all", days: int | None = None, text: str = "Hello",
          photo: str | None = None, buttons: list[list[str]] | None = None) -> dict[str, Any]:
    return {"segment": segment, "days": days, "text": text, "photo": photo,
            "buttons": buttons or []}


def run(ctx: Pipeline, *, key: str = "k1", **kwargs: Any) -> int:
    """Confirm a broadcast and let the workers run it to the end; its id."""
    ctx.queued.append((task_names.BROADCAST_START, (command(key), draft(**kwargs))))
    ctx.drain(limit=500)
    with ctx.sessions() as session:
        broadcast_id = session.scalar(select(Broadcast.id).where(Broadcast.request_key == key))
    assert broadcast_id is not None
    return broadcast_id


def started(ctx: Pipeline, **kwargs: Any) -> int:
    """Confirm a broadcast without running its chains (the admin's messages stay queued)."""
    broadcast_id = start.apply(args=[command(), draft(**kwargs)]).get()
    assert broadcast_id is not None
    ctx.queued = deque(call for call in ctx.queued
                       if call[0] != task_names.BROADCAST_SEND_PAGE)
    return int(broadcast_id)


def outcomes(ctx: Pipeline, broadcast_id: int) -> dict[int, str]:
    with ctx.sessions() as session:
        return dict(session.execute(
            select(BroadcastRecipient.user_id, BroadcastRecipient.status)
            .where(BroadcastRecipient.broadcast_id == broadcast_id)).all())


def admin_texts(ctx: Pipeline) -> list[str]:
    return [c.text for c in ctx.telegram.calls_of("sendMessage") if c.chat_id == ADMIN]


@pytest.mark.parametrize(("segment", "days", "expected"), [
    ("all", None, {PAID, ENDING, TRIAL, LAPSED, NEVER, REFERRED}),
    ("active", None, {PAID, ENDING}),
    ("trialing", None, {TRIAL}),
    ("expired", None, {LAPSED}),
    ("never_paid", None, {TRIAL, NEVER, REFERRED}),
    ("expiring", 3, {ENDING, TRIAL}),
    ("referred", None, {REFERRED}),
])
def test_each_segment_reaches_its_people_once(ctx: Pipeline, segment: str, days: int | None,
                                              expected: set[int]) -> None:
    """The recipients are the segment's members, each sent the message once, in the bulk
    lane; the admin hears when it starts and the final counts when it ends."""
    subscribers(ctx.sessions)
    broadcast_id = run(ctx, segment=segment, days=days)
    sends = ctx.telegram.broadcast_sends()
    assert Counter(c.chat_id for c in sends) == dict.fromkeys(expected, 1)
    assert {lane for c, lane in zip(ctx.telegram.calls, ctx.telegram.lanes, strict=True)
            if c in sends} == {Lane.BULK}
    assert set(outcomes(ctx, broadcast_id).values()) == {"sent"}
    with ctx.sessions() as session:
        row = session.get_one(Broadcast, broadcast_id)
        progress = queries.progress(session, broadcast_id)
    assert (row.status, row.total, progress.sent, progress.left) == (
        "done", len(expected), len(expected), 0)
    assert admin_texts(ctx)[-1] == texts.broadcast_finished(broadcast_id=broadcast_id,
                                                            progress=progress)


@pytest.mark.parametrize("refusal", ["Forbidden: bot was blocked by the user",
                                     "Forbidden: user is deactivated",
                                     "Bad Request: chat not found"])
def test_unreachable_users_are_recorded_and_skipped_next_time(ctx: Pipeline,
                                                              refusal: str) -> None:
    """Blocked, deactivated, chat not found: `blocked` here, marked on the user, and the next
    broadcast does not even try them."""
    subscribers(ctx.sessions)
    ctx.telegram.script[NEVER].append(refusal)
    first = run(ctx, key="first")
    assert outcomes(ctx, first)[NEVER] == "blocked"
    with ctx.sessions() as session:
        assert session.get_one(User, NEVER).blocked_bot_at is not None
    ctx.telegram.calls.clear()
    ctx.telegram.lanes.clear()
    second = run(ctx, key="second")
    assert NEVER not in outcomes(ctx, second)
    assert NEVER not in {c.chat_id for c in ctx.telegram.broadcast_sends()}
    assert len(outcomes(ctx, second)) == 5


def test_one_failing_recipient_does_not_stop_the_others(ctx: Pipeline) -> None:
    """A refusal about one recipient is recorded on them; everyone else is still sent to."""
    subscribers(ctx.sessions)
    ctx.telegram.script[ENDING].append("Bad Request: PEER_ID_INVALID")
    broadcast_id = run(ctx, segment="active")
    assert outcomes(ctx, broadcast_id) == {PAID: "sent", ENDING: "failed"}
    with ctx.sessions() as session:
        error = session.scalar(select(BroadcastRecipient.error).where(
            BroadcastRecipient.user_id == ENDING))
    assert error is not None and "PEER_ID_INVALID" in error


def test_flood_control_and_server_errors_are_retried_not_failed(ctx: Pipeline) -> None:
    """A 429 and a 5xx: the recipient is tried again later and ends sent, never failed."""
    subscribers(ctx.sessions)
    ctx.telegram.script[PAID].append(TelegramTransient(retry_after=0.01,
                                                       description="Too Many Requests"))
    server_error = TelegramTransient(description="Internal Server Error")
    server_error.__cause__ = TelegramServerError(method=SendMessage(chat_id=1, text="x"),
                                                 message="Internal Server Error")
    ctx.telegram.script[ENDING].append(server_error)
    broadcast_id = run(ctx, segment="active")
    assert outcomes(ctx, broadcast_id) == {PAID: "sent", ENDING: "sent"}
    assert Counter(c.chat_id for c in ctx.telegram.broadcast_sends()) == {PAID: 2, ENDING: 2}


def test_a_request_that_may_have_arrived_is_never_repeated(ctx: Pipeline) -> None:
    """A timeout after the request left: maybe delivered, so `unconfirmed`, not sent again."""
    subscribers(ctx.sessions)
    ctx.telegram.script[PAID].append(TelegramTransient(description="Request timeout error"))
    broadcast_id = run(ctx, segment="active")
    assert outcomes(ctx, broadcast_id) == {PAID: "unconfirmed", ENDING: "sent"}
    assert Counter(c.chat_id for c in ctx.telegram.broadcast_sends()) == {PAID: 1, ENDING: 1}


def test_a_photo_with_buttons_goes_out_as_a_photo(ctx: Pipeline) -> None:
    """sendPhoto with the file_id, the caption and the URL buttons, one per row."""
    subscribers(ctx.sessions)
    run(ctx, segment="referred", text="New!", photo="photo-file-id",
        buttons=[["Open", "https://example.com/a"], ["Rules", "https://t.me/rules"]])
    [sent] = ctx.telegram.broadcast_sends()
    assert isinstance(sent, SendPhoto)
    assert (sent.chat_id, sent.photo, sent.caption) == (REFERRED, "photo-file-id", "New!")
    markup = sent.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    assert [[(b.text, b.url) for b in row] for row in markup.inline_keyboard] == [
        [("Open", "https://example.com/a")], [("Rules", "https://t.me/rules")]]


def test_a_redelivered_start_writes_nothing_twice(ctx: Pipeline) -> None:
    """The same confirmation twice: one broadcast, one set of recipients, one message each."""
    subscribers(ctx.sessions)
    ctx.queued.append((task_names.BROADCAST_START, (command(), draft())))
    ctx.queued.append((task_names.BROADCAST_START, (command(), draft())))
    ctx.drain(limit=500)
    with ctx.sessions() as session:
        assert session.scalar(select(Broadcast.id).where(Broadcast.id > 1)) is None
    assert Counter(Counter(c.chat_id for c in ctx.telegram.broadcast_sends()).values()) == {1: 6}


def test_a_non_admin_cannot_start_stop_or_resume(ctx: Pipeline) -> None:
    """Anyone else on the broker: nothing written, nothing sent, the refusal audited."""
    subscribers(ctx.sessions)
    start.apply(args=[command(actor=PAID), draft()]).get()
    broadcast_id = run(ctx)
    stop.apply(args=[command("s", actor=PAID), broadcast_id]).get()
    resume.apply(args=[command("r", actor=PAID), broadcast_id]).get()
    with ctx.sessions() as session:
        assert session.scalar(select(Broadcast.admin_id)) == ADMIN
        refused = session.scalars(select(AccessHistory.action).where(
            AccessHistory.user_id == PAID, AccessHistory.action == "admin_refused")).all()
        assert session.get_one(Broadcast, broadcast_id).status == "done"
    assert len(refused) == 3


def test_stop_then_resume_never_sends_twice(ctx: Pipeline) -> None:
    """Stopped after two recipients: the chain ends; Resume sends only to the rest."""
    subscribers(ctx.sessions)
    broadcast_id = started(ctx)
    page = service.send_page(ctx, broadcast_id, clock=lambda: datetime.now(UTC), page_size=2)
    assert (page.sent, page.next_in) == (2, 0.0)
    stop.apply(args=[command("stop"), broadcast_id]).get()
    assert send_page.apply(args=[broadcast_id]).get() == 0  # a chain finds it stopped
    assert (task_names.BROADCAST_SEND_PAGE, (broadcast_id,)) not in ctx.queued
    with ctx.sessions() as session:
        progress = queries.progress(session, broadcast_id)
    assert (progress.sent, progress.left) == (2, 4)

    resume.apply(args=[command("resume"), broadcast_id]).get()
    ctx.drain(limit=500)
    assert Counter(Counter(c.chat_id for c in ctx.telegram.broadcast_sends()).values()) == {1: 6}
    assert set(outcomes(ctx, broadcast_id).values()) == {"sent"}
    said = admin_texts(ctx)
    assert any(text.startswith(f"Broadcast #{broadcast_id} stopped") for text in said)
    assert any(text.startswith(f"Broadcast #{broadcast_id} resumed") for text in said)
    assert said[-1].startswith(f"Broadcast #{broadcast_id} finished: sent 6,")


def test_stop_takes_effect_at_the_next_recipient(ctx: Pipeline) -> None:
    """A Stop committed while a page is sending: that page sends no one after it."""
    subscribers(ctx.sessions)
    broadcast_id = started(ctx)
    sends: list[int] = []

    def stop_on_the_third(chat: int) -> None:
        sends.append(chat)
        if len(sends) == 3:  # the admin's Stop, committed while the page sends
            stop.apply(args=[command("stop"), broadcast_id]).get()

    ctx.telegram.on_send = stop_on_the_third
    page = service.send_page(ctx, broadcast_id, clock=lambda: datetime.now(UTC))
    assert (page.sent, page.next_in) == (3, None)
    with ctx.sessions() as session:
        assert session.get_one(Broadcast, broadcast_id).status == "stopped"


def test_a_claim_left_by_a_dead_task_ends_unconfirmed_and_is_never_resent(
        ctx: Pipeline) -> None:
    """A recipient a killed worker was sending to: after the lease, `unconfirmed`, not resent;
    everyone else is sent to once and the broadcast finishes."""
    subscribers(ctx.sessions)
    broadcast_id = started(ctx)
    with ctx.sessions.begin() as session:
        session.execute(update(BroadcastRecipient)
                        .where(BroadcastRecipient.user_id == PAID)
                        .values(status="sending", claimed_until=NOW - timedelta(seconds=1)))
    resume.apply(args=[command("resume"), broadcast_id]).get()
    ctx.drain(limit=500)
    assert PAID not in {c.chat_id for c in ctx.telegram.broadcast_sends()}
    assert outcomes(ctx, broadcast_id)[PAID] == "unconfirmed"
    with ctx.sessions() as session:
        progress = queries.progress(session, broadcast_id)
        assert session.get_one(Broadcast, broadcast_id).status == "done"
    assert (progress.sent, progress.unconfirmed, progress.left) == (5, 1, 0)


def test_a_live_claim_holds_the_finish_until_its_lease_ends(ctx: Pipeline) -> None:
    """A chain that finds only another's claim in flight waits for it rather than finishing."""
    subscribers(ctx.sessions)
    broadcast_id = started(ctx, segment="active")
    with ctx.sessions.begin() as session:
        session.execute(update(BroadcastRecipient)
                        .where(BroadcastRecipient.user_id == PAID)
                        .values(status="sending", claimed_until=datetime.now(UTC) + DAY))
    page = service.send_page(ctx, broadcast_id, clock=lambda: datetime.now(UTC))
    assert page.sent == 1 and page.next_in is not None and page.next_in > 60
    with ctx.sessions() as session:
        assert session.get_one(Broadcast, broadcast_id).status == "sending"


def test_recipients_are_written_in_one_statement(ctx: Pipeline, engine: Any) -> None:
    """However many recipients, confirming writes them with one INSERT .. SELECT."""
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        session.execute(insert(User), [{"id": 10_000 + n, "first_name": "x", "created_at": now}
                                       for n in range(2000)])
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        broadcast_id = started(ctx)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO BROADCAST_R")]
    assert len(writes) == 1 and "SELECT" in writes[0].upper()
    assert len(outcomes(ctx, broadcast_id)) == 2000


def test_a_page_is_a_slice_of_time_and_hands_on_to_the_next(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page ends when its time is up, queues the next page of its chain, and so on to the
    end: no task holds the broadcast, and other tasks run in between."""
    subscribers(ctx.sessions)
    broadcast_id = started(ctx)
    page = service.send_page(ctx, broadcast_id, clock=lambda: datetime.now(UTC),
                             page_seconds=0.0)
    assert (page.sent, page.next_in) == (1, 0.0)
    monkeypatch.setattr(service, "PAGE_SECONDS", 0.0)
    assert send_page.apply(args=[broadcast_id]).get() == 1
    assert ctx.queued[-1] == (task_names.BROADCAST_SEND_PAGE, (broadcast_id,))
    ctx.drain(limit=100)  # page after page, one recipient each, to the end
    assert set(outcomes(ctx, broadcast_id).values()) == {"sent"}
