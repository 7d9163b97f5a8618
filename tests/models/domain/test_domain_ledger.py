"""Tests for models.domain.ledger: balances, payout requests and payout wallet addresses."""

import pickle
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.hashing import keccak256
from models.domain import ledger
from models.domain.ledger import (
    EntryKind,
    InvalidWallet,
    LedgerEntry,
    PayoutNetwork,
    PayoutRefusal,
    PayoutRefused,
    WalletProblem,
    available_for_payout,
    balance,
    check_payout_request,
)

amounts = st.integers(min_value=1, max_value=10**7).map(lambda c: Decimal(c).scaleb(-2))
entries = st.lists(st.builds(LedgerEntry, kind=st.sampled_from(EntryKind), amount=amounts))


def credit(amount: str) -> LedgerEntry:
    """Build a commission credit."""
    return LedgerEntry(kind=EntryKind.CREDIT, amount=Decimal(amount))


def debit(amount: str) -> LedgerEntry:
    """Build a payout debit."""
    return LedgerEntry(kind=EntryKind.DEBIT, amount=Decimal(amount))


@pytest.mark.parametrize("amount", ["0.00", "-1.00", "0.001"])
def test_ledger_entry_amount_is_positive_whole_cents(amount: str) -> None:
    """A ledger entry refuses a zero, negative or unrounded amount: direction lives in kind."""
    with pytest.raises(ValueError):
        credit(amount)


@pytest.mark.parametrize(
    ("ledger", "expected"),
    [
        ([], "0.00"),
        ([credit("1.50")], "1.50"),
        ([credit("1.50"), credit("2.25")], "3.75"),
        ([credit("5.00"), debit("3.00")], "2.00"),
        ([credit("5.00"), debit("5.00")], "0.00"),
        ([debit("1.00")], "-1.00"),
    ],
)
def test_balance_table(ledger: list[LedgerEntry], expected: str) -> None:
    """The balance is credits minus debits, in cents."""
    assert str(balance(ledger)) == expected


@given(entries)
def test_balance_is_credits_minus_debits(ledger: list[LedgerEntry]) -> None:
    """For any sequence of entries the balance is sum(credits) - sum(debits), order aside."""
    credits = sum(e.amount for e in ledger if e.kind == "credit")
    debits = sum(e.amount for e in ledger if e.kind == "debit")
    assert balance(ledger) == credits - debits
    assert balance(reversed(ledger)) == balance(ledger)


@pytest.mark.parametrize(
    ("ledger", "open_amount", "expected"),
    [
        ([credit("10.00")], "0.00", "10.00"),
        ([credit("10.00")], "4.00", "6.00"),
        ([credit("10.00")], "10.00", "0.00"),
        ([credit("10.00"), debit("7.00")], "0.00", "3.00"),
        ([credit("1.00")], "5.00", "0.00"),  # inconsistent data still never goes below 0
    ],
)
def test_available_for_payout_reserves_the_open_request(
    ledger: list[LedgerEntry], open_amount: str, expected: str
) -> None:
    """What may be requested is the balance less the open request, floored at 0."""
    assert available_for_payout(entries=ledger, open_request_amount=Decimal(open_amount)) == (
        Decimal(expected)
    )


@pytest.mark.parametrize(
    ("amount", "available", "has_open", "reason"),
    [
        ("5.00", "10.00", True, PayoutRefusal.OPEN_REQUEST_EXISTS),
        ("0.00", "10.00", True, PayoutRefusal.OPEN_REQUEST_EXISTS),  # the open request wins
        ("0.00", "10.00", False, PayoutRefusal.NOT_POSITIVE),
        ("-1.00", "10.00", False, PayoutRefusal.NOT_POSITIVE),
        ("0.99", "10.00", False, PayoutRefusal.BELOW_MINIMUM),
        ("10.01", "10.00", False, PayoutRefusal.ABOVE_AVAILABLE),
        ("1.00", "0.50", False, PayoutRefusal.ABOVE_AVAILABLE),
    ],
)
def test_check_payout_request_refusals(
    amount: str, available: str, has_open: bool, reason: PayoutRefusal
) -> None:
    """A refused payout request names the rule it breaks."""
    with pytest.raises(PayoutRefused) as refused:
        check_payout_request(
            amount=Decimal(amount), available=Decimal(available), has_open_request=has_open
        )
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    ("amount", "available", "minimum"),
    [("1.00", "10.00", "1.00"), ("10.00", "10.00", "1.00"), ("0.50", "0.50", "0.10")],
)
def test_check_payout_request_accepts_the_boundaries(
    amount: str, available: str, minimum: str
) -> None:
    """Exactly the minimum, or exactly everything available, is accepted; a cent past either
    boundary is refused, so the boundary is exactly there."""
    def check(value: Decimal) -> None:
        check_payout_request(amount=value, available=Decimal(available),
                             has_open_request=False, minimum=Decimal(minimum))

    check(Decimal(amount))
    past = Decimal(amount) + (Decimal("0.01") if amount == available else Decimal("-0.01"))
    with pytest.raises(PayoutRefused):
        check(past)


def test_check_payout_request_rejects_unrounded_amount() -> None:
    """An amount that was never rounded to the cent is a caller bug, not a refusal."""
    with pytest.raises(ValueError, match="whole cents"):
        check_payout_request(
            amount=Decimal("1.005"), available=Decimal("10.00"), has_open_request=False
        )


@given(ledger=entries, amount=st.integers(min_value=-100, max_value=10**7))
def test_an_accepted_payout_never_makes_the_balance_negative(
    ledger: list[LedgerEntry], amount: int
) -> None:
    """Once an accepted request is reserved, and later paid as a debit, nothing goes negative."""
    asked = Decimal(amount).scaleb(-2)
    available = available_for_payout(entries=ledger, open_request_amount=Decimal("0.00"))
    try:
        check_payout_request(amount=asked, available=available, has_open_request=False)
    except PayoutRefused:
        assert asked < Decimal("1.00") or asked > available
        return
    assert available_for_payout(entries=ledger, open_request_amount=asked) == available - asked
    assert balance([*ledger, LedgerEntry(kind=EntryKind.DEBIT, amount=asked)]) >= 0


def test_refusals_survive_pickling() -> None:
    """A refusal keeps its reason and message through pickle (task results, log handlers),
    and in its args, which is what repr() in a log line and Celery's JSON error info show."""
    error = PayoutRefused(PayoutRefusal.BELOW_MINIMUM, "the minimum payout is 1.00, got 0.50")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, just made
    assert (copy.reason, str(copy)) == (error.reason, str(error))
    assert copy.args == (PayoutRefusal.BELOW_MINIMUM, "the minimum payout is 1.00, got 0.50")


USDT_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRON_BLACK_HOLE = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"
EVM = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # "ab" * 20 in its EIP-55 spelling
# EIP-55's own test vectors: mixed case, and two whose checksum happens to be one case.
EIP55_VECTORS = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                 "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                 "0x52908400098527886E0F7030069857D2E4169EE7",
                 "0xde709f2102306220921060314715629080e2fb77"]


def validate_wallet(network: PayoutNetwork, address: str) -> str:
    return ledger.validate_wallet(network, address, keccak256=keccak256)


@pytest.mark.parametrize(
    ("network", "address", "expected"),
    [
        (PayoutNetwork.TRC20, USDT_CONTRACT, USDT_CONTRACT),
        (PayoutNetwork.TRC20, f"  {USDT_CONTRACT}\n", USDT_CONTRACT),
        (PayoutNetwork.ERC20, EVM, EVM),
        *[(PayoutNetwork.ERC20, vector, vector) for vector in EIP55_VECTORS],
        *[(PayoutNetwork.BEP20, vector, vector) for vector in EIP55_VECTORS],
        ("BEP20", f" {EVM} ", EVM),
    ],
)
def test_validate_wallet_accepts_valid_addresses(
    network: PayoutNetwork, address: str, expected: str
) -> None:
    """A valid address comes back stripped of surrounding whitespace and otherwise unchanged."""
    assert validate_wallet(network, address) == expected


@pytest.mark.parametrize(
    ("network", "address", "problem"),
    [
        (PayoutNetwork.TRC20, "", WalletProblem.EMPTY),
        (PayoutNetwork.ERC20, "   ", WalletProblem.EMPTY),
        (PayoutNetwork.TRC20, USDT_CONTRACT[:-1] + "u", WalletProblem.BAD_CHECKSUM),
        (PayoutNetwork.TRC20, USDT_CONTRACT[:-1], WalletProblem.BAD_FORMAT),
        (PayoutNetwork.TRC20, USDT_CONTRACT + "1", WalletProblem.BAD_FORMAT),
        (PayoutNetwork.TRC20, "A" + USDT_CONTRACT[1:], WalletProblem.BAD_FORMAT),
        # 0, O, I and l are not base58: easy to confuse, so never valid
        (
            PayoutNetwork.TRC20,
            USDT_CONTRACT[:5] + "0" + USDT_CONTRACT[6:],
            WalletProblem.BAD_FORMAT,
        ),
        (PayoutNetwork.TRC20, "Tzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", WalletProblem.BAD_CHECKSUM),
        (PayoutNetwork.TRC20, EVM, WalletProblem.BAD_FORMAT),
        (PayoutNetwork.ERC20, USDT_CONTRACT, WalletProblem.BAD_FORMAT),
        (PayoutNetwork.ERC20, EVM[:-1], WalletProblem.BAD_FORMAT),
        (PayoutNetwork.ERC20, EVM + "a", WalletProblem.BAD_FORMAT),
        (PayoutNetwork.BEP20, "0X" + EVM[2:], WalletProblem.BAD_FORMAT),
        (PayoutNetwork.BEP20, EVM[:-1] + "g", WalletProblem.BAD_FORMAT),
        (PayoutNetwork.BEP20, EVM[2:], WalletProblem.BAD_FORMAT),
        (PayoutNetwork.ERC20, "0x" + "0" * 40, WalletProblem.ZERO_ADDRESS),
        (PayoutNetwork.BEP20, "0x" + "0" * 40, WalletProblem.ZERO_ADDRESS),
        (PayoutNetwork.TRC20, TRON_BLACK_HOLE, WalletProblem.ZERO_ADDRESS),
        (PayoutNetwork.ERC20, EVM.lower(), WalletProblem.NO_CHECKSUM),
        (PayoutNetwork.BEP20, "0x" + EVM[2:].upper(), WalletProblem.NO_CHECKSUM),
        (PayoutNetwork.ERC20, EIP55_VECTORS[0].replace("aA", "Aa", 1), WalletProblem.BAD_CHECKSUM),
        (PayoutNetwork.ERC20, EIP55_VECTORS[0].lower(), WalletProblem.NO_CHECKSUM),
    ],
)
def test_validate_wallet_rejects_invalid_addresses(
    network: PayoutNetwork, address: str, problem: WalletProblem
) -> None:
    """An invalid address is refused with the kind of problem it has."""
    with pytest.raises(InvalidWallet) as invalid:
        validate_wallet(network, address)
    assert invalid.value.reason is problem


def test_every_one_character_typo_in_a_tron_address_is_caught() -> None:
    """Changing any single character of a valid TRC20 address makes it invalid."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    accepted = []
    for position, original in enumerate(USDT_CONTRACT):
        for char in alphabet.replace(original, ""):
            typo = USDT_CONTRACT[:position] + char + USDT_CONTRACT[position + 1 :]
            try:
                validate_wallet(PayoutNetwork.TRC20, typo)
            except InvalidWallet:
                continue
            accepted.append(typo)
    assert accepted == []


def test_every_case_flip_of_a_checksummed_evm_address_is_caught() -> None:
    """Changing the case of any one letter of an EIP-55 address breaks its checksum."""
    accepted = []
    for position, char in enumerate(EVM):
        if position < 2 or not char.isalpha():
            continue
        flipped = EVM[:position] + char.swapcase() + EVM[position + 1:]
        try:
            validate_wallet(PayoutNetwork.ERC20, flipped)
        except InvalidWallet:
            continue
        accepted.append(flipped)
    assert accepted == []


def test_validate_wallet_rejects_unknown_network() -> None:
    """A network the engine does not pay out on is a ValueError, not a silent EVM check."""
    with pytest.raises(ValueError, match="SOL"):
        validate_wallet("SOL", EVM)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: LedgerEntry(kind=EntryKind.CREDIT, amount=Decimal("1.001")),
         "^amount must be whole cents"),
        (lambda: LedgerEntry(kind=EntryKind.CREDIT, amount=Decimal("0.00")),
         "^a ledger entry amount must be positive, got 0.00"),
        (lambda: available_for_payout(entries=[], open_request_amount=Decimal("1.001")),
         "^open_request_amount must be whole cents"),
        (lambda: available_for_payout(entries=[], open_request_amount=Decimal("-1.00")),
         "^open_request_amount must not be negative"),
        (lambda: check_payout_request(amount=Decimal("1.001"), available=Decimal("5.00"),
                                      has_open_request=False), "^amount must be whole cents"),
        (lambda: check_payout_request(amount=Decimal("1.00"), available=Decimal("5.001"),
                                      has_open_request=False), "^available must be whole cents"),
        (lambda: check_payout_request(amount=Decimal("1.00"), available=Decimal("5.00"),
                                      has_open_request=False, minimum=Decimal("0.001")),
         "^minimum must be whole cents"),
    ],
    ids=["entry-cents", "entry-zero", "open-cents", "open-negative", "amount", "available",
         "minimum"],
)
def test_bad_amounts_are_refused_by_name(call: Callable[[], object], message: str) -> None:
    """A bad amount is refused with an error naming the argument and the rule it breaks."""
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("amount", "has_open_request", "message"),
    [
        ("5.00", True, "^a payout request is already open; wait for it$"),
        ("0.00", False, "^the amount must be positive, got 0.00$"),
        ("0.50", False, "^the minimum payout is 1.00, got 0.50$"),
        ("9.00", False, "^only 5.00 is available, asked for 9.00$"),
    ],
)
def test_payout_refusals_tell_the_referrer_what_to_change(
    amount: str, has_open_request: bool, message: str
) -> None:
    """Each refusal's message, which the referrer reads, says what is wrong with the numbers."""
    with pytest.raises(PayoutRefused, match=message):
        check_payout_request(amount=Decimal(amount), available=Decimal("5.00"),
                             has_open_request=has_open_request, minimum=Decimal("1.00"))


@pytest.mark.parametrize(
    ("network", "address", "message"),
    [
        (PayoutNetwork.TRC20, "  ", "^no TRC20 address given$"),
        (PayoutNetwork.TRC20, "T123", "^a TRC20 address is T followed by 33 base58 characters"),
        (PayoutNetwork.TRC20, "Tzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
         "fails its checksum: a character is mistyped$"),
        (PayoutNetwork.ERC20, "0x12", "^a ERC20 address is 0x followed by 40 hex digits"),
    ],
    ids=["empty", "trc20-format", "trc20-checksum", "evm-format"],
)
def test_wallet_refusals_say_what_is_wrong(
    network: PayoutNetwork, address: str, message: str
) -> None:
    """A refused wallet address is refused with a message the referrer can act on."""
    with pytest.raises(InvalidWallet, match=message):
        validate_wallet(network, address)
