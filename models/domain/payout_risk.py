"""Risk flags on a payout request: signs that a referrer may be farming commission.

A flag never blocks a payout; it tells the admin what to look at before approving, in plain
words, and the decision records it. Two signs are checked:

- shared wallet: the payout wallet is one another user named in a payout request of their own
  (any status: open, approved or rejected), whoever they are: someone this referrer brought
  in, the referrer who brought this one in, or any other referrer. One person behind several
  accounts usually pays themselves to one wallet.
- churn: most of the people the referrer brought in who paid never paid a second time, which is
  what bought sign-ups look like. Judged only from `CHURN_MIN_PAYERS` payers on (with fewer, a
  single lapse would flag an honest referrer), "most" meaning strictly more than half.

The rules take plain values; gathering them from the tables is models/payout_risk.py's job.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# Below this many referred payers there is too little to judge churn by.
CHURN_MIN_PAYERS = 3


class RiskKind(StrEnum):
    """Which sign a flag reports; the values are stored in decision records."""

    SHARED_WALLET = "shared_wallet"
    CHURN = "churn"


class Relation(StrEnum):
    """Who the other user of a shared wallet is, seen from the referrer asking to be paid."""

    REFERRED = "referred"  # brought in by this referrer
    REFERRER = "referrer"  # brought this referrer in
    OTHER = "other"  # another referrer, not related by a referral


@dataclass(frozen=True, kw_only=True, slots=True)
class WalletRequest:
    """A payout request of any user: who asked, to which wallet."""

    request_id: int
    user_id: int
    wallet: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WalletUse:
    """Another user's payout request to the same wallet, and how that user is related."""

    request_id: int
    user_id: int
    relation: Relation


@dataclass(frozen=True, kw_only=True, slots=True)
class SharedWallet:
    """The payout wallet appears in other users' payout requests (oldest request first)."""

    uses: tuple[WalletUse, ...]

    @property
    def kind(self) -> RiskKind:
        return RiskKind.SHARED_WALLET


@dataclass(frozen=True, kw_only=True, slots=True)
class Churn:
    """`paid_once` of the `payers` the referrer brought in never paid a second time."""

    payers: int
    paid_once: int

    @property
    def kind(self) -> RiskKind:
        return RiskKind.CHURN


RiskFlag = SharedWallet | Churn


def same_wallet(first: str, second: str) -> bool:
    """Whether two valid addresses name the same wallet.

    A 0x address is one key on every EVM network (ERC20 and BEP20 alike), and its letter case
    is only a checksum, so those compare without case; a Tron address is case-sensitive base58.
    """
    first, second = first.strip(), second.strip()
    if first.startswith("0x") and second.startswith("0x"):
        return first.lower() == second.lower()
    return first == second


def shared_wallet(
    *,
    referrer_id: int,
    wallet: str,
    requests: Iterable[WalletRequest],
    brought_in: frozenset[int],
    brought_by: int | None,
) -> SharedWallet | None:
    """Flag `wallet` if any other user's payout request names it.

    `brought_in` holds (at least) the users this referrer brought in among those in `requests`;
    `brought_by` is the referrer who brought this one in, if any. The referrer's own earlier
    requests to the same wallet are no sign of anything.
    """
    uses = tuple(
        WalletUse(request_id=request.request_id, user_id=request.user_id,
                  relation=_relation(request.user_id, brought_in=brought_in,
                                     brought_by=brought_by))
        for request in sorted(requests, key=lambda request: request.request_id)
        if request.user_id != referrer_id and same_wallet(request.wallet, wallet)
    )
    return SharedWallet(uses=uses) if uses else None


def _relation(user_id: int, *, brought_in: frozenset[int], brought_by: int | None) -> Relation:
    if user_id in brought_in:
        return Relation.REFERRED
    if user_id == brought_by:
        return Relation.REFERRER
    return Relation.OTHER


def churn(*, payments_per_payer: Iterable[int]) -> Churn | None:
    """Flag when more than half the referred payers paid exactly once.

    `payments_per_payer` holds, for each referred user who paid at least once, how many
    payments they made. Nothing is flagged below `CHURN_MIN_PAYERS` payers.
    """
    counts = list(payments_per_payer)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts):
        raise ValueError(f"each payer made at least one payment, got {counts}")
    payers = len(counts)
    paid_once = sum(1 for n in counts if n == 1)
    if payers >= CHURN_MIN_PAYERS and 2 * paid_once > payers:
        return Churn(payers=payers, paid_once=paid_once)
    return None


def assess(
    *,
    referrer_id: int,
    wallet: str,
    requests: Iterable[WalletRequest],
    brought_in: frozenset[int],
    brought_by: int | None,
    payments_per_payer: Iterable[int],
) -> tuple[RiskFlag, ...]:
    """Every flag a payout request to `wallet` by `referrer_id` raises, in a fixed order."""
    flags: list[RiskFlag | None] = [
        shared_wallet(referrer_id=referrer_id, wallet=wallet, requests=requests,
                      brought_in=brought_in, brought_by=brought_by),
        churn(payments_per_payer=payments_per_payer),
    ]
    return tuple(flag for flag in flags if flag is not None)
