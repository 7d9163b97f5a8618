"""Tests for models.domain.invoices: the status machine and invoice identifiers."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.invoices import (
    InvoiceStatus,
    grants_access,
    next_status,
    normalize_uuid,
    provider_uuid,
    time_left,
)

CREATED, PAID, PARTIAL, OVERPAID, CANCELED = (
    InvoiceStatus.CREATED,
    InvoiceStatus.PAID,
    InvoiceStatus.PARTIAL,
    InvoiceStatus.OVERPAID,
    InvoiceStatus.CANCELED,
)

# Every (current, reported) pair; None means "ignore the report".
TRANSITIONS = [
    (CREATED, CREATED, None),
    (CREATED, PAID, PAID),
    (CREATED, PARTIAL, PARTIAL),
    (CREATED, OVERPAID, OVERPAID),
    (CREATED, CANCELED, CANCELED),
    (PARTIAL, CREATED, None),
    (PARTIAL, PAID, PAID),
    (PARTIAL, PARTIAL, None),  # more money, same status: the caller records the amount
    (PARTIAL, OVERPAID, OVERPAID),
    (PARTIAL, CANCELED, CANCELED),
    (CANCELED, CREATED, None),
    (CANCELED, PAID, PAID),  # money that arrives late is honoured
    (CANCELED, PARTIAL, PARTIAL),
    (CANCELED, OVERPAID, OVERPAID),
    (CANCELED, CANCELED, None),
    (PAID, CREATED, None),
    (PAID, PAID, None),
    (PAID, PARTIAL, None),
    (PAID, OVERPAID, None),
    (PAID, CANCELED, None),
    (OVERPAID, CREATED, None),
    (OVERPAID, PAID, None),
    (OVERPAID, PARTIAL, None),
    (OVERPAID, OVERPAID, None),
    (OVERPAID, CANCELED, None),
]


def test_transition_table_covers_every_pair() -> None:
    """The table below lists each of the 25 (current, reported) pairs exactly once."""
    assert sorted((c, r) for c, r, _ in TRANSITIONS) == sorted(
        (c, r) for c in InvoiceStatus for r in InvoiceStatus
    )


@pytest.mark.parametrize(("current", "reported", "expected"), TRANSITIONS)
def test_next_status(
    current: InvoiceStatus, reported: InvoiceStatus, expected: InvoiceStatus | None
) -> None:
    """next_status moves an invoice forward or returns None to ignore the report."""
    assert next_status(current, reported) == expected


def test_next_status_takes_stored_strings() -> None:
    """Plain strings read back from the database work like the enum members."""
    assert next_status("created", "paid") is PAID  # type: ignore[arg-type]


def test_next_status_rejects_unknown_status() -> None:
    """A status the engine does not know is a ValueError, never silently ignored."""
    with pytest.raises(ValueError, match="refunded"):
        next_status(CREATED, "refunded")  # type: ignore[arg-type]


# Progress: created, then money-or-cancel (which may alternate), then final.
RANK = {CREATED: 0, PARTIAL: 1, CANCELED: 1, PAID: 2, OVERPAID: 2}


@given(st.lists(st.sampled_from(InvoiceStatus), max_size=30))
def test_status_never_goes_backwards(reports: list[InvoiceStatus]) -> None:
    """Over any sequence of reports the status never regresses and a final one stays."""
    status = CREATED
    for reported in reports:
        moved = next_status(status, reported)
        if moved is None:
            continue
        assert RANK[moved] >= RANK[status]
        assert moved != CREATED
        assert not grants_access(status)
        status = moved


@pytest.mark.parametrize(
    ("status", "expected"),
    [(CREATED, False), (PARTIAL, False), (CANCELED, False), (PAID, True), (OVERPAID, True)],
)
def test_grants_access(status: InvoiceStatus, expected: bool) -> None:
    """Only paid and overpaid invoices buy access."""
    assert grants_access(status) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("INV-ABCD1234", "ABCD1234"),
        ("inv-abcd", "ABCD"),
        ("  Inv-xyz9\n", "XYZ9"),
        ("abcd", "ABCD"),
        ("0000", "0000"),
        ("INV" + "X" * 4, "INVXXXX"),  # "INV" without the dash is part of the code
        ("A" * 32, "A" * 32),
    ],
)
def test_normalize_uuid_accepts(raw: str, expected: str) -> None:
    """normalize_uuid drops the INV- prefix and whitespace and upper-cases the code."""
    assert normalize_uuid(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "INV-",
        "ABC",
        "A" * 33,
        "AB-CD",
        "INV-INV-ABCD",
        "AB CD",
        "abcß",  # upper() would make it "ABCSS"
        "ＡＢＣＤ",  # full-width letters
        "ABCD١",  # an Arabic-Indic digit
    ],
)
def test_normalize_uuid_rejects(raw: str) -> None:
    """Anything but 4-32 ASCII letters or digits after the prefix is a ValueError."""
    with pytest.raises(ValueError, match="not an invoice id"):
        normalize_uuid(raw)


@pytest.mark.parametrize(
    ("code", "expected"), [("ABCD", "INV-ABCD"), ("abcd", "INV-ABCD"), ("INV-abcd", "INV-ABCD")]
)
def test_provider_uuid(code: str, expected: str) -> None:
    """provider_uuid spells the id the provider's way, without ever doubling the prefix."""
    assert provider_uuid(code) == expected


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        min_size=4,
        max_size=32,
    )
)
def test_provider_uuid_round_trips(code: str) -> None:
    """normalize_uuid undoes provider_uuid for every valid code."""
    assert normalize_uuid(provider_uuid(code)) == normalize_uuid(code) == code.upper()


NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (NOW + timedelta(minutes=30), timedelta(minutes=30)),
        (NOW, timedelta(0)),
        (NOW - timedelta(seconds=1), timedelta(0)),
    ],
)
def test_time_left_is_never_negative(expires_at: datetime, expected: timedelta) -> None:
    """time_left counts down to zero and stays there after expiry."""
    assert time_left(expires_at=expires_at, now=NOW) == expected


def test_time_left_rejects_naive_datetimes() -> None:
    """A naive datetime is refused rather than compared with an aware one."""
    with pytest.raises(ValueError, match="timezone-aware"):
        time_left(expires_at=NOW.replace(tzinfo=None), now=NOW)


@pytest.mark.parametrize("naive", ["expires_at", "now"])
def test_time_left_names_the_naive_datetime(naive: str) -> None:
    """A naive datetime is refused with an error naming the argument that was naive."""
    aware = datetime(2025, 3, 1, 12, tzinfo=UTC)
    moments = {"expires_at": aware, "now": aware, naive: aware.replace(tzinfo=None)}
    with pytest.raises(ValueError, match=f"^{naive} must be timezone-aware"):
        time_left(**moments)
