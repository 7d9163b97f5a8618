"""Tests for models.domain.payout_risk: the shared-wallet and churn flags on payout requests."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.payout_risk import (
    CHURN_MIN_PAYERS,
    Churn,
    Relation,
    RiskKind,
    SharedWallet,
    WalletRequest,
    WalletUse,
    assess,
    churn,
    same_wallet,
    shared_wallet,
)

REFERRER, BROUGHT_IN, BROUGHT_BY, STRANGER = 1, 2, 3, 4
EVM = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
TRON = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def asked(request_id: int, user_id: int, wallet: str) -> WalletRequest:
    """A payout request by `user_id` to `wallet`."""
    return WalletRequest(request_id=request_id, user_id=user_id, wallet=wallet)


def flag_for(*requests: WalletRequest, wallet: str = EVM) -> SharedWallet | None:
    """The shared-wallet flag of REFERRER asking to be paid to `wallet`."""
    return shared_wallet(referrer_id=REFERRER, wallet=wallet, requests=requests,
                         brought_in=frozenset({BROUGHT_IN}), brought_by=BROUGHT_BY)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (EVM, EVM.lower(), True),  # EIP-55 case is a checksum, not part of the key
        (EVM, " " + EVM.upper().replace("0X", "0x") + " ", True),
        (EVM, "0x" + "1" * 40, False),
        (TRON, TRON, True),
        (TRON, TRON.lower(), False),  # base58 is case-sensitive
        (TRON, EVM, False),
    ],
)
def test_same_wallet(first: str, second: str, same: bool) -> None:
    """0x addresses compare without case (one key on every EVM network); Tron ones exactly."""
    assert same_wallet(first, second) is same
    assert same_wallet(second, first) is same


def test_a_wallet_nobody_else_used_raises_no_flag() -> None:
    """The referrer's own earlier requests and other wallets are no sign of anything."""
    assert flag_for(asked(1, REFERRER, EVM), asked(2, STRANGER, TRON)) is None


@pytest.mark.parametrize(
    ("user_id", "relation"),
    [(BROUGHT_IN, Relation.REFERRED), (BROUGHT_BY, Relation.REFERRER),
     (STRANGER, Relation.OTHER)],
)
def test_a_wallet_another_user_asked_for_is_flagged_with_who_they_are(
    user_id: int, relation: Relation
) -> None:
    """Whoever else named the wallet is named in the flag, with their relation to the referrer."""
    flag = flag_for(asked(7, user_id, EVM.lower()))
    assert flag == SharedWallet(uses=(WalletUse(request_id=7, user_id=user_id,
                                                relation=relation),))
    assert flag.kind is RiskKind.SHARED_WALLET


def test_every_other_use_is_listed_oldest_request_first() -> None:
    """Several users sharing the wallet are all listed, by request id."""
    flag = flag_for(asked(9, STRANGER, EVM), asked(3, BROUGHT_IN, EVM), asked(5, REFERRER, EVM))
    assert flag is not None
    assert [(use.request_id, use.user_id) for use in flag.uses] == [(3, BROUGHT_IN),
                                                                     (9, STRANGER)]


@pytest.mark.parametrize(
    ("payments", "flagged"),
    [
        ([], False),
        ([1, 1], False),  # everyone paid once, but two payers are too few to judge
        ([1, 1, 2], True),  # 2 of 3
        ([1, 2, 2], False),
        ([1, 1, 2, 3], False),  # exactly half is not most
        ([1, 1, 1, 2, 5], True),
        ([2, 2, 2], False),
    ],
)
def test_churn_table(payments: list[int], flagged: bool) -> None:
    """Churn is flagged from three payers on, when strictly more than half paid only once."""
    flag = churn(payments_per_payer=payments)
    assert (flag is not None) is flagged
    if flag is not None:
        assert flag == Churn(payers=len(payments), paid_once=payments.count(1))
        assert flag.kind is RiskKind.CHURN


@given(st.lists(st.integers(min_value=1, max_value=5), max_size=40))
def test_churn_is_most_payers_paying_once(payments: list[int]) -> None:
    """For any payers: flagged exactly when there are enough of them and once-payers are > 50 %."""
    once = payments.count(1)
    expected = len(payments) >= CHURN_MIN_PAYERS and once / len(payments) > 0.5
    assert (churn(payments_per_payer=payments) is not None) is expected


@pytest.mark.parametrize("payments", [[0], [1, -1], [True, 1, 1]])
def test_churn_refuses_a_payer_without_payments(payments: list[int]) -> None:
    """A payer made at least one payment: anything else is a caller bug."""
    with pytest.raises(ValueError, match="at least one payment"):
        churn(payments_per_payer=payments)


def test_assess_gathers_the_flags_in_a_fixed_order() -> None:
    """Both signs at once give both flags, shared wallet first; no sign gives none."""
    both = assess(referrer_id=REFERRER, wallet=TRON, requests=[asked(1, STRANGER, TRON)],
                  brought_in=frozenset(), brought_by=None, payments_per_payer=[1, 1, 1])
    assert [flag.kind for flag in both] == [RiskKind.SHARED_WALLET, RiskKind.CHURN]
    assert assess(referrer_id=REFERRER, wallet=TRON, requests=[], brought_in=frozenset(),
                  brought_by=None, payments_per_payer=[2, 2, 1]) == ()
