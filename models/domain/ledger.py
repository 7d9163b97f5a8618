"""The referral commission ledger and payouts: balances, payout requests, payout wallets.

A referrer's balance is never stored as a number that could drift: it is the sum of ledger
entries (commission credits, payout debits). Money reserved by an open payout request is not
available for another one. A credit may be held back for a hold period after the payment that
earned it (`standing`), so a payment that turns out bad costs nothing already paid out. Wallet
addresses are checked per network before a request is accepted, so an admin never sends funds
to a mistyped address.
"""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from models.domain._guards import require_aware, require_non_negative_span
from models.domain.money import ZERO, require_money
from models.domain.refusals import Refusal

DEFAULT_PAYOUT_MINIMUM = Decimal("1.00")
# A commission is payable as soon as it is credited unless a hold period is configured.
NO_HOLD = timedelta(0)


class EntryKind(StrEnum):
    """Which way a ledger entry moves the balance."""

    CREDIT = "credit"
    DEBIT = "debit"


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerEntry:
    """One movement on a referrer's balance; the direction is in `kind`, so `amount` is > 0."""

    kind: EntryKind
    amount: Decimal
    # When it was written (for a credit: when the payment that earned it was confirmed). Only
    # the hold period reads it, so callers that never hold anything may leave it out.
    at: datetime | None = None

    def __post_init__(self) -> None:
        require_money(self.amount, name="amount")
        if self.amount <= 0:
            raise ValueError(f"a ledger entry amount must be positive, got {self.amount}")
        if self.at is not None:
            require_aware(self.at, name="at")


def balance(entries: Iterable[LedgerEntry]) -> Decimal:
    """Return credits minus debits."""
    return sum(
        (entry.amount if entry.kind is EntryKind.CREDIT else -entry.amount for entry in entries),
        start=ZERO,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Standing:
    """A referrer's money at one moment.

    `balance` counts every credit, held or not; `available` is what a payout request may ask
    for now; `on_hold` is the part of the balance still in its hold period, and `next_release`
    when the earliest held credit becomes payable (None when nothing is held).
    """

    balance: Decimal
    available: Decimal
    on_hold: Decimal
    next_release: datetime | None


def payable_at(entry: LedgerEntry, *, hold: timedelta) -> datetime:
    """When a credit may be paid out: `hold` after it was earned (a hold of 0: at once)."""
    if entry.at is None:
        raise ValueError("a credit needs its time (`at`) when a hold period applies")
    return entry.at + hold


def standing(
    *,
    entries: Iterable[LedgerEntry],
    open_request_amount: Decimal,
    hold: timedelta = NO_HOLD,
    now: datetime | None = None,
) -> Standing:
    """Split the balance at `now` into what is available, on hold, and reserved.

    A credit is held while `now` is before `payable_at`; at that instant it is payable. A hold
    of 0 means immediately, whatever the clocks say, so `now` is needed only with a hold.
    Debits (payouts) leave the balance at once. `available` = balance - held credits - the open
    request, never below 0; `on_hold` never exceeds what is left of the balance (a hold period
    raised after a payout cannot hold back money already paid out).
    """
    require_money(open_request_amount, name="open_request_amount")
    if open_request_amount < 0:
        raise ValueError(f"open_request_amount must not be negative, got {open_request_amount}")
    require_non_negative_span(hold, name="hold")
    entries = list(entries)
    held: list[LedgerEntry] = []
    if hold != NO_HOLD:
        if now is None:
            raise ValueError("now is required when a hold period applies")
        require_aware(now, name="now")
        held = [entry for entry in entries if entry.kind is EntryKind.CREDIT
                and payable_at(entry, hold=hold) > now]
    total = balance(entries)
    held_amount = sum((entry.amount for entry in held), start=ZERO)
    on_hold = min(held_amount, max(ZERO, total))
    return Standing(
        balance=total,
        available=max(ZERO, total - held_amount - open_request_amount),
        on_hold=on_hold,
        next_release=(min(payable_at(entry, hold=hold) for entry in held)
                      if on_hold > 0 else None),
    )


def available_for_payout(
    *,
    entries: Iterable[LedgerEntry],
    open_request_amount: Decimal,
    hold: timedelta = NO_HOLD,
    now: datetime | None = None,
) -> Decimal:
    """Return what may be requested at `now`: the balance less held credits and an open
    request, never below 0 (see `standing`)."""
    return standing(entries=entries, open_request_amount=open_request_amount, hold=hold,
                    now=now).available


class PayoutRefusal(StrEnum):
    """Why a payout request was refused."""

    OPEN_REQUEST_EXISTS = "open_request_exists"
    NOT_POSITIVE = "not_positive"
    BELOW_MINIMUM = "below_minimum"
    ABOVE_AVAILABLE = "above_available"


class PayoutRefused(Refusal[PayoutRefusal]):
    """A payout request breaks a payout rule."""


def check_payout_request(
    *,
    amount: Decimal,
    available: Decimal,
    has_open_request: bool,
    minimum: Decimal = DEFAULT_PAYOUT_MINIMUM,
) -> None:
    """Accept a payout request silently or raise PayoutRefused saying which rule it breaks."""
    require_money(amount, name="amount")
    require_money(available, name="available")
    require_money(minimum, name="minimum")
    # One open request at a time: its amount is reserved, and two in flight confuse the admin.
    if has_open_request:
        raise PayoutRefused(
            PayoutRefusal.OPEN_REQUEST_EXISTS, "a payout request is already open; wait for it"
        )
    if amount <= 0:
        raise PayoutRefused(
            PayoutRefusal.NOT_POSITIVE, f"the amount must be positive, got {amount}"
        )
    if amount < minimum:
        raise PayoutRefused(
            PayoutRefusal.BELOW_MINIMUM, f"the minimum payout is {minimum}, got {amount}"
        )
    if amount > available:
        raise PayoutRefused(
            PayoutRefusal.ABOVE_AVAILABLE, f"only {available} is available, asked for {amount}"
        )


class PayoutNetwork(StrEnum):
    """The networks a payout in USDT can be sent on."""

    TRC20 = "TRC20"
    BEP20 = "BEP20"
    ERC20 = "ERC20"


class WalletProblem(StrEnum):
    """What is wrong with a wallet address."""

    EMPTY = "empty"
    BAD_FORMAT = "bad_format"
    BAD_CHECKSUM = "bad_checksum"
    NO_CHECKSUM = "no_checksum"
    ZERO_ADDRESS = "zero_address"


class InvalidWallet(Refusal[WalletProblem]):
    """A wallet address is not a valid address on the chosen network."""


_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_TRON_ADDRESS = re.compile(rf"T[{_BASE58_ALPHABET}]{{33}}")
_TRON_VERSION_BYTE = 0x41
_EVM_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# Base58check of 0x41 followed by twenty zero bytes: Tron's "black hole".
_TRON_ZERO_ADDRESS = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"


Keccak256 = Callable[[bytes], bytes]


def validate_wallet(network: PayoutNetwork, address: str, *, keccak256: Keccak256) -> str:
    """Return the address stripped of surrounding whitespace, or raise InvalidWallet.

    TRC20: `T` + 33 base58 characters whose base58check checksum (double SHA-256) holds.
    BEP20/ERC20: `0x` + 40 hex digits in their EIP-55 mixed case (`keccak256` computes it; the
    standard library lacks Keccak). A payout cannot be taken back, so the checksum is required:
    an address typed all lower or all upper case carries none and is refused with a request to
    copy it from the wallet. The zero address (of either kind) burns what it receives: refused.
    """
    network = PayoutNetwork(network)  # a plain "TRC20" from the database works too
    candidate = address.strip()
    if not candidate:
        raise InvalidWallet(WalletProblem.EMPTY, f"no {network} address given")
    if network is PayoutNetwork.TRC20:
        if not _TRON_ADDRESS.fullmatch(candidate):
            raise InvalidWallet(
                WalletProblem.BAD_FORMAT,
                f"a TRC20 address is T followed by 33 base58 characters, got {candidate!r}",
            )
        if not _tron_checksum_holds(candidate):
            raise InvalidWallet(
                WalletProblem.BAD_CHECKSUM,
                f"{candidate!r} fails its checksum: a character is mistyped",
            )
        if candidate == _TRON_ZERO_ADDRESS:
            raise InvalidWallet(WalletProblem.ZERO_ADDRESS,
                                "that is the zero address: whatever is sent to it is lost")
        return candidate
    if not _EVM_ADDRESS.fullmatch(candidate):
        raise InvalidWallet(
            WalletProblem.BAD_FORMAT,
            f"a {network} address is 0x followed by 40 hex digits, got {candidate!r}",
        )
    if int(candidate, 16) == 0:
        raise InvalidWallet(WalletProblem.ZERO_ADDRESS,
                            "that is the zero address: whatever is sent to it is lost")
    expected = eip55_checksummed(candidate, keccak256=keccak256)
    if candidate != expected:
        digits = candidate[2:]
        if digits in (digits.lower(), digits.upper()):
            raise InvalidWallet(
                WalletProblem.NO_CHECKSUM,
                f"{candidate!r} has no EIP-55 checksum: copy it from your wallet as shown, "
                "with its capital letters",
            )
        raise InvalidWallet(
            WalletProblem.BAD_CHECKSUM,
            f"{candidate!r} fails its EIP-55 checksum: a character is mistyped",
        )
    return candidate


def eip55_checksummed(address: str, *, keccak256: Keccak256) -> str:
    """The EIP-55 spelling of a 0x address: a hex letter is capital where the hash nibble >= 8."""
    digits = address[2:].lower()
    nibbles = keccak256(digits.encode("ascii")).hex()
    return "0x" + "".join(char.upper() if int(nibble, 16) >= 8 else char
                          for char, nibble in zip(digits, nibbles, strict=False))


def _tron_checksum_holds(address: str) -> bool:
    """Tell whether a base58 Tron address decodes to 0x41 + 20 bytes + a valid checksum."""
    number = 0
    for char in address:
        number = number * 58 + _BASE58_ALPHABET.index(char)
    if number.bit_length() > 25 * 8:
        return False
    raw = number.to_bytes(25, "big")
    payload, checksum = raw[:21], raw[21:]
    expected = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return payload[0] == _TRON_VERSION_BYTE and checksum == expected
