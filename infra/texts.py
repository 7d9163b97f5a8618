"""Every text a user or admin reads, in one place, in the language of the moment.

Functions take plain values and return plain strings; nothing here formats HTML. Each text is a
GNU gettext message (English msgid, `{name}` placeholders filled with str.format after
translation) resolved in `infra.i18n`'s current language when it is built. The upper-case
constants are resolved when read (`texts.PAY_BUTTON`), so they too follow the language: see
`__getattr__` at the end. `make i18n` gathers new messages into the catalogues.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from infra.i18n import format_moment, format_usd, ngettext
from infra.i18n import gettext as _

if TYPE_CHECKING:
    from models.domain.stats import PlanRevenue, Report

from models.domain.payout_risk import Relation, RiskFlag, RiskKind, SharedWallet

K = TypeVar("K")


def N_(message: str) -> str:
    """Marks a message for the catalogue without translating it yet (it is read later)."""
    return message


class Deferred(Mapping[K, str]):
    """A mapping of messages translated when looked up, in the language of that moment."""

    def __init__(self, messages: dict[K, str]) -> None:
        self._messages = messages

    def __getitem__(self, key: K) -> str:
        return _(self._messages[key])

    def __iter__(self) -> Iterator[K]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)


def when(moment: datetime) -> str:
    # Translators: a CLDR date pattern; the Russian one names the month.
    return format_moment(moment, _("yyyy-MM-dd HH:mm 'UTC'"))


def count(number: int, singular: str, plural: str | None = None) -> str:
    """"1 day", "3 days" in English, for the operator panel (which speaks English only)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def day_count(number: int) -> str:
    return ngettext("{count} day", "{count} days", number).format(count=number)


def duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    whole_days, hours = divmod(hours, 24)
    parts = ([day_count(whole_days)] * bool(whole_days)
             + [ngettext("{count} hour", "{count} hours", hours).format(count=hours)]
             * bool(hours)
             + [ngettext("{count} minute", "{count} minutes", minutes).format(count=minutes)])
    return " ".join(parts)


def usd(amount: Decimal) -> str:
    return format_usd(amount)


# Payments ---------------------------------------------------------------------------------

def pay_invoice(*, plan_title: str, amount: Decimal, expires_at: datetime | None) -> str:
    text = _("Your invoice for {plan_title}: {amount}.").format(plan_title=plan_title,
                                                               amount=usd(amount))
    if expires_at:
        text += "\n" + _("Pay before {deadline}.").format(deadline=when(expires_at))
    return text


PAY_BUTTON = N_("Pay with crypto")


def partial_payment(*, remainder: Decimal, time_left: timedelta) -> str:
    return _("We received part of your payment. {remainder} is still missing; you have "
             "{time_left} to pay the rest on the same page.").format(
        remainder=usd(remainder), time_left=duration(time_left))


def payment_received(*, extra_days: int) -> str:
    """The first line of the invite (or "already in") message a payment brings."""
    if not extra_days:
        return _("Payment received, thank you!")
    return ngettext("Payment received, thank you! Your overpayment adds {count} extra day.",
                    "Payment received, thank you! Your overpayment adds {count} extra days.",
                    extra_days).format(count=extra_days)


def after_payment(text: str, *, extra_days: int) -> str:
    """`text` (the invite, or "you are already in") opened by the payment's confirmation."""
    return f"{payment_received(extra_days=extra_days)}\n{text}"


def partial_expired(*, paid: Decimal, amount: Decimal) -> str:
    return _("Your invoice expired with {paid} of {amount} paid, so no access was granted yet. "
             "Your payment is recorded and the admins have been told; if the rest arrives "
             "late it is still counted.").format(paid=usd(paid), amount=usd(amount))


ACCOUNT_NOT_FOUND = N_("We could not find your account yet. Send /start, then try again.")
CHECKOUT_PLAN_GONE = N_("That plan is no longer on sale. Send /start to see the current plans.")
CHECKOUT_FAILED = N_(
    "Sorry, we could not create your invoice right now. Please try again in a few minutes."
)


def invoice_canceled() -> str:
    return _("Your invoice expired unpaid. Choose a plan again whenever you like.")


PLANS_BUTTON = N_("See the plans")


# Access -----------------------------------------------------------------------------------

def invite(*, link: str, paid_through: datetime) -> str:
    return _("Here is your personal invite link: {link}\n"
             "Open it and send the join request; it is approved automatically. "
             "Access until {until}.").format(link=link, until=when(paid_through))


def join_refused(*, paid_through: datetime) -> str:
    return _("Your access is paid until {until}, but Telegram would not let us approve your "
             "request to join the channel. Your payment is safe and your access stays yours: "
             "the admins have been told. Please ask to join again with your invite link in a "
             "little while (or send /myplan to see it).").format(until=when(paid_through))


def join_refused_alert(*, user_id: int, error: str, history_id: int) -> str:
    return _("Telegram refused to let paying subscriber {user_id} into the channel: {error}. "
             "Check that the bot is an admin of the channel with the right to invite users; "
             "the subscriber was asked to try again. Access history row #{history_id}.").format(
        user_id=user_id, error=error, history_id=history_id)


JOIN_BUTTON = N_("Join the channel")


def already_member(*, paid_through: datetime) -> str:
    return _("You are already in the channel. Your access now runs until {until}.").format(
        until=when(paid_through))


# Admin alerts -----------------------------------------------------------------------------

def alert_unknown_invoice(*, uuid: str) -> str:
    return _("⚠️ Payment for an unknown invoice INV-{uuid}: no access granted. Check "
             "CryptoCloud.").format(uuid=uuid)


def alert_mismatch(*, uuid: str, user_id: int, expected: str, got: str) -> str:
    return _("⚠️ Invoice INV-{uuid} of user {user_id} does not match CryptoCloud: expected "
             "{expected}, CryptoCloud says {got}. No access granted.").format(
        uuid=uuid, user_id=user_id, expected=expected, got=got)


def alert_partial_expired(*, uuid: str, user_id: int, paid: Decimal, amount: Decimal) -> str:
    return _("⚠️ Invoice INV-{uuid} of user {user_id} expired part-paid: {paid} of {amount} "
             "received, no access granted. Settle it with the user: grant days with "
             "/activate {user_id} <days>, or refund. If the rest arrives within a day it is "
             "activated automatically.").format(uuid=uuid, user_id=user_id, paid=usd(paid),
                                                amount=usd(amount))


def alert_event_given_up(*, uuid: str, attempts: int, error: str) -> str:
    return _("⚠️ A payment event for INV-{uuid} failed {attempts} times and was given up: "
             "{error}. Fix the cause, then run `python -m infra.ops recheck-invoice "
             "INV-{uuid}`.").format(uuid=uuid, attempts=attempts, error=error[:300])


def alert_checkout_failed(*, user_id: int, error: str) -> str:
    return _("⚠️ Checkout for user {user_id} failed: {error}").format(user_id=user_id,
                                                                     error=error[:300])


# Bot: terms, plans, trial -----------------------------------------------------------------

TERMS_BODY = N_(
    "Welcome! This bot sells access to a private channel.\n\n"
    "Terms: access is personal and lasts the days you paid for; payments are in crypto and "
    "are not refunded; sharing your invite link gets it revoked."
)
# TERMS and TERMS_ACCEPTED are the body and one more line (see _COMPOSED at the end).
TERMS: str
TERMS_ACCEPTED: str
ACCEPT_TERMS_BUTTON = N_("I accept")
ACCEPT_TERMS_FIRST = N_("Please accept the terms first: send /start.")


def _terms() -> str:
    return __getattr__("TERMS_BODY") + " " + _("Press the button below to accept and continue.")


def _terms_accepted() -> str:
    # The terms stay in the chat once accepted; only the button goes.
    return __getattr__("TERMS_BODY") + "\n\n" + _("✓ You accepted these terms.")


def choose_plan(*, trial_days: int | None) -> str:
    if not trial_days:
        return _("Choose a plan:")
    return ngettext("Choose a plan:\nNew here? Try the channel free for {count} day.",
                    "Choose a plan:\nNew here? Try the channel free for {count} days.",
                    trial_days).format(count=trial_days)


def plan_button(*, title: str, days: int, price: Decimal) -> str:
    return f"{title} · {day_count(days)} · {usd(price)}"


def trial_button(*, days: int) -> str:
    return ngettext("Free trial · {count} day", "Free trial · {count} days", days).format(
        count=days)


CREATING_INVOICE = N_("Creating your invoice…")
REUSING_INVOICE = N_(
    "You already have an open invoice for this plan: here is its pay link again.")


def checkout_started(*, reusing: bool, covered_until: datetime | None) -> str:
    """The answer to a plan button, however old the message that carries it."""
    if reusing:
        return __getattr__("REUSING_INVOICE")
    if covered_until is not None:
        return _("You are subscribed until {until}; this plan adds its days on top. Creating "
                 "your invoice…").format(until=when(covered_until))
    return __getattr__("CREATING_INVOICE")


STARTING_TRIAL = N_("Starting your free trial…")
TRIAL_ALREADY_USED = N_("You have already used your free trial. Choose a plan to continue.")
TRIAL_HAS_ACCESS = N_("Your access is already running; a trial would add nothing.")
TRIAL_DISABLED = N_("Free trials are not available at the moment.")


# Bot: /myplan -----------------------------------------------------------------------------

STATUS_NAMES = Deferred({
    "none": N_("no subscription"),
    "trialing": N_("free trial"),
    "active": N_("active"),
    "grace": N_("ended (grace period)"),
    "expired": N_("expired"),
    "removed": N_("removed"),
})


def my_plan(*, status: str, paid_through: datetime | None, days_left: int,
            plan_title: str | None) -> str:
    lines = [_("Status: {status}").format(status=STATUS_NAMES.get(status, status))]
    if plan_title:
        lines.append(_("Plan: {title}").format(title=plan_title))
    if paid_through is not None:
        lines.append(_("Paid through: {until}").format(until=when(paid_through)))
    lines.append(_("Days left: {count}").format(count=days_left))
    return "\n".join(lines)


RENEW_BUTTON = N_("Renew")
RESEND_INVITE_BUTTON = N_("Send my invite again")
RESENDING_INVITE = N_("Sending your invite link…")
NO_ACCESS_FOR_INVITE = N_(
    "You have no running access, so there is no invite to send. Choose a plan.")


# Bot: /referral and payouts ---------------------------------------------------------------

NOT_A_REFERRER = N_(
    "The referral programme is by invitation. Ask an admin if you would like to take part."
)


def referral_overview(*, link: str, pct: Decimal, referred: int, balance: Decimal,
                      available: Decimal, recent: list[tuple[datetime, Decimal]],
                      on_hold: Decimal, next_release: datetime | None, hold_days: int,
                      minimum: Decimal) -> str:
    lines = [
        _("Your personal link: {link}").format(link=link),
        _("Commission: {pct}% of what the people you bring pay.").format(pct=pct),
        _("People referred: {count}").format(count=referred),
        _("Balance: {balance} (available for payout: {available})").format(
            balance=usd(balance), available=usd(available)),
        *referral_rules(on_hold=on_hold, next_release=next_release, hold_days=hold_days,
                        minimum=minimum),
    ]
    if recent:
        lines.append(_("Last commissions:"))
        lines += [f"  {when(moment)}  +{usd(amount)}" for moment, amount in recent]
    return "\n".join(lines)


PAYOUT_BUTTON = N_("Request a payout")
PAYOUT_OPEN_EXISTS = N_("You already have an open payout request; please wait for the admin.")
PAYOUT_NOTHING_AVAILABLE = N_("There is nothing available for a payout yet.")
PAYOUT_CHOOSE_NETWORK = N_("Which network should the USDT be sent on?")


def payout_ask_wallet(*, network: str) -> str:
    return _("Send your {network} wallet address.").format(network=network)


def payout_bad_wallet(*, problem: str) -> str:
    return _("That address does not look right ({problem}). Check it and send it "
             "again.").format(problem=problem)


def payout_ask_amount(*, available: Decimal, minimum: Decimal) -> str:
    return _("How much? From {minimum} up to {available}, for example 12.50.").format(
        minimum=usd(minimum), available=usd(available))


def payout_bad_amount(*, available: Decimal, minimum: Decimal) -> str:
    return _("Send an amount between {minimum} and {available}, like 12.50.").format(
        minimum=usd(minimum), available=usd(available))


def payout_confirm(*, network: str, wallet: str, amount: Decimal) -> str:
    return _("Pay {amount} in USDT ({network}) to\n{wallet}\n\nIs that right?").format(
        amount=usd(amount), network=network, wallet=wallet)


CONFIRM_BUTTON = N_("Confirm")
CANCEL_BUTTON = N_("Cancel")
PAYOUT_CANCELED = N_("Payout request canceled.")
PAYOUT_SENDING = N_("Sending your payout request…")


def payout_received(*, amount: Decimal) -> str:
    return _("Your payout request for {amount} is with the admin.").format(amount=usd(amount))


PAYOUT_REFUSALS = Deferred({
    "open_request_exists": PAYOUT_OPEN_EXISTS,
    "not_positive": N_("The amount must be above zero."),
    "below_minimum": N_("The amount is below the minimum payout."),
    "above_available": N_("The amount is more than your available balance."),
    "not_a_referrer": NOT_A_REFERRER,
    "bad_wallet": N_("The wallet address is not valid."),
})


def payout_refused(*, reason: str) -> str:
    return _("Payout request not accepted: {reason}").format(
        reason=PAYOUT_REFUSALS.get(reason, reason))


def payout_approved(*, amount: Decimal, network: str, wallet: str) -> str:
    return _("Your payout of {amount} was approved and is being sent ({network}) to "
             "{wallet}.").format(amount=usd(amount), network=network, wallet=wallet)


def payout_rejected(*, amount: Decimal) -> str:
    return _("Your payout request for {amount} was rejected. Contact the admin for "
             "details.").format(amount=usd(amount))


# Bot: help --------------------------------------------------------------------------------

HELP = N_(
    "/start: plans and the free trial\n"
    "/myplan: your status, renewal and your invite link\n"
    "/referral: your referral link and balance (the programme is by invitation)\n"
    "/language: the language the bot speaks\n"
    "/help: this message"
)
COMMAND_DESCRIPTIONS = Deferred({
    "start": N_("Plans and the free trial"),
    "myplan": N_("My subscription"),
    "referral": N_("My referral link and balance"),
    "language": N_("Language"),
    "paysupport": N_("Help with a payment"),
    "help": N_("Help"),
})


# Admin commands ---------------------------------------------------------------------------

ADMIN_REFUSED = N_("This command is for admins only.")
ADMIN_PRIVATE_ONLY = N_("Admin commands work only in a private chat with the bot.")
ADMIN_QUEUED = N_("On it; you will get a message when it is done.")
USAGE_ACTIVATE = N_("Usage: /activate <user_id> <days>")
USAGE_EDIT = N_("Usage: /edit <user_id> remove|setdays <days>|marktrial|resettrial")
USAGE_REFREE_ADD = N_("Usage: /refree_add <user_id> <pct>  (pct above 0, at most 100)")
USAGE_REFREE_REMOVE = N_("Usage: /refree_remove <user_id>")
USAGE_HISTORY = N_("Usage: /history <user_id>")


def unknown_user(*, user_id: int) -> str:
    return _("User {user_id} has never talked to the bot.").format(user_id=user_id)


def admin_access_set(*, user_id: int, paid_through: datetime | None) -> str:
    if paid_through is None:
        return _("Done: user {user_id} now has no access.").format(user_id=user_id)
    return _("Done: user {user_id} now has access until {until}.").format(
        user_id=user_id, until=when(paid_through))


def admin_removed(*, user_id: int) -> str:
    return _("Done: user {user_id} was removed from the channel.").format(user_id=user_id)


def admin_kick_refused(*, user_id: int, error: str) -> str:
    return _("User {user_id} has no access any more, but Telegram refused to remove them from "
             "the channel: {error}. Check that the bot is an admin of the channel with the "
             "right to ban users, then send the remove command again.").format(
        user_id=user_id, error=error)


def admin_trial_marked(*, user_id: int, used: bool) -> str:
    if used:
        return _("Done: the free trial of user {user_id} is used.").format(user_id=user_id)
    return _("Done: the free trial of user {user_id} is available again.").format(
        user_id=user_id)


def admin_referrer_added(*, user_id: int, pct: Decimal) -> str:
    return _("Done: user {user_id} is a referrer at {pct}%.").format(user_id=user_id, pct=pct)


def admin_referrer_removed(*, user_id: int, existed: bool) -> str:
    if not existed:
        return _("User {user_id} was not a referrer; nothing changed.").format(user_id=user_id)
    return _("Done: user {user_id} no longer earns commission (their balance is "
             "kept).").format(user_id=user_id)


EXPORT_USERS_CAPTION = N_("All users")
EXPORT_REFERRERS_CAPTION = N_("Referrers")
NO_HISTORY = N_("No history for this user.")


# A row's command is shown cut to this length, so that /history's 30 rows stay well inside
# Telegram's 4,096 characters a message.
HISTORY_COMMAND_CHARS = 40


def history_line(*, moment: datetime, action: str, source: str, actor_id: int | None,
                 after: datetime | None, command: str | None = None) -> str:
    if actor_id:
        done = _("{action} ({source} by {actor_id})").format(action=action, source=source,
                                                            actor_id=actor_id)
    else:
        done = f"{action} ({source})"
    until = f" → {when(after)}" if after else ""
    if command and len(command) > HISTORY_COMMAND_CHARS:
        command = command[:HISTORY_COMMAND_CHARS - 1] + "…"
    said = f"  [{command}]" if command else ""
    return f"{when(moment)}  {done}{until}{said}"


NO_OPEN_PAYOUTS = N_("No open payout requests.")
APPROVE_BUTTON = N_("Approve")
REJECT_BUTTON = N_("Reject")


def payout_line(*, request_id: int, referrer_id: int, amount: Decimal, network: str,
                wallet: str, created_at: datetime) -> str:
    return _("#{request_id}: {amount} to user {referrer_id}, {network} {wallet} (asked "
             "{asked})").format(request_id=request_id, amount=usd(amount),
                                referrer_id=referrer_id, network=network, wallet=wallet,
                                asked=when(created_at))


def payout_decided(*, request_id: int, approved: bool) -> str:
    if approved:
        return _("Payout #{request_id} approved.").format(request_id=request_id)
    return _("Payout #{request_id} rejected.").format(request_id=request_id)


def payout_already_decided(*, request_id: int) -> str:
    return _("Payout #{request_id} was already decided; nothing changed.").format(
        request_id=request_id)


SWEEP_CONFIRM_SENT = N_("Sweep hold confirmation sent; the held removals will run.")


def payout_request_alert(*, request_id: int, referrer_id: int, amount: Decimal) -> str:
    return _("New payout request #{request_id}: {amount} for user {referrer_id}. See "
             "/payouts.").format(request_id=request_id, amount=usd(amount),
                                 referrer_id=referrer_id)


# Sweeps: expiry, renewal reminders, the circuit breaker --------------------------------------

def access_expired(*, paid_through: datetime) -> str:
    return _("Your access to the channel ended on {until}. Renew any time to get back "
             "in.").format(until=when(paid_through))


def renewal_reminder(*, paid_through: datetime, days_before: int) -> str:
    return ngettext(
        "Your access ends in less than {count} day, on {until}. Renew now to stay in the "
        "channel.",
        "Your access ends in less than {count} days, on {until}. Renew now to stay in the "
        "channel.", days_before).format(count=days_before, until=when(paid_through))


def sweep_held(*, hold_id: int, due: int, members: int, reason: str) -> str:
    return _("⚠️ Expiry sweep on hold (#{hold_id}): it would remove {due} of {members} members "
             "({reason}). Nobody was removed. Check payments, then send /sweep_confirm to run "
             "the removal once.").format(hold_id=hold_id, due=due, members=members,
                                         reason=reason)


def sweep_confirmed(*, hold_id: int, removed: int, expired: int) -> str:
    return _("Sweep hold #{hold_id} confirmed: {removed} removed from the channel, {expired} "
             "marked expired in all.").format(hold_id=hold_id, removed=removed, expired=expired)


# Operator: what a job run from the sandbox page (`infra.ops run …`) did -----------------------
# The operator panel speaks English only: these are not in the catalogue.

def job_report(job: str, result: Any) -> str:
    """One sentence for the operator panel, from the summary the job's task returns."""
    if job == "reminders":
        sent = int(result.get("reminded", 0))
        return f"sent {count(sent, 'renewal reminder')}" if sent else "no reminder was due"
    if job == "poll":
        news = int(result or 0)
        if not news:
            return "asked CryptoCloud about the open invoices: nothing new"
        return f"asked CryptoCloud about the open invoices: {count(news, 'payment')} to settle"
    return expiry_report(result)


def expiry_report(summary: dict[str, Any]) -> str:
    if summary.get("hold_id") is not None:
        return (f"held (#{summary['hold_id']}): {count(summary.get('due', 0), 'removal')} looked "
                "suspicious, nobody was removed; an admin confirms with /sweep_confirm")
    if summary.get("dry_run"):
        return f"dry run: {count(summary.get('due', 0), 'subscriber')} due, nobody was removed"
    parts = [f"removed {count(summary.get('removed', 0), 'subscriber')} from the channel"]
    for key, words in (("expired", "marked expired"), ("to_grace", "moved into grace"),
                       ("paid_meanwhile", "paid meanwhile (kept)"),
                       ("kept", "kept (admins or the owner)"),
                       ("refused", "refused by Telegram (tried again next run)")):
        if summary.get(key):
            parts.append(f"{summary[key]} {words}")
    if not summary.get("due") and not summary.get("to_grace"):
        return "nothing was due: nobody was removed"
    return "; ".join(parts)


TRY_AGAIN_LATER = N_("Something went wrong on our side. Please try again in a minute.")


def usage_without_arguments(*, command: str) -> str:
    return _("Usage: /{command}  (it takes no arguments)").format(command=command)


PAYOUT_EXPIRED = N_("This payout conversation has ended; start again from /referral.")


# Referral rules: the hold period, the minimum payout, risk flags on payout requests ---------

def referral_rules(*, on_hold: Decimal, next_release: datetime | None, hold_days: int,
                   minimum: Decimal) -> list[str]:
    """The /referral lines about what is held back and the smallest payout."""
    lines = []
    if on_hold and next_release is not None:
        lines.append(_("On hold: {on_hold}; the next part becomes payable on {when}.").format(
            on_hold=usd(on_hold), when=when(next_release)))
    if hold_days:
        lines.append(ngettext(
            "A commission becomes payable {count} day after the payment that earned it.",
            "A commission becomes payable {count} days after the payment that earned it.",
            hold_days).format(count=hold_days))
    lines.append(_("Minimum payout: {minimum}").format(minimum=usd(minimum)))
    return lines


def payout_unavailable(*, minimum: Decimal, available: Decimal, on_hold: Decimal,
                       next_release: datetime | None) -> str:
    """The payout button's alert when less than the minimum is available (under 200 chars)."""
    if not available and not on_hold:
        return __getattr__("PAYOUT_NOTHING_AVAILABLE")
    if on_hold and next_release is not None:
        return _("The minimum payout is {minimum}; you have {available} available now "
                 "({on_hold} on hold, the next part payable {when}).").format(
            minimum=usd(minimum), available=usd(available), on_hold=usd(on_hold),
            when=when(next_release))
    return _("The minimum payout is {minimum}; you have {available} available now.").format(
        minimum=usd(minimum), available=usd(available))


def payout_amount_refused(*, reason: str, asked: Decimal, minimum: Decimal,
                          available: Decimal) -> str:
    """Why an amount was refused, with the numbers that would be accepted."""
    numbers = {"asked": usd(asked), "minimum": usd(minimum), "available": usd(available)}
    if reason == "below_minimum":
        return _("{asked} is below the minimum payout of {minimum}; you have {available} "
                 "available now.").format(**numbers)
    if reason == "above_available":
        return _("{asked} is more than the {available} available now (the minimum payout is "
                 "{minimum}).").format(**numbers)
    return PAYOUT_REFUSALS.get(reason, reason)


def payout_refused_amount(*, reason: str, asked: Decimal, minimum: Decimal,
                          available: Decimal) -> str:
    detail = payout_amount_refused(reason=reason, asked=asked, minimum=minimum,
                                   available=available)
    return _("Payout request not accepted: {reason}").format(reason=detail)


PAYOUT_FLAG_NAMES = Deferred({RiskKind.SHARED_WALLET: N_("shared wallet"),
                              RiskKind.CHURN: N_("churn")})
PAYOUT_RELATIONS = Deferred({
    Relation.REFERRED: N_("whom this referrer brought in"),
    Relation.REFERRER: N_("who brought this referrer in"),
    Relation.OTHER: N_("another referrer"),
})
# Evidence shown per shared-wallet flag; the rest is counted.
PAYOUT_FLAG_USES_SHOWN = 3


def payout_flag(flag: RiskFlag) -> str:
    """One flag in plain words, with its evidence."""
    if isinstance(flag, SharedWallet):
        shown = flag.uses[:PAYOUT_FLAG_USES_SHOWN]
        users = "; ".join(_("user {user_id}, {relation} (request #{request_id})").format(
            user_id=use.user_id, relation=PAYOUT_RELATIONS[use.relation],
            request_id=use.request_id) for use in shown)
        rest = len(flag.uses) - len(shown)
        more = ngettext("; and {count} more request", "; and {count} more requests",
                        rest).format(count=rest) if rest else ""
        return _("Shared wallet: the same wallet is in the payout requests of "
                 "{users}{more}.").format(users=users, more=more)
    return ngettext("Churn: {paid_once} of the {count} person this referrer brought in who "
                    "paid never paid a second time.",
                    "Churn: {paid_once} of the {count} people this referrer brought in who "
                    "paid never paid a second time.", flag.payers).format(
        paid_once=flag.paid_once, count=flag.payers)


def payout_flag_lines(flags: tuple[RiskFlag, ...]) -> list[str]:
    return [f"  ⚠ {payout_flag(flag)}" for flag in flags]


def payout_flag_names(flags: tuple[RiskFlag, ...]) -> str:
    return ", ".join(PAYOUT_FLAG_NAMES[flag.kind] for flag in flags)


def payout_alert_flagged(*, flags: tuple[RiskFlag, ...]) -> str:
    """Appended to the admins' alert of a new request that raises flags."""
    return "\n" + _("⚠ Flagged: {flags}. Look before approving.").format(
        flags=payout_flag_names(flags))


def payout_decided_flagged(*, request_id: int, approved: bool,
                           flags: tuple[RiskFlag, ...]) -> str:
    return _("{decided} It was flagged ({flags}); the flags are recorded with the "
             "decision.").format(decided=payout_decided(request_id=request_id,
                                                        approved=approved),
                                 flags=payout_flag_names(flags))


# Stats (/stats) -----------------------------------------------------------------------------

USAGE_STATS = N_("Usage: /stats [YYYY-MM-DD]  (without a date: as of now; with one: as of the "
                 "end of that day, UTC)")
STATS_DEFINITIONS = N_(
    "Active: non-trial time still running (paid, or granted by an admin); paying: active with "
    "a payment behind that time. MRR: each paying subscriber's last invoiced plan price per "
    "30 days, counted once however far ahead they paid. New: their first non-trial time "
    "started in the window. Churned: their non-trial time ended in the window (ran out or "
    "removed) and is not running now. Trial → paid: users whose first trial started in the "
    "span and who paid after it. Revenue: money received on paid invoices.")


STATS_TOO_SLOW = N_("The report took longer than its time limit and was stopped; nothing was "
                    "changed. Try again when the bot is less busy, or ask the operator to look "
                    "at the database's load.")


def stats_not_a_date(*, word: str) -> str:
    return _("“{word}” is not a date: write it as YYYY-MM-DD, for example /stats 2026-11-30. "
             "{usage}").format(word=word, usage=__getattr__("USAGE_STATS"))


def stats_invalid_date(*, word: str, error: str) -> str:
    return _("{word} is not a day of the calendar ({error}). {usage}").format(
        word=word, error=error, usage=__getattr__("USAGE_STATS"))


def stats_future_date(*, word: str, today: str) -> str:
    return _("{word} is after today ({today}, UTC): stats exist for today and past days only. "
             "{usage}").format(word=word, today=today, usage=__getattr__("USAGE_STATS"))


def _share(part: int, whole: int) -> str:
    if not whole:
        return _("n/a")
    return f"{(Decimal(part) * 100 / Decimal(whole)).quantize(Decimal('0.1'))}%"


def _plan_sum(rows: tuple[PlanRevenue, ...]) -> str:
    amount = sum((row.amount for row in rows), start=Decimal("0.00"))
    return f"{usd(amount)} ({sum(row.invoices for row in rows)})"


def stats_chart_caption(*, first: str, last: str) -> str:
    return _("Active subscribers and revenue per day, {first} to {last} (UTC)").format(
        first=first, last=last)


def _trials(number: int) -> str:
    return ngettext("{count} trial", "{count} trials", number).format(count=number)


def stats_report(report: Report) -> str:
    """The figures of a `models.domain.stats.Report` as one message."""
    figures = report.access
    lines = [_("Stats as of {when} (everything recorded before then)").format(
                 when=when(report.as_of)),
             _("Subscribers: {active} active ({paying} paying, {granted} on granted time), "
               "{trialing} trialing").format(active=figures.active, paying=figures.paying,
                                             granted=figures.active - figures.paying,
                                             trialing=figures.trialing),
             _("MRR: {mrr}").format(mrr=usd(figures.mrr))]
    lines += [ngettext("Last {count} day: {new} new, {churned} churned",
                       "Last {count} days: {new} new, {churned} churned",
                       window.days).format(count=window.days, new=window.new,
                                           churned=window.churned)
              for window in figures.windows]
    every, recent = figures.conversion_all, figures.conversion_recent
    lines.append(_("Trial → paid: {converted} of {trials} ever started ({share}); "
                   "{recent_converted} of {recent_trials} started in the last 30 days "
                   "({recent_share})").format(
        converted=every.converted, trials=_trials(every.trials),
        share=_share(every.converted, every.trials), recent_converted=recent.converted,
        recent_trials=_trials(recent.trials),
        recent_share=_share(recent.converted, recent.trials)))
    lines.append(_("Revenue by plan (paid invoices), last 30 days | all time:"))
    recent_by_plan = {row.plan: row for row in report.revenue_recent}
    for row in report.revenue_all:
        last = recent_by_plan.get(row.plan)
        last_text = f"{usd(last.amount)} ({last.invoices})" if last else f"{usd(Decimal(0))} (0)"
        lines.append(f"  {row.plan}: {last_text} | {usd(row.amount)} ({row.invoices})")
    if not report.revenue_all:
        lines.append("  " + _("no paid invoices yet"))
    elif len(report.revenue_all) > 1:
        lines.append("  " + _("all plans: {recent} | {all}").format(
            recent=_plan_sum(report.revenue_recent), all=_plan_sum(report.revenue_all)))
    lines.append(_("Referral commissions: {owed} owed, {paid} paid out").format(
        owed=usd(report.commissions_owed), paid=usd(report.commissions_paid)))
    lines.append("")
    lines.append(__getattr__("STATS_DEFINITIONS"))
    return "\n".join(lines)

# Promo and gift codes ---------------------------------------------------------------------

PROMO_BUTTON = N_("🎟 I have a code")
PROMO_ASK_CODE = N_("Send your promo or gift code (or /start to go back to the plans).")
PROMO_CHECKING = N_("Checking your code…")
PROMO_BAD_FORMAT = N_(
    "That is not a code: codes are 3 to 32 letters, digits, _ or -. Send it again, or /start "
    "to go back to the plans."
)
PROMO_UNKNOWN = N_("There is no such code. Check the spelling and send it again.")
PROMO_PAUSED = N_("This code is paused at the moment.")
PROMO_EXPIRED = N_("This code has expired.")
PROMO_USED_UP = N_("This code has been used up.")
PROMO_NEW_ONLY = N_("This code is for new subscribers only, and you have paid before.")
PROMO_ALREADY_USED = N_("You have already used this code.")


def promo_refused(*, code: str, text: str) -> str:
    return _("Code {code}: {text}").format(code=code, text=text)


def _free_days(number: int) -> str:
    return ngettext("{count} free day", "{count} free days", number).format(count=number)


def promo_offer(*, kind: str, percent: Decimal | None, amount: Decimal | None,
                days: int | None) -> str:
    """What a code gives, in a few words: "20% off", "$2.50 off", "7 free days"."""
    if kind == "percent" and percent is not None:
        return _("{percent}% off").format(percent=f"{percent.normalize():f}")
    if kind == "amount" and amount is not None:
        return _("{amount} off").format(amount=usd(amount))
    return _free_days(days or 0)


def promo_discount_applied(*, code: str, offer: str, plans: list[str] | None,
                           until: Any) -> str:
    which = _(" on {plans}").format(plans=", ".join(plans)) if plans else ""
    by = _(" (code valid through {until})").format(until=until) if until else ""
    return _("Code {code} applied: {offer}{which}{by}. It comes off your next invoice: "
             "choose a plan.").format(code=code, offer=offer, which=which, by=by)


def promo_gift_applied(*, code: str, days: int, paid_through: datetime | None) -> str:
    text = ngettext("Code {code}: {count} free day added to your subscription.",
                    "Code {code}: {count} free days added to your subscription.",
                    days).format(code=code, count=days)
    if paid_through:
        text += " " + _("Your access now runs until {until}.").format(until=when(paid_through))
    return text


def plan_button_discounted(*, title: str, days: int, price: Decimal, full: Decimal) -> str:
    return _("{title} · {days} · {price} (was {full})").format(
        title=title, days=day_count(days), price=usd(price), full=usd(full))


def promo_menu_line(*, codes: list[str]) -> str:
    return _("Your code {codes} is applied: the prices below include it.").format(
        codes=", ".join(codes))


USAGE_PROMO_ADD = N_(
    "Usage: /promo_add <CODE> <pct>%|<amount>usd|<days>d [uses=<n>] [until=YYYY-MM-DD] "
    "[plans=a,b] [new_only]\n"
    "Examples: /promo_add SPRING 20% uses=100 until=2026-12-31 · /promo_add TENOFF 10usd "
    "plans=month · /promo_add GIFT7 7d new_only"
)
PROMO_ARGUMENT_EXPECTED = Deferred({
    "missing": N_("a code and what it gives are both required"),
    "code": N_("the code must be 3 to 32 letters, digits, _ or -"),
    "offer": N_("the second argument must be a percent above 0 and below 100 (20%), an amount "
                "in USD (2.50usd), or a number of free days (7d)"),
    "uses": N_("uses= takes a whole number from 1 to 1000000"),
    "until": N_("until= takes a date as YYYY-MM-DD (the last valid day, UTC)"),
    "until_past": N_("until= is the last valid day and must not be in the past"),
    "plans": N_("plans= takes plan codes separated by commas, without spaces "
                "(plans=month,year)"),
    "plans_on_gift": N_("a gift of days is not a discount on plans: leave out plans="),
    "repeated": N_("each option may be given once"),
    "unknown": N_("the options are uses=, until=, plans= and new_only"),
})


def promo_bad_argument(*, problem: str, word: str) -> str:
    shown = f"“{word}”: " if word else ""
    return _("{shown}{problem}. Nothing was created.\n{usage}").format(
        shown=shown, problem=PROMO_ARGUMENT_EXPECTED[problem], usage=__getattr__("USAGE_PROMO_ADD"))


def usage_promo_code(*, command: str) -> str:
    return _("Usage: /{command} <CODE>").format(command=command)


def promo_unknown_plans(*, plans: list[str], on_sale: list[str]) -> str:
    return _("No plan {plans} is on sale (plans: {on_sale}). Nothing was created.").format(
        plans=", ".join(plans), on_sale=", ".join(on_sale) or _("none"))


def promo_exists(*, code: str) -> str:
    return _("A code {code} already exists; nothing changed. See /promos.").format(code=code)


def promo_added(*, code: str, offer: str) -> str:
    return _("Done: code {code} created ({offer}). Share it as /start promo_{code}.").format(
        code=code, offer=offer)


def promo_not_found(*, code: str) -> str:
    return _("There is no code {code}. See /promos.").format(code=code)


def promo_state_set(*, code: str, active: bool) -> str:
    if active:
        return _("Done: code {code} is on again.").format(code=code)
    return _("Done: code {code} is paused.").format(code=code)


def promo_deleted(*, code: str) -> str:
    return _("Done: code {code} is deleted; its past redemptions stay in the history.").format(
        code=code)


NO_PROMOS = N_("No promo codes yet. Create one with /promo_add.")


def promo_line(*, code: str, offer: str, used: int, reserved: int, max_uses: int | None,
               until: Any, plans: str | None, new_only: bool, state: str) -> str:
    limit = f"/{max_uses}" if max_uses is not None else ""
    held = _(" (+{reserved} reserved)").format(reserved=reserved) if reserved else ""
    parts = [f"{code}: {offer}", _("used {used}{limit}{held}").format(used=used, limit=limit,
                                                                      held=held), state]
    if until:
        parts.append(_("until {until}").format(until=until))
    if plans:
        parts.append(_("plans {plans}").format(plans=plans))
    if new_only:
        parts.append(_("new subscribers only"))
    return " · ".join(parts)

# Broadcasts -------------------------------------------------------------------------------

BROADCAST_SEGMENT_NAMES = Deferred({
    "all": N_("Everyone"),
    "active": N_("Active (paid)"),
    "trialing": N_("On the free trial"),
    "expired": N_("Expired"),
    "never_paid": N_("Never paid"),
    "expiring": N_("Expiring within N days"),
    "referred": N_("Referred by someone"),
})
BROADCAST_CHOOSE_SEGMENT = N_("New broadcast. Who should receive it?")
BROADCAST_ASK_DAYS = N_("Expiring within how many days? Send a number from 1 to 365.")
BROADCAST_BAD_DAYS = N_("Please send a whole number of days from 1 to 365.")
BROADCAST_ASK_MESSAGE = N_(
    "Now send the message: text, or a photo with a caption. To add link buttons, end it with "
    "lines like\nRenew now - https://example.com/renew\n(one button per line).")
BROADCAST_MESSAGE_REFUSED = Deferred({
    "empty": N_("The message has no text. Send some text (or a photo)."),
    "too_long": N_("That is too long: at most 4096 characters, or 1024 under a photo."),
    "too_many_buttons": N_("At most 8 buttons, please."),
    "bad_button": N_("A button line must read `Title - https://address` (title up to 64 "
                     "characters, an http or https address)."),
})
BROADCAST_ONLY_TEXT_OR_PHOTO = N_("Please send text, or one photo with a caption.")
BROADCAST_CANCELED = N_("Broadcast canceled; nothing was sent.")
BROADCAST_QUEUED = N_(
    "Broadcast confirmed; it starts in a moment. /broadcast_status shows progress.")
BROADCAST_EXPIRED = N_("This broadcast conversation has ended; start again with /broadcast.")
BROADCAST_STOP_BUTTON = N_("Stop")
BROADCAST_RESUME_BUTTON = N_("Resume")
BROADCAST_STOPPING = N_("Stopping…")
BROADCAST_RESUMING = N_("Resuming…")
NO_BROADCASTS = N_("No broadcast yet. /broadcast starts one.")


def segment_name(segment: str, days: int | None = None) -> str:
    if segment == "expiring" and days is not None:
        return ngettext("Expiring within {count} day", "Expiring within {count} days",
                        days).format(count=days)
    return BROADCAST_SEGMENT_NAMES.get(segment, segment)


def broadcast_preview(*, segment: str, days: int | None, recipients: int) -> str:
    return _("Above is the message as it will look.\nSegment: {segment}\nRecipients now: "
             "{recipients}\nSend it?").format(segment=segment_name(segment, days),
                                              recipients=recipients)


def broadcast_started(*, broadcast_id: int, total: int) -> str:
    return ngettext(
        "Broadcast #{broadcast_id} is sending to {count} recipient. Press Stop to stop it; "
        "/broadcast_status shows progress.",
        "Broadcast #{broadcast_id} is sending to {count} recipients. Press Stop to stop it; "
        "/broadcast_status shows progress.", total).format(broadcast_id=broadcast_id,
                                                           count=total)


def _broadcast_counts(progress: Any) -> str:
    unconfirmed = (_(", unconfirmed {count}").format(count=progress.unconfirmed)
                   if progress.unconfirmed else "")
    return _("sent {sent}, failed {failed}, blocked {blocked}{unconfirmed}, left {left} (of "
             "{total})").format(sent=progress.sent, failed=progress.failed,
                                blocked=progress.blocked, unconfirmed=unconfirmed,
                                left=progress.left, total=progress.total)


def broadcast_finished(*, broadcast_id: int, progress: Any) -> str:
    return _("Broadcast #{broadcast_id} finished: {counts}.").format(
        broadcast_id=broadcast_id, counts=_broadcast_counts(progress))


def broadcast_stopped(*, broadcast_id: int, progress: Any, stopped: bool) -> str:
    if stopped:
        return _("Broadcast #{broadcast_id} stopped: {counts}.").format(
            broadcast_id=broadcast_id, counts=_broadcast_counts(progress))
    return _("Broadcast #{broadcast_id} was not sending: {counts}.").format(
        broadcast_id=broadcast_id, counts=_broadcast_counts(progress))


def broadcast_resumed(*, broadcast_id: int, progress: Any) -> str:
    return _("Broadcast #{broadcast_id} resumed; only those not yet sent to will get it: "
             "{counts}.").format(broadcast_id=broadcast_id, counts=_broadcast_counts(progress))


def broadcast_not_resumable(*, broadcast_id: int) -> str:
    return _("Broadcast #{broadcast_id} has nobody left to send to; nothing to "
             "resume.").format(broadcast_id=broadcast_id)


def broadcast_status_line(*, broadcast_id: int, status: str, segment: str, days: int | None,
                          created_at: datetime, progress: Any) -> str:
    return (f"#{broadcast_id} {status}, {segment_name(segment, days)}, {when(created_at)}: "
            f"{_broadcast_counts(progress)}")


# Membership audit (/audit, /audit fix; helper h6) ---------------------------------------------

USAGE_AUDIT = N_("Usage: /audit — check everyone we know of in the channel; /audit fix — act "
                 "on the last audit; /audit fix confirm — the same past the circuit breaker.")
AUDIT_FINDING_NAMES = Deferred({
    "member_without_access": N_("members without access"),
    "payer_not_in_chat": N_("payers not in the chat"),
    "banned_while_covered": N_("banned while covered"),
    "admin": N_("admins"),
    "unchecked": N_("could not be checked"),
})
AUDIT_FIX_NO_RUN = N_("No finished audit to act on. Send /audit first.")
AUDIT_FIX_RUNNING = N_("An audit is still running; /audit fix acts on it once it has finished "
                       "(/audit shows its progress).")


def audit_started(*, run_id: int, total: int, chats: int) -> str:
    where = ngettext("in {count} chat", "in {count} chats", chats).format(count=chats)
    return ngettext("Audit #{run_id} started: checking {count} person {where}. The report and "
                    "a CSV follow when it is done; /audit shows its progress.",
                    "Audit #{run_id} started: checking {count} people {where}. The report and "
                    "a CSV follow when it is done; /audit shows its progress.", total).format(
        run_id=run_id, count=total, where=where)


def audit_running(*, run_id: int, checked: int, total: int, started_at: datetime,
                  restarted: bool) -> str:
    again = " " + _("It had stalled and goes on from where it stopped.") if restarted else ""
    return _("Audit #{run_id} is running (one at a time): {checked} of about {total} checked, "
             "started {started}.{again}").format(run_id=run_id, checked=checked, total=total,
                                                 started=when(started_at), again=again)


def audit_chat_stopped(*, chat_id: int, error: str) -> str:
    return _("Chat {chat_id} was not checked (the rest of it skipped): Telegram said "
             "\"{error}\".").format(chat_id=chat_id, error=error)


def audit_summary(*, run_id: int, checked: int, chats: list[int],
                  counts: dict[tuple[int, str], int], notes: list[str]) -> str:
    lines = [ngettext("Audit #{run_id} finished: {count} person checked.",
                      "Audit #{run_id} finished: {count} people checked.", checked).format(
        run_id=run_id, count=checked)]
    for chat_id in chats:
        found = [_("{name}: {count}").format(name=name, count=counts[chat_id, kind])
                 for kind, name in AUDIT_FINDING_NAMES.items() if counts.get((chat_id, kind))]
        lines.append(_("Chat {chat_id}: {found}.").format(
            chat_id=chat_id, found="; ".join(found) if found else _("records agree")))
    lines += notes
    lines.append(_("The CSV lists each finding. /audit fix invites the payers who are out and "
                   "removes the members without access."))
    return "\n".join(lines)


def audit_csv_caption(*, run_id: int) -> str:
    return _("Audit #{run_id}: the findings").format(run_id=run_id)


def audit_fix_breaker_reason(*, chat_id: int, due: int, reason: str) -> str:
    return ngettext("{count} removal in chat {chat_id}: {reason}",
                    "{count} removals in chat {chat_id}: {reason}", due).format(
        count=due, chat_id=chat_id, reason=reason)


def audit_fix_refusal(*, user_id: int, chat_id: int, error: str) -> str:
    return _("user {user_id} in chat {chat_id}: {error}").format(user_id=user_id,
                                                                 chat_id=chat_id, error=error)


def _outcome(key: str, number: int) -> str:
    """How many findings a fix settled one way: "3 removed"."""
    if key == "removed":
        return ngettext("{count} removed", "{count} removed", number).format(count=number)
    if key == "invited":
        return ngettext("{count} invited", "{count} invited", number).format(count=number)
    if key == "skipped":
        return ngettext("{count} skipped", "{count} skipped", number).format(count=number)
    return ngettext("{count} refused by Telegram", "{count} refused by Telegram",
                    number).format(count=number)


# The outcomes of a fix, in the order the answer names them.
_FIX_OUTCOME_ORDER = ("removed", "invited", "skipped", "refused")


def _outcomes(numbers: Any) -> str:
    return ", ".join(_outcome(key, numbers[key]) for key in _FIX_OUTCOME_ORDER
                     if numbers.get(key))


def audit_fixed(*, run_id: int, now_done: Any, totals: Any, held: str | None,
                refused: list[str]) -> str:
    lines = [_("Audit #{run_id} fix: {done}.").format(
        run_id=run_id, done=_outcomes(now_done) or _("nothing new to fix"))]
    settled = _outcomes(totals)
    if settled:
        lines.append(_("Settled so far: {settled}.").format(settled=settled))
    if held is not None:
        lines.append(_("⚠️ Nobody was removed: {held}. Check payments, then send /audit fix "
                       "confirm to remove them once.").format(held=held))
    lines += [_("Refused: {refusal}").format(refusal=line) for line in refused]
    return "\n".join(lines)

# Plan switch (issue 15, part 3) ----------------------------------------------------------

SWITCH_BUTTON = N_("Switch plan")
SWITCH_CHOOSE = N_("Switch to which plan? The time you have left is converted at its value: "
                   "you see the result before anything happens.")


def switch_quote(*, current: str, new: str, credit: Decimal, pay: Decimal,
                 days_before: int, days_after: int, paid_through_after: datetime) -> str:
    """What a switch does, shown before anything is paid or changed."""
    lines = [_("Switch from {current} to {new}").format(current=current, new=new),
             _("Unused value of {current}: {credit}").format(current=current,
                                                             credit=usd(credit)),
             _("Days left now: {days_before} → after the switch: {days_after}").format(
                 days_before=days_before, days_after=days_after),
             _("Paid through after the switch: {until}").format(
                 until=when(paid_through_after))]
    if pay > 0:
        lines.append(_("To pay: {pay} (the new plan's price minus the unused value). The "
                       "credit is counted again at payment, from the time still left "
                       "then.").format(pay=usd(pay)))
    else:
        lines.append(_("No payment: your unused value converts into time on the new plan."))
    return "\n".join(lines)


SWITCH_CONFIRM_BUTTON = N_("Confirm switch")
SWITCH_CANCELED = N_("Switch canceled: nothing changed.")
SWITCH_WORKING = N_("Switching your plan…")
SWITCH_PLAN_GONE = N_(
    "That plan is no longer on sale. Send /myplan to see what you can switch to.")
SWITCH_NOTHING = N_("You have no paid time on a plan to switch (a free trial or granted time "
                    "cannot be switched). Choose a plan with /start.")
SWITCH_SAME_PLAN = N_("You are already on that plan. Send /myplan to see it.")
SWITCH_QUOTE_CHANGED = N_("Your access changed since this quote, so it no longer holds. "
                          "Send /myplan and choose Switch plan again for a new quote.")
SWITCH_PENDING = N_("A plan switch of yours is already waiting for payment: pay it with the "
                    "button, or let it expire before starting another.")
SWITCH_INVOICE_EXPIRED = N_("Your plan-switch invoice expired unpaid: nothing changed, you "
                            "stay on your current plan. Send /myplan to switch again.")
# What a switch paid after the access ran out says it was switched from.
SWITCH_FROM_NO_PLAN = N_("no plan")


def switch_pay_invoice(*, current: str, new: str, amount: Decimal, credit: Decimal,
                       expires_at: datetime | None) -> str:
    deadline = ("\n" + _("Pay before {deadline}.").format(deadline=when(expires_at))
                if expires_at else "")
    return _("Your invoice to switch from {current} to {new}: {amount} ({credit} of unused "
             "value credited).").format(current=current, new=new, amount=usd(amount),
                                        credit=usd(credit)) + deadline


def plan_switched(*, current: str, new: str, paid_through: datetime | None,
                  paid: Decimal | None = None) -> str:
    received = _("Payment of {amount} received.").format(amount=usd(paid)) + " " if paid else ""
    until = " " + _("Paid through {until}.").format(until=when(paid_through)) if paid_through \
        else ""
    return received + _("Your plan is now {new} (was {current}).").format(
        new=new, current=current) + until


SWITCH_NO_OTHER_PLAN = N_("There is no other plan on sale to switch to.")

# Bundles: a plan that opens several chats ---------------------------------------------------

def chat_name(*, chat_id: int, main: bool) -> str:
    """How /myplan names a chat: the engine does not know chats' titles, only their ids."""
    return _("Main channel") if main else _("Chat {chat_id}").format(chat_id=chat_id)


def my_plan_chat(*, name: str, status: str, paid_through: datetime | None) -> str:
    until = (_(", paid through {until}").format(until=when(paid_through))
             if paid_through is not None else "")
    return f"• {name}: {STATUS_NAMES.get(status, status)}{until}"


def my_bundle(*, summary: str, chats: list[str]) -> str:
    return "\n".join([summary, "", _("Your chats:"), *chats])


def resend_invite_to(name: str) -> str:
    return _("Send my invite again: {name}").format(name=name)

# Staff roles (issue 16): /role, /roles, /user, /resend, and refusals by role ----------------

USAGE_ROLE = N_("Usage: /role <user_id> owner|manager|support|none")
USAGE_USER = N_("Usage: /user <user_id>")
USAGE_RESEND = N_("Usage: /resend <user_id>")
ROLE_SELF = N_("You cannot change your own role; another owner can.")
NO_STAFF = N_("Nobody has a role yet: ADMIN_IDS is empty and no role was granted.")


def role_refused(*, command: str, needed: str, role: str) -> str:
    return _("{command} needs the {needed} role (or above); your role is {role}. An owner can "
             "change it with /role.").format(command=command, needed=needed, role=role)


def role_not_a_role(*, word: str) -> str:
    return _("'{word}' is not a role: use owner, manager, support or none.").format(
        word=word) + "\n" + __getattr__("USAGE_ROLE")


def role_fixed_owner(*, user_id: int) -> str:
    return _("User {user_id} is an owner through ADMIN_IDS; a role from the bot cannot change "
             "that. Remove them from ADMIN_IDS to change their role.").format(user_id=user_id)


def role_set(*, user_id: int, old: str, new: str) -> str:
    if new == "none":
        return _("Done: user {user_id} has no role any more (was {old}).").format(
            user_id=user_id, old=old)
    return _("Done: user {user_id} is now {new} (was {old}).").format(user_id=user_id, new=new,
                                                                     old=old)


def role_unchanged(*, user_id: int, role: str) -> str:
    return _("User {user_id} already has the role {role}; nothing changed.").format(
        user_id=user_id, role=role)


def role_line(*, user_id: int, name: str, role: str, granted_by: int | None,
              granted_at: datetime | None) -> str:
    who = f"{user_id} {name}".rstrip()
    if granted_by is None or granted_at is None:
        return _("{who}: {role} (ADMIN_IDS)").format(who=who, role=role)
    return _("{who}: {role}, granted by {granted_by} on {when}").format(
        who=who, role=role, granted_by=granted_by, when=when(granted_at))


def user_status_line(*, chat_id: int, status: str, paid_through: datetime | None,
                     trial_used: bool) -> str:
    until = when(paid_through) if paid_through else _("never paid")
    trial = _("trial used") if trial_used else _("trial not used")
    return _("Chat {chat_id}: {status}, paid through {until}, {trial}").format(
        chat_id=chat_id, status=status, until=until, trial=trial)


def user_header(*, user_id: int, name: str, username: str | None) -> str:
    handle = f" @{username}" if username else ""
    return _("User {user_id} {name}{handle}").format(user_id=user_id, name=name,
                                                     handle=handle).rstrip()


def user_payment_line(*, paid_at: datetime, amount: str, plan: str) -> str:
    return _("Paid {amount} USD for {plan} on {when}").format(amount=amount, plan=plan,
                                                             when=when(paid_at))


USER_NO_PAYMENTS = N_("No payments yet.")


def resend_sent(*, user_id: int) -> str:
    return _("Done: user {user_id} is getting their invite link again.").format(user_id=user_id)


def resend_no_access(*, user_id: int) -> str:
    return _("User {user_id} has no live access, so there is no invite to resend.").format(
        user_id=user_id)

# Telegram Stars (issue 15) ----------------------------------------------------------------

def stars(amount: int) -> str:
    return ngettext("{count} Star", "{count} Stars", amount).format(count=amount)


def stars_plan_button(*, title: str, price_stars: int) -> str:
    return _("⭐ {title}: {price}").format(title=title, price=stars(price_stars))


def stars_invoice_title(*, plan_title: str) -> str:
    return plan_title[:32]


def stars_invoice_description(*, plan_title: str, days: int, promo_held: bool) -> str:
    note = (_(" Promo codes apply to crypto payments only; yours stays for them.")
            if promo_held else "")
    return (_("{plan}: {days} of access to the channel.").format(plan=plan_title,
                                                                  days=day_count(days))
            + note)[:255]


def stars_price_label(*, days: int) -> str:
    return day_count(days)


STARS_CHECKOUT_STARTED = N_("Your Stars invoice is on its way.")
STARS_NOT_SOLD = N_("That plan is not sold for Stars. Send /start to see the current plans.")
STARS_PAYMENT_RECEIVED = N_("Payment received, thank you! Your access is on its way.")
# Shown by Telegram in the payment window when we answer a pre-checkout query with "no".
STARS_CHECKOUT_REFUSALS = Deferred({
    "unknown_invoice": N_("This invoice is not ours any more. Send /start for a new one."),
    "not_yours": N_("This invoice was made for someone else. Send /start for your own."),
    "not_open": N_("This invoice is already paid or closed. Send /start for a new one."),
    "expired": N_("This invoice has expired. Send /start for a new one."),
    "plan_gone": N_("This plan is no longer on sale. Send /start to see the current plans."),
    "price_changed": N_("The price has changed. Send /start for a new invoice."),
})
STARS_CHECKOUT_UNAVAILABLE = N_("We cannot take payments this minute. Please try again shortly.")
PAYSUPPORT = N_(
    "Questions about a payment? Write to the channel's admins here, with the date and the "
    "amount; refunds of Telegram Stars payments are made with Telegram's own refund."
)
USAGE_REFUND = N_("Usage: /refund <user_id> (refunds their latest Telegram Stars payment)")


def stars_refunded(*, amount: int, days: int) -> str:
    return ngettext(
        "Your payment of {stars} was refunded; the {count} day it bought was taken back.",
        "Your payment of {stars} was refunded; the {count} days it bought were taken back.",
        days).format(stars=stars(amount), count=days)


def admin_refund_done(*, user_id: int, amount: int, days: int, removed: bool,
                      commission: str | None) -> str:
    out = _(" They no longer have access and are being removed.") if removed else ""
    reversed_ = f" {commission}" if commission else ""
    return (_("Refunded {stars} to user {user_id}; {days} taken back.").format(
        stars=stars(amount), user_id=user_id, days=day_count(days)) + out + reversed_)


def commission_reversed(*, referrer_id: int, amount: Decimal) -> str:
    return _("The referrer {referrer_id}'s commission of {amount} was reversed.").format(
        referrer_id=referrer_id, amount=usd(amount))


def commission_kept(*, referrer_id: int, amount: Decimal) -> str:
    return _("The referrer {referrer_id}'s commission of {amount} was already paid out and "
             "was kept.").format(referrer_id=referrer_id, amount=usd(amount))


def admin_refund_none(*, user_id: int) -> str:
    return _("User {user_id} has no Telegram Stars payment to refund.").format(user_id=user_id)


def admin_refund_already(*, user_id: int) -> str:
    return _("User {user_id}'s Stars payments are already refunded.").format(user_id=user_id)


def admin_refund_refused(*, user_id: int, error: str) -> str:
    return _("Telegram refused the refund for user {user_id}: {error}").format(
        user_id=user_id, error=error)


def admin_refund_busy(*, user_id: int) -> str:
    return _("A refund for user {user_id} is already under way; try again in a few minutes "
             "if no answer comes.").format(user_id=user_id)


def alert_stars_unmatched(*, charge_id: str, user_id: int, reason: str) -> str:
    return _("A Telegram Stars payment by user {user_id} (charge {charge_id}) could not be "
             "applied: {reason}. No access was granted; refund it with /refund {user_id}."
             ).format(user_id=user_id, charge_id=charge_id, reason=reason)


# Language (/language) -----------------------------------------------------------------------

LANGUAGE_CHOOSE = N_("Choose the language the bot speaks to you:")
LANGUAGE_SAVING = N_("Saving your language…")


def language_set(*, name: str) -> str:
    return _("Done: the bot now speaks {language} to you.").format(language=name)


# Constants resolved when read --------------------------------------------------------------
# Upper-case string constants above hold msgids. They are moved out of the module's namespace
# here, so that `texts.NAME` reaches __getattr__ (PEP 562) and is translated in the language of
# the moment; their annotations stay for the type checker.

_COMPOSED = {"TERMS": _terms, "TERMS_ACCEPTED": _terms_accepted}
_MESSAGES = {name: globals().pop(name) for name, value in list(globals().items())
             if name.isupper() and isinstance(value, str)}


def __getattr__(name: str) -> str:
    if name in _MESSAGES:
        return _(_MESSAGES[name])
    if name in _COMPOSED:
        return _COMPOSED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
