"""Tests for the bundle rules of models.domain.plans: PLAN_CHATS, and what a chat change means."""

from decimal import Decimal

import pytest

from models.domain.plans import (
    ChatChange,
    PlanSpec,
    StoredPlan,
    bundle_changes,
    catalog_changes,
    parse_plan_chats,
    wanted_chats,
)

MAIN, NEWS, LOUNGE = -100, -200, -300


def spec(code: str) -> PlanSpec:
    return PlanSpec(code=code, days=30, price_usd=Decimal("10.00"), title=code)


def stored(code: str, *chats: int) -> StoredPlan:
    return StoredPlan(code=code, days=30, price_usd=Decimal("10.00"), title=code, active=True,
                      chats=frozenset(chats))


def test_plan_chats_name_each_plans_chats() -> None:
    """`;` between plans, `,` between chats, spaces ignored, empty is unset."""
    assert parse_plan_chats(" vip = -1001, -1002 ; month=-1001") == {
        "vip": frozenset({-1001, -1002}), "month": frozenset({-1001})}
    assert parse_plan_chats("") == {}
    assert parse_plan_chats("  ") == {}


@pytest.mark.parametrize(("text", "error"), [
    ("vip", "entry 'vip': expected code=chat_id,chat_id;code=chat_id"),
    ("vip=", "entry 'vip=': empty chat id (a plan needs at least one chat"),
    ("vip=-1,", "entry 'vip=-1,': empty chat id"),
    ("vip=abc", "entry 'vip=abc': chat id must be a non-zero whole number"),
    ("vip=0", "entry 'vip=0': chat id must be a non-zero whole number"),
    ("vip=1.5", "entry 'vip=1.5': chat id must be a non-zero whole number like "
                "-1001234567890, got '1.5'"),
    ("VIP=-1", "entry 'VIP=-1': plan code must be 1-32 characters"),
    ("vip=-1;vip=-2", "entry 'vip=-2': plan 'vip' is named twice"),
    ("vip=-1;;m=-2", "entry #2 is empty: remove the stray ';'"),
])
def test_a_bad_plan_chats_entry_is_named_with_its_fault(text: str, error: str) -> None:
    """Each mistake names the entry and what is wrong with it."""
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(").replace(".", r"\.")):
        parse_plan_chats(text)


def test_a_plan_not_named_grants_channel_id() -> None:
    """CHANNEL_ID stays every unnamed plan's chat, so a setup without bundles is unchanged."""
    assert wanted_chats((spec("month"), spec("vip")), chat_id=MAIN,
                        plan_chats={"vip": frozenset({MAIN, NEWS})}) == {
        "month": frozenset({MAIN}), "vip": frozenset({MAIN, NEWS})}


def test_a_changed_bundle_is_one_catalogue_line() -> None:
    """The catalogue line lists the new chats and the old ones."""
    lines = catalog_changes([stored("vip", MAIN)], (spec("vip"),), MAIN,
                            {"vip": frozenset({MAIN, NEWS})})
    assert lines == [f"plan 'vip': grants chats {NEWS}, {MAIN} (was {MAIN})"]


def test_bundle_changes_say_what_is_added_and_dropped() -> None:
    """Added and dropped chats per changed plan; unchanged and new plans are not listed."""
    changes = bundle_changes(
        [stored("vip", MAIN, NEWS), stored("month", MAIN), stored("new")],
        {"vip": frozenset({MAIN, LOUNGE}), "month": frozenset({MAIN}),
         "new": frozenset({MAIN})},
        configured=frozenset({MAIN, LOUNGE}))
    assert changes == [ChatChange(code="vip", added=frozenset({LOUNGE}),
                                  dropped=frozenset({NEWS}))]


def test_a_moved_channel_is_no_bundle_change() -> None:
    """All old chats configured nowhere (CHANNEL_ID changed): left to the channel move."""
    assert bundle_changes([stored("month", MAIN)], {"month": frozenset({NEWS})},
                          configured=frozenset({NEWS})) == []

