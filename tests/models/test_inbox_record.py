"""models.inbox.record_payment_event: one INSERT for a new event, on a session or a connection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, func, select

from models.inbox import record_payment_event
from models.schema import PaymentEvent


def _record(engine: Engine, code: str, status: str = "paid") -> Any:
    with engine.begin() as connection:
        return record_payment_event(connection, invoice_uuid=code, reported_status=status,
                                    source="postback", payload="{}", now=datetime.now(UTC))


def _statements(engine: Engine) -> list[str]:
    """The INSERT/SELECT/UPDATE statements the engine runs from now on (not BEGIN/COMMIT)."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "SELECT", "UPDATE"):
            seen.append(verb)

    return seen


def test_new_event_on_a_bare_connection_is_one_insert(engine: Engine) -> None:
    """A new event is stored by a single INSERT .. RETURNING on a plain connection."""
    statements = _statements(engine)
    entry = _record(engine, "AB12CD34")
    assert statements == ["INSERT"]
    assert entry.is_new and entry.needs_processing
    with engine.connect() as connection:
        stored = connection.execute(select(PaymentEvent.id, PaymentEvent.attempts)).one()
    assert (stored.id, stored.attempts) == (entry.id, 0)


def test_repeated_event_answers_the_stored_row(engine: Engine) -> None:
    """The same (invoice, status) again inserts nothing and answers the first row's id."""
    first = _record(engine, "AB12CD34")
    statements = _statements(engine)
    again = _record(engine, "AB12CD34")
    other_status = _record(engine, "AB12CD34", status="overpaid")
    assert statements == ["INSERT", "SELECT", "INSERT"]
    assert (again.id, again.is_new, again.processed) == (first.id, False, False)
    assert other_status.is_new and other_status.id != first.id
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PaymentEvent)) == 2
