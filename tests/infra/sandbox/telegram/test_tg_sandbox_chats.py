"""Channel methods of the stand-in (infra/sandbox/telegram/methods/chats.py), via aiogram."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiogram.exceptions import TelegramBadRequest
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import ControlError, TelegramSandbox, TelegramWorld, people
from infra.settings import SANDBOX_ADMIN_ID, SANDBOX_CHANNEL_ID

CHANNEL = SANDBOX_CHANNEL_ID


def test_invite_links_are_created_with_their_settings(telegram_sandbox: TelegramSandbox) -> None:
    """createChatInviteLink returns the link with name, limit and expiry, created by the bot."""
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(
                CHANNEL, name="order-981", member_limit=1, expire_date=expires,
            )
            assert link.invite_link.startswith("https://t.me/+")
            assert (link.name, link.member_limit, link.expire_date) == ("order-981", 1, expires)
            assert (link.creates_join_request, link.is_primary, link.is_revoked) == (
                False, False, False,
            )
            assert link.creator.id == bot.id

    asyncio.run(scenario())


def test_member_limit_cannot_go_with_join_requests(telegram_sandbox: TelegramSandbox) -> None:
    """Both at once is the official 400 "member limit can't be specified …"."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest) as caught:
                await bot.create_chat_invite_link(CHANNEL, member_limit=1,
                                                  creates_join_request=True)
            assert caught.value.message == (
                "Bad Request: member limit can't be specified for links requiring administrator "
                "approval"
            )

    asyncio.run(scenario())


def test_editing_a_link_resets_omitted_fields(telegram_sandbox: TelegramSandbox) -> None:
    """editChatInviteLink has full-state semantics: what is not sent is reset, not kept."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL, name="a", member_limit=5)
            edited = await bot.edit_chat_invite_link(CHANNEL, link.invite_link, name="b")
            assert (edited.name, edited.member_limit) == ("b", None)
            edited = await bot.edit_chat_invite_link(CHANNEL, link.invite_link,
                                                     creates_join_request=True)
            assert (edited.name, edited.creates_join_request) == (None, True)

    asyncio.run(scenario())


def test_revoked_links_no_longer_admit(telegram_sandbox: TelegramSandbox) -> None:
    """revokeChatInviteLink marks the link revoked; opening it is then refused."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> str:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL)
            revoked = await bot.revoke_chat_invite_link(CHANNEL, link.invite_link)
            assert revoked.is_revoked
            with pytest.raises(TelegramBadRequest, match="INVITE_HASH_EXPIRED"):
                await bot.edit_chat_invite_link(CHANNEL, link.invite_link, name="x")
            return str(link.invite_link)

    url = asyncio.run(scenario())
    with pytest.raises(ControlError, match="revoked"):
        people.open_invite_link(telegram_sandbox.world, user_id=5, invite_link=url)


def test_member_limit_counts_current_members(telegram_sandbox: TelegramSandbox) -> None:
    """A limit-1 link admits one member; when that member leaves, the slot frees up."""
    world = telegram_sandbox.world
    for user_id in (5, 6):
        subscriber(telegram_sandbox, user_id)

    async def scenario() -> str:
        async with bot_on(telegram_sandbox) as bot:
            return str((await bot.create_chat_invite_link(CHANNEL, member_limit=1)).invite_link)

    url = asyncio.run(scenario())
    assert people.open_invite_link(world, user_id=5, invite_link=url) == "joined"
    with pytest.raises(ControlError, match="member limit"):
        people.open_invite_link(world, user_id=6, invite_link=url)
    people.leave_channel(world, user_id=5)
    assert people.open_invite_link(world, user_id=6, invite_link=url) == "joined"


def test_expired_links_are_refused() -> None:
    """A link past its expire_date no longer admits anyone (the world's clock decides)."""
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    world = TelegramWorld(clock=lambda: now[0])
    with TelegramSandbox(world=world) as sandbox:
        subscriber(sandbox, 5)

        async def scenario() -> str:
            async with bot_on(sandbox) as bot:
                link = await bot.create_chat_invite_link(
                    CHANNEL, expire_date=now[0] + timedelta(hours=1),
                )
                return str(link.invite_link)

        url = asyncio.run(scenario())
        now[0] += timedelta(hours=2)
        with pytest.raises(ControlError, match="expired"):
            people.open_invite_link(world, user_id=5, invite_link=url)


def test_join_requests_are_approved_once(telegram_sandbox: TelegramSandbox) -> None:
    """Approve makes a member; a second approve is HIDE_REQUESTER_MISSING."""
    world = telegram_sandbox.world
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL, creates_join_request=True)
            assert people.open_invite_link(world, user_id=5, invite_link=link.invite_link) == (
                "requested"
            )
            assert (await bot.get_chat_member(CHANNEL, 5)).status == "left"
            assert await bot.approve_chat_join_request(CHANNEL, 5)
            assert (await bot.get_chat_member(CHANNEL, 5)).status == "member"
            with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
                await bot.approve_chat_join_request(CHANNEL, 5)

    asyncio.run(scenario())


def test_join_requests_can_be_declined(telegram_sandbox: TelegramSandbox) -> None:
    """Decline drops the request; declining with none pending is HIDE_REQUESTER_MISSING."""
    world = telegram_sandbox.world
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL, creates_join_request=True)
            people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            assert await bot.decline_chat_join_request(CHANNEL, 5)
            assert (await bot.get_chat_member(CHANNEL, 5)).status == "left"
            with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
                await bot.decline_chat_join_request(CHANNEL, 5)

    asyncio.run(scenario())


def test_approving_someone_already_inside_is_user_already_participant(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """A request whose user joined meanwhile through another link: USER_ALREADY_PARTICIPANT."""
    world = telegram_sandbox.world
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            approval = await bot.create_chat_invite_link(CHANNEL, creates_join_request=True)
            open_link = await bot.create_chat_invite_link(CHANNEL)
            people.open_invite_link(world, user_id=5, invite_link=approval.invite_link)
            people.open_invite_link(world, user_id=5, invite_link=open_link.invite_link)
            with pytest.raises(TelegramBadRequest, match="USER_ALREADY_PARTICIPANT"):
                await bot.approve_chat_join_request(CHANNEL, 5)

    asyncio.run(scenario())


def test_unknown_users_are_user_id_invalid(telegram_sandbox: TelegramSandbox) -> None:
    """Acting on an id nobody has is USER_ID_INVALID; a non-positive id is refused outright."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match="USER_ID_INVALID"):
                await bot.approve_chat_join_request(CHANNEL, 999999)
            with pytest.raises(TelegramBadRequest, match="invalid user_id specified"):
                await bot.ban_chat_member(CHANNEL, 0)
            with pytest.raises(TelegramBadRequest, match="user not found"):
                await bot.get_chat_member(CHANNEL, 999999)

    asyncio.run(scenario())


def test_ban_and_unban_only_if_banned(telegram_sandbox: TelegramSandbox) -> None:
    """Ban kicks for good; unban(only_if_banned) lifts it and leaves the user outside."""
    world = telegram_sandbox.world
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL)
            people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            assert await bot.ban_chat_member(CHANNEL, 5)
            banned = await bot.get_chat_member(CHANNEL, 5)
            assert banned.status == "kicked"
            with pytest.raises(ControlError, match="banned"):
                people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            assert await bot.unban_chat_member(CHANNEL, 5, only_if_banned=True)
            assert (await bot.get_chat_member(CHANNEL, 5)).status == "left"
            assert people.open_invite_link(world, user_id=5, invite_link=link.invite_link) == (
                "joined"
            )

    asyncio.run(scenario())


def test_unban_without_the_flag_kicks_a_member_who_may_rejoin(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """unbanChatMember on a member: with only_if_banned nothing happens, without it a kick."""
    world = telegram_sandbox.world
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL)
            people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            assert await bot.unban_chat_member(CHANNEL, 5, only_if_banned=True)
            assert (await bot.get_chat_member(CHANNEL, 5)).status == "member"
            assert await bot.unban_chat_member(CHANNEL, 5)
            assert (await bot.get_chat_member(CHANNEL, 5)).status == "left"
            assert people.open_invite_link(world, user_id=5, invite_link=link.invite_link) == (
                "joined"
            )

    asyncio.run(scenario())


def test_admins_and_the_owner_cannot_be_removed(telegram_sandbox: TelegramSandbox) -> None:
    """Banning an administrator or the owner is refused with the official descriptions."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match="user is an administrator of the chat"):
                await bot.ban_chat_member(CHANNEL, bot.id)
            with pytest.raises(TelegramBadRequest, match="can't remove chat owner"):
                await bot.ban_chat_member(CHANNEL, SANDBOX_ADMIN_ID)

    asyncio.run(scenario())


def test_get_chat_member_statuses(telegram_sandbox: TelegramSandbox) -> None:
    """creator, administrator (with its rights), member, left and kicked (until_date 0)."""
    world = telegram_sandbox.world
    for user_id in (5, 6, 7):
        subscriber(telegram_sandbox, user_id)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(CHANNEL)
            people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            await bot.ban_chat_member(CHANNEL, 7)
            statuses = [
                (await bot.get_chat_member(CHANNEL, user_id)).status
                for user_id in (SANDBOX_ADMIN_ID, bot.id, 5, 6, 7)
            ]
            assert statuses == ["creator", "administrator", "member", "left", "kicked"]
            me = await bot.get_chat_member(CHANNEL, bot.id)
            assert getattr(me, "can_invite_users", None) is True
            assert getattr(me, "can_restrict_members", None) is True
            kicked = await bot.get_chat_member(CHANNEL, 7)
            assert getattr(kicked, "until_date", None) == datetime.fromtimestamp(0, UTC)

    asyncio.run(scenario())


def test_missing_rights_are_refused(telegram_sandbox: TelegramSandbox) -> None:
    """Without can_invite_users / can_restrict_members the bot gets "not enough rights"."""
    httpx.post(
        f"{telegram_sandbox.base_url}/control/channel/bot-rights",
        json={"can_invite_users": False, "can_restrict_members": False},
    ).raise_for_status()
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match="not enough rights to manage chat invite"):
                await bot.create_chat_invite_link(CHANNEL)
            with pytest.raises(TelegramBadRequest, match="not enough rights to restrict"):
                await bot.ban_chat_member(CHANNEL, 5)

    asyncio.run(scenario())


def test_get_chat_and_member_count(telegram_sandbox: TelegramSandbox) -> None:
    """getChat describes the channel; getChatMemberCount counts owner, bot and members."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            chat = await bot.get_chat(CHANNEL)
            assert (chat.id, chat.type, chat.title) == (CHANNEL, "channel",
                                                        "Sandbox private channel")
            assert await bot.get_chat_member_count(CHANNEL) == 2
            admins = await bot.get_chat_administrators(CHANNEL)
            assert {a.status for a in admins} == {"creator", "administrator"}

    asyncio.run(scenario())
