"""Bundle settings: PLAN_CHATS checked against PLANS; the sandbox sells a bundle out of the box."""

from __future__ import annotations

import pytest

from infra.run import sandbox_bundle
from infra.sandbox.telegram import TelegramWorld
from infra.settings import SANDBOX_BUNDLE_CHAT_ID, SANDBOX_CHANNEL_ID, SettingsError, load_settings


def test_make_run_adds_a_bundle_only_when_the_operator_named_no_plans() -> None:
    """Unset PLANS and PLAN_CHATS: vip grants both stand-in chats; set ones are left alone."""
    bundle = sandbox_bundle(load_settings(_env_file=None))
    settings = load_settings(_env_file=None, plans=bundle["PLANS"],
                             plan_chats=bundle["PLAN_CHATS"])
    assert settings.chats_by_plan == {"month": {SANDBOX_CHANNEL_ID},
                                      "vip": {SANDBOX_CHANNEL_ID, SANDBOX_BUNDLE_CHAT_ID}}
    assert sandbox_bundle(settings) == {}
    assert sandbox_bundle(load_settings(_env_file=None, plans="week:7:3")) == {}


def test_the_stand_in_has_the_bundle_chat_with_the_bot_as_administrator() -> None:
    """The second chat exists from the start, so invites to it work as to the channel."""
    world = TelegramWorld(seed=1)
    chat = world.channels[SANDBOX_BUNDLE_CHAT_ID]
    assert world.member(chat, world.default_bot.id).status == "administrator"
    assert world.member(chat, world.admin_id).status == "creator"


def test_plan_chats_must_name_plans_that_are_in_plans() -> None:
    """A PLAN_CHATS entry for a code PLANS does not have is refused, naming the codes."""
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, plans="month:30:10", plan_chats="vip=-1")
    assert refused.value.problems == ["PLAN_CHATS: plan 'vip' is not in PLANS (month)"]
