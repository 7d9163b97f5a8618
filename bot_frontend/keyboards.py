"""Inline keyboards and the callback data their buttons carry."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot_frontend.queries import OpenPayout, PlanOffer
from infra import buttons, i18n, texts
from models.domain.ledger import PayoutNetwork
from models.domain.segments import Segment


class AcceptTerms(CallbackData, prefix="terms"):
    pass


class ChoosePlan(CallbackData, prefix="plan"):
    code: str


class ChooseStars(CallbackData, prefix="stars"):
    """A plan bought with Telegram Stars: the bot asks for a Stars invoice."""

    code: str


class StartTrial(CallbackData, prefix="trial"):
    pass


class ShowPlans(CallbackData, prefix=buttons.SHOW_PLANS):
    pass


class ResendInvite(CallbackData, prefix="invite"):
    pass


class ResendChatInvite(CallbackData, prefix="invite_chat"):
    """Resend the invite to one chat of a bundle (`ResendInvite` stays the one-chat button)."""

    chat: int


class StartPayout(CallbackData, prefix="payout_start"):
    pass


class PayoutNetworkChoice(CallbackData, prefix="payout_net"):
    network: PayoutNetwork


class ConfirmPayout(CallbackData, prefix="payout_confirm"):
    pass


class CancelPayout(CallbackData, prefix="payout_cancel"):
    pass


class DecidePayout(CallbackData, prefix="payout_decide"):
    request_id: int
    approve: bool


class EnterPromo(CallbackData, prefix="promo"):
    """"I have a code" on the plan menu: asks for a promo or gift code."""


class ChooseLanguage(CallbackData, prefix="lang"):
    code: str


def _rows(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def languages() -> InlineKeyboardMarkup:
    """One button per supported language, each named in its own language."""
    return _rows([_button(i18n.NATIVE_NAMES[code], ChooseLanguage(code=code))
                  for code in i18n.SUPPORTED])


def accept_terms() -> InlineKeyboardMarkup:
    return _rows([_button(texts.ACCEPT_TERMS_BUTTON, AcceptTerms())])


def _plan_text(offer: PlanOffer) -> str:
    if offer.full_price_usd is None:
        return texts.plan_button(title=offer.title, days=offer.days, price=offer.price_usd)
    return texts.plan_button_discounted(title=offer.title, days=offer.days,
                                        price=offer.price_usd, full=offer.full_price_usd)


def _stars_button(offer: PlanOffer) -> list[InlineKeyboardButton]:
    if offer.price_stars is None:
        return []
    return [_button(texts.stars_plan_button(title=offer.title, price_stars=offer.price_stars),
                    ChooseStars(code=offer.code))]


def plans(offers: list[PlanOffer], *, trial_days: int | None) -> InlineKeyboardMarkup:
    # A plan sold for Stars too offers both ways to pay, side by side.
    rows = [[_button(_plan_text(offer), ChoosePlan(code=offer.code)), *_stars_button(offer)]
            for offer in offers]
    if trial_days:
        rows.append([_button(texts.trial_button(days=trial_days), StartTrial())])
    rows.append([_button(texts.PROMO_BUTTON, EnterPromo())])
    return _rows(*rows)


def my_plan(*, covered: bool, can_switch: bool = False) -> InlineKeyboardMarkup:
    invite = [_button(texts.RESEND_INVITE_BUTTON, ResendInvite())] if covered else []
    switch = [_button(texts.SWITCH_BUTTON, SwitchPlans())] if can_switch else []
    return _rows([_button(texts.RENEW_BUTTON, ShowPlans())], invite, switch)


def my_bundle(covered: list[tuple[int, str]], *,
              can_switch: bool = False) -> InlineKeyboardMarkup:
    """Renew, a resend-invite button for each chat (id, name) the subscriber holds now, switch."""
    switch = [_button(texts.SWITCH_BUTTON, SwitchPlans())] if can_switch else []
    return _rows([_button(texts.RENEW_BUTTON, ShowPlans())],
                 *[[_button(texts.resend_invite_to(name), ResendChatInvite(chat=chat_id))]
                   for chat_id, name in covered], switch)


def referral() -> InlineKeyboardMarkup:
    return _rows([_button(texts.PAYOUT_BUTTON, StartPayout())])


def cancel_payout() -> InlineKeyboardMarkup:
    return _rows([_button(texts.CANCEL_BUTTON, CancelPayout())])


def payout_networks() -> InlineKeyboardMarkup:
    return _rows([_button(network.value, PayoutNetworkChoice(network=network))
                  for network in PayoutNetwork], [_button(texts.CANCEL_BUTTON, CancelPayout())])


def confirm_payout() -> InlineKeyboardMarkup:
    return _rows([_button(texts.CONFIRM_BUTTON, ConfirmPayout()),
                  _button(texts.CANCEL_BUTTON, CancelPayout())])


def decide_payouts(payouts: list[OpenPayout]) -> InlineKeyboardMarkup:
    return _rows(*(
        [_button(f"{texts.APPROVE_BUTTON} #{p.request_id}",
                 DecidePayout(request_id=p.request_id, approve=True)),
         _button(f"{texts.REJECT_BUTTON} #{p.request_id}",
                 DecidePayout(request_id=p.request_id, approve=False))]
        for p in payouts
    ))


# Broadcasts (the conversation's buttons, and Stop/Resume on a broadcast's messages)

class SegmentChoice(CallbackData, prefix="bcast_seg"):
    segment: Segment


class ConfirmBroadcast(CallbackData, prefix="bcast_confirm"):
    pass


class CancelBroadcast(CallbackData, prefix="bcast_cancel"):
    pass


class StopBroadcast(CallbackData, prefix=buttons.BROADCAST_STOP):
    broadcast_id: int


class ResumeBroadcast(CallbackData, prefix=buttons.BROADCAST_RESUME):
    broadcast_id: int


# Plan switch (/myplan's "Switch plan", the plans to switch to, the quote's Confirm / Cancel)

class SwitchPlans(CallbackData, prefix="switch"):
    pass


class SwitchTo(CallbackData, prefix="switch_to"):
    code: str


class ConfirmSwitch(CallbackData, prefix="switch_ok"):
    code: str
    stamp: int  # the access version the quote was made on


class CancelSwitch(CallbackData, prefix="switch_no"):
    pass


def switch_targets(offers: list[PlanOffer]) -> InlineKeyboardMarkup:
    return _rows(*([_button(texts.plan_button(title=offer.title, days=offer.days,
                                              price=offer.price_usd), SwitchTo(code=offer.code))]
                   for offer in offers), [_button(texts.CANCEL_BUTTON, CancelSwitch())])


def confirm_switch(*, code: str, stamp: int) -> InlineKeyboardMarkup:
    return _rows([_button(texts.SWITCH_CONFIRM_BUTTON, ConfirmSwitch(code=code, stamp=stamp)),
                  _button(texts.CANCEL_BUTTON, CancelSwitch())])
