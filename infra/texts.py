"""Every text a user or admin reads, in one place, so languages can be added without a hunt.

Functions take plain values and return plain strings; nothing here formats HTML.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.domain.stats import PlanRevenue, Report

from models.domain.payout_risk import Relation, RiskFlag, RiskKind, SharedWallet


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def count(number: int, singular: str, plural: str | None = None) -> str:
    """"1 day", "3 days": the noun agrees with the number (English plurals only, for now)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = ([count(days, "day")] * bool(days) + [count(hours, "hour")] * bool(hours)
             + [count(minutes, "minute")])
    return " ".join(parts)


def usd(amount: Decimal) -> str:
    return f"${amount:.2f}"


# Payments ---------------------------------------------------------------------------------

def pay_invoice(*, plan_title: str, amount: Decimal, expires_at: datetime | None) -> str:
    deadline = f"\nPay before {when(expires_at)}." if expires_at else ""
    return f"Your invoice for {plan_title}: {usd(amount)}.{deadline}"


PAY_BUTTON = "Pay with crypto"


def partial_payment(*, remainder: Decimal, time_left: timedelta) -> str:
    return (
        f"We received part of your payment. {usd(remainder)} is still missing; "
        f"you have {duration(time_left)} to pay the rest on the same page."
    )


def payment_received(*, extra_days: int) -> str:
    """The first line of the invite (or "already in") message a payment brings."""
    bonus = f" Your overpayment adds {count(extra_days, 'extra day')}." if extra_days else ""
    return f"Payment received, thank you!{bonus}"


def after_payment(text: str, *, extra_days: int) -> str:
    """`text` (the invite, or "you are already in") opened by the payment's confirmation."""
    return f"{payment_received(extra_days=extra_days)}\n{text}"


def partial_expired(*, paid: Decimal, amount: Decimal) -> str:
    return (
        f"Your invoice expired with {usd(paid)} of {usd(amount)} paid, so no access was "
        "granted yet. Your payment is recorded and the admins have been told; if the rest "
        "arrives late it is still counted."
    )


ACCOUNT_NOT_FOUND = "We could not find your account yet. Send /start, then try again."
CHECKOUT_PLAN_GONE = "That plan is no longer on sale. Send /start to see the current plans."
CHECKOUT_FAILED = (
    "Sorry, we could not create your invoice right now. Please try again in a few minutes."
)


def invoice_canceled() -> str:
    return "Your invoice expired unpaid. Choose a plan again whenever you like."


PLANS_BUTTON = "See the plans"


# Access -----------------------------------------------------------------------------------

def invite(*, link: str, paid_through: datetime) -> str:
    return (
        f"Here is your personal invite link: {link}\n"
        f"Open it and send the join request; it is approved automatically. "
        f"Access until {when(paid_through)}."
    )


def join_refused(*, paid_through: datetime) -> str:
    return (
        f"Your access is paid until {when(paid_through)}, but Telegram would not let us approve "
        "your request to join the channel. Your payment is safe and your access stays yours: "
        "the admins have been told. Please ask to join again with your invite link in a "
        "little while (or send /myplan to see it)."
    )


def join_refused_alert(*, user_id: int, error: str, history_id: int) -> str:
    return (
        f"Telegram refused to let paying subscriber {user_id} into the channel: {error}. "
        "Check that the bot is an admin of the channel with the right to invite users; the "
        f"subscriber was asked to try again. Access history row #{history_id}."
    )


JOIN_BUTTON = "Join the channel"


def already_member(*, paid_through: datetime) -> str:
    return f"You are already in the channel. Your access now runs until {when(paid_through)}."


# Admin alerts -----------------------------------------------------------------------------

def alert_unknown_invoice(*, uuid: str) -> str:
    return f"⚠️ Payment for an unknown invoice INV-{uuid}: no access granted. Check CryptoCloud."


def alert_mismatch(*, uuid: str, user_id: int, expected: str, got: str) -> str:
    return (
        f"⚠️ Invoice INV-{uuid} of user {user_id} does not match CryptoCloud: expected "
        f"{expected}, CryptoCloud says {got}. No access granted."
    )


def alert_partial_expired(*, uuid: str, user_id: int, paid: Decimal, amount: Decimal) -> str:
    return (
        f"⚠️ Invoice INV-{uuid} of user {user_id} expired part-paid: {usd(paid)} of "
        f"{usd(amount)} received, no access granted. Settle it with the user: grant days with "
        f"/activate {user_id} <days>, or refund. If the rest arrives within a day it is "
        "activated automatically."
    )


def alert_event_given_up(*, uuid: str, attempts: int, error: str) -> str:
    return (
        f"⚠️ A payment event for INV-{uuid} failed {attempts} times and was given up: "
        f"{error[:300]}. Fix the cause, then run `python -m infra.ops recheck-invoice "
        f"INV-{uuid}`."
    )


def alert_checkout_failed(*, user_id: int, error: str) -> str:
    return f"⚠️ Checkout for user {user_id} failed: {error[:300]}"


# Bot: terms, plans, trial -----------------------------------------------------------------

TERMS_BODY = (
    "Welcome! This bot sells access to a private channel.\n\n"
    "Terms: access is personal and lasts the days you paid for; payments are in crypto and "
    "are not refunded; sharing your invite link gets it revoked."
)
TERMS = TERMS_BODY + " Press the button below to accept and continue."
ACCEPT_TERMS_BUTTON = "I accept"
# The terms stay in the chat once accepted; only the button goes.
TERMS_ACCEPTED = TERMS_BODY + "\n\n✓ You accepted these terms."
ACCEPT_TERMS_FIRST = "Please accept the terms first: send /start."


def choose_plan(*, trial_days: int | None) -> str:
    if not trial_days:
        return "Choose a plan:"
    return f"Choose a plan:\nNew here? Try the channel free for {count(trial_days, 'day')}."


def plan_button(*, title: str, days: int, price: Decimal) -> str:
    return f"{title} · {count(days, 'day')} · {usd(price)}"


def trial_button(*, days: int) -> str:
    return f"Free trial · {count(days, 'day')}"


CREATING_INVOICE = "Creating your invoice…"
REUSING_INVOICE = "You already have an open invoice for this plan: here is its pay link again."


def checkout_started(*, reusing: bool, covered_until: datetime | None) -> str:
    """The answer to a plan button, however old the message that carries it."""
    if reusing:
        return REUSING_INVOICE
    if covered_until is not None:
        return (f"You are subscribed until {when(covered_until)}; this plan adds its days on "
                "top. Creating your invoice…")
    return CREATING_INVOICE

STARTING_TRIAL = "Starting your free trial…"
TRIAL_ALREADY_USED = "You have already used your free trial. Choose a plan to continue."
TRIAL_HAS_ACCESS = "Your access is already running; a trial would add nothing."
TRIAL_DISABLED = "Free trials are not available at the moment."


# Bot: /myplan -----------------------------------------------------------------------------

STATUS_NAMES = {
    "none": "no subscription",
    "trialing": "free trial",
    "active": "active",
    "grace": "ended (grace period)",
    "expired": "expired",
    "removed": "removed",
}


def my_plan(*, status: str, paid_through: datetime | None, days_left: int,
            plan_title: str | None) -> str:
    lines = [f"Status: {STATUS_NAMES.get(status, status)}"]
    if plan_title:
        lines.append(f"Plan: {plan_title}")
    if paid_through is not None:
        lines.append(f"Paid through: {when(paid_through)}")
    lines.append(f"Days left: {days_left}")
    return "\n".join(lines)


RENEW_BUTTON = "Renew"
RESEND_INVITE_BUTTON = "Send my invite again"
RESENDING_INVITE = "Sending your invite link…"
NO_ACCESS_FOR_INVITE = "You have no running access, so there is no invite to send. Choose a plan."


# Bot: /referral and payouts ---------------------------------------------------------------

NOT_A_REFERRER = (
    "The referral programme is by invitation. Ask an admin if you would like to take part."
)


def referral_overview(*, link: str, pct: Decimal, referred: int, balance: Decimal,
                      available: Decimal, recent: list[tuple[datetime, Decimal]],
                      on_hold: Decimal, next_release: datetime | None, hold_days: int,
                      minimum: Decimal) -> str:
    lines = [
        f"Your personal link: {link}",
        f"Commission: {pct}% of what the people you bring pay.",
        f"People referred: {referred}",
        f"Balance: {usd(balance)} (available for payout: {usd(available)})",
        *referral_rules(on_hold=on_hold, next_release=next_release, hold_days=hold_days,
                        minimum=minimum),
    ]
    if recent:
        lines.append("Last commissions:")
        lines += [f"  {when(moment)}  +{usd(amount)}" for moment, amount in recent]
    return "\n".join(lines)


PAYOUT_BUTTON = "Request a payout"
PAYOUT_OPEN_EXISTS = "You already have an open payout request; please wait for the admin."
PAYOUT_NOTHING_AVAILABLE = "There is nothing available for a payout yet."
PAYOUT_CHOOSE_NETWORK = "Which network should the USDT be sent on?"


def payout_ask_wallet(*, network: str) -> str:
    return f"Send your {network} wallet address."


def payout_bad_wallet(*, problem: str) -> str:
    return f"That address does not look right ({problem}). Check it and send it again."


def payout_ask_amount(*, available: Decimal, minimum: Decimal) -> str:
    return f"How much? From {usd(minimum)} up to {usd(available)}, for example 12.50."


def payout_bad_amount(*, available: Decimal, minimum: Decimal) -> str:
    return f"Send an amount between {usd(minimum)} and {usd(available)}, like 12.50."


def payout_confirm(*, network: str, wallet: str, amount: Decimal) -> str:
    return f"Pay {usd(amount)} in USDT ({network}) to\n{wallet}\n\nIs that right?"


CONFIRM_BUTTON = "Confirm"
CANCEL_BUTTON = "Cancel"
PAYOUT_CANCELED = "Payout request canceled."
PAYOUT_SENDING = "Sending your payout request…"


def payout_received(*, amount: Decimal) -> str:
    return f"Your payout request for {usd(amount)} is with the admin."


PAYOUT_REFUSALS = {
    "open_request_exists": PAYOUT_OPEN_EXISTS,
    "not_positive": "The amount must be above zero.",
    "below_minimum": "The amount is below the minimum payout.",
    "above_available": "The amount is more than your available balance.",
    "not_a_referrer": NOT_A_REFERRER,
    "bad_wallet": "The wallet address is not valid.",
}


def payout_refused(*, reason: str) -> str:
    return f"Payout request not accepted: {PAYOUT_REFUSALS.get(reason, reason)}"


def payout_approved(*, amount: Decimal, network: str, wallet: str) -> str:
    return f"Your payout of {usd(amount)} was approved and is being sent ({network}) to {wallet}."


def payout_rejected(*, amount: Decimal) -> str:
    return f"Your payout request for {usd(amount)} was rejected. Contact the admin for details."


# Bot: help --------------------------------------------------------------------------------

HELP = (
    "/start: plans and the free trial\n"
    "/myplan: your status, renewal and your invite link\n"
    "/referral: your referral link and balance (the programme is by invitation)\n"
    "/help: this message"
)
COMMAND_DESCRIPTIONS = {
    "start": "Plans and the free trial",
    "myplan": "My subscription",
    "referral": "My referral link and balance",
    "help": "Help",
}


# Admin commands ---------------------------------------------------------------------------

ADMIN_REFUSED = "This command is for admins only."
ADMIN_PRIVATE_ONLY = "Admin commands work only in a private chat with the bot."
ADMIN_QUEUED = "On it; you will get a message when it is done."
USAGE_ACTIVATE = "Usage: /activate <user_id> <days>"
USAGE_EDIT = "Usage: /edit <user_id> remove|setdays <days>|marktrial|resettrial"
USAGE_REFREE_ADD = "Usage: /refree_add <user_id> <pct>  (pct above 0, at most 100)"
USAGE_REFREE_REMOVE = "Usage: /refree_remove <user_id>"
USAGE_HISTORY = "Usage: /history <user_id>"


def unknown_user(*, user_id: int) -> str:
    return f"User {user_id} has never talked to the bot."


def admin_access_set(*, user_id: int, paid_through: datetime | None) -> str:
    until = when(paid_through) if paid_through else "no access"
    return f"Done: user {user_id} now has access until {until}."


def admin_removed(*, user_id: int) -> str:
    return f"Done: user {user_id} was removed from the channel."


def admin_kick_refused(*, user_id: int, error: str) -> str:
    return (f"User {user_id} has no access any more, but Telegram refused to remove them from "
            f"the channel: {error}. Check that the bot is an admin of the channel with the "
            f"right to ban users, then send the remove command again.")


def admin_trial_marked(*, user_id: int, used: bool) -> str:
    state = "used" if used else "available again"
    return f"Done: the free trial of user {user_id} is {state}."


def admin_referrer_added(*, user_id: int, pct: Decimal) -> str:
    return f"Done: user {user_id} is a referrer at {pct}%."


def admin_referrer_removed(*, user_id: int, existed: bool) -> str:
    if not existed:
        return f"User {user_id} was not a referrer; nothing changed."
    return f"Done: user {user_id} no longer earns commission (their balance is kept)."


EXPORT_USERS_CAPTION = "All users"
EXPORT_REFERRERS_CAPTION = "Referrers"
NO_HISTORY = "No history for this user."


# A row's command is shown cut to this length, so that /history's 30 rows stay well inside
# Telegram's 4,096 characters a message.
HISTORY_COMMAND_CHARS = 40


def history_line(*, moment: datetime, action: str, source: str, actor_id: int | None,
                 after: datetime | None, command: str | None = None) -> str:
    by = f" by {actor_id}" if actor_id else ""
    until = f" → {when(after)}" if after else ""
    if command and len(command) > HISTORY_COMMAND_CHARS:
        command = command[:HISTORY_COMMAND_CHARS - 1] + "…"
    said = f"  [{command}]" if command else ""
    return f"{when(moment)}  {action} ({source}{by}){until}{said}"


NO_OPEN_PAYOUTS = "No open payout requests."
APPROVE_BUTTON = "Approve"
REJECT_BUTTON = "Reject"


def payout_line(*, request_id: int, referrer_id: int, amount: Decimal, network: str,
                wallet: str, created_at: datetime) -> str:
    return (f"#{request_id}: {usd(amount)} to user {referrer_id}, {network} {wallet} "
            f"(asked {when(created_at)})")


def payout_decided(*, request_id: int, approved: bool) -> str:
    return f"Payout #{request_id} {'approved' if approved else 'rejected'}."


def payout_already_decided(*, request_id: int) -> str:
    return f"Payout #{request_id} was already decided; nothing changed."


SWEEP_CONFIRM_SENT = "Sweep hold confirmation sent; the held removals will run."


def payout_request_alert(*, request_id: int, referrer_id: int, amount: Decimal) -> str:
    return f"New payout request #{request_id}: {usd(amount)} for user {referrer_id}. See /payouts."


# Sweeps: expiry, renewal reminders, the circuit breaker --------------------------------------

def access_expired(*, paid_through: datetime) -> str:
    return (f"Your access to the channel ended on {when(paid_through)}. "
            "Renew any time to get back in.")


def renewal_reminder(*, paid_through: datetime, days_before: int) -> str:
    span = "1 day" if days_before == 1 else f"{days_before} days"
    return (f"Your access ends in less than {span}, on {when(paid_through)}. "
            "Renew now to stay in the channel.")


def sweep_held(*, hold_id: int, due: int, members: int, reason: str) -> str:
    return (f"⚠️ Expiry sweep on hold (#{hold_id}): it would remove {due} of {members} members "
            f"({reason}). Nobody was removed. Check payments, then send /sweep_confirm to "
            "run the removal once.")


def sweep_confirmed(*, hold_id: int, removed: int, expired: int) -> str:
    return (f"Sweep hold #{hold_id} confirmed: {removed} removed from the channel, "
            f"{expired} marked expired in all.")


# Operator: what a job run from the sandbox page (`infra.ops run …`) did -----------------------

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


TRY_AGAIN_LATER = "Something went wrong on our side. Please try again in a minute."


def usage_without_arguments(*, command: str) -> str:
    return f"Usage: /{command}  (it takes no arguments)"


PAYOUT_EXPIRED = "This payout conversation has ended; start again from /referral."


# Referral rules: the hold period, the minimum payout, risk flags on payout requests ---------

def referral_rules(*, on_hold: Decimal, next_release: datetime | None, hold_days: int,
                   minimum: Decimal) -> list[str]:
    """The /referral lines about what is held back and the smallest payout."""
    lines = []
    if on_hold and next_release is not None:
        lines.append(f"On hold: {usd(on_hold)}; the next part becomes payable on "
                     f"{when(next_release)}.")
    if hold_days:
        lines.append(f"A commission becomes payable {count(hold_days, 'day')} after the payment "
                     "that earned it.")
    lines.append(f"Minimum payout: {usd(minimum)}")
    return lines


def payout_unavailable(*, minimum: Decimal, available: Decimal, on_hold: Decimal,
                       next_release: datetime | None) -> str:
    """The payout button's alert when less than the minimum is available (under 200 chars)."""
    if not available and not on_hold:
        return PAYOUT_NOTHING_AVAILABLE
    held = (f" ({usd(on_hold)} on hold, the next part payable {when(next_release)})"
            if on_hold and next_release is not None else "")
    return (f"The minimum payout is {usd(minimum)}; you have {usd(available)} available "
            f"now{held}.")


def payout_amount_refused(*, reason: str, asked: Decimal, minimum: Decimal,
                          available: Decimal) -> str:
    """Why an amount was refused, with the numbers that would be accepted."""
    if reason == "below_minimum":
        return (f"{usd(asked)} is below the minimum payout of {usd(minimum)}; you have "
                f"{usd(available)} available now.")
    if reason == "above_available":
        return (f"{usd(asked)} is more than the {usd(available)} available now (the minimum "
                f"payout is {usd(minimum)}).")
    return PAYOUT_REFUSALS.get(reason, reason)


def payout_refused_amount(*, reason: str, asked: Decimal, minimum: Decimal,
                          available: Decimal) -> str:
    detail = payout_amount_refused(reason=reason, asked=asked, minimum=minimum,
                                   available=available)
    return f"Payout request not accepted: {detail}"


PAYOUT_FLAG_NAMES = {RiskKind.SHARED_WALLET: "shared wallet", RiskKind.CHURN: "churn"}
PAYOUT_RELATIONS = {
    Relation.REFERRED: "whom this referrer brought in",
    Relation.REFERRER: "who brought this referrer in",
    Relation.OTHER: "another referrer",
}
# Evidence shown per shared-wallet flag; the rest is counted.
PAYOUT_FLAG_USES_SHOWN = 3


def payout_flag(flag: RiskFlag) -> str:
    """One flag in plain words, with its evidence."""
    if isinstance(flag, SharedWallet):
        shown = flag.uses[:PAYOUT_FLAG_USES_SHOWN]
        users = "; ".join(f"user {use.user_id}, {PAYOUT_RELATIONS[use.relation]} "
                          f"(request #{use.request_id})" for use in shown)
        rest = len(flag.uses) - len(shown)
        more = f"; and {count(rest, 'more request')}" if rest else ""
        return f"Shared wallet: the same wallet is in the payout requests of {users}{more}."
    return (f"Churn: {flag.paid_once} of the {count(flag.payers, 'person', 'people')} this "
            "referrer brought in who paid never paid a second time.")


def payout_flag_lines(flags: tuple[RiskFlag, ...]) -> list[str]:
    return [f"  ⚠ {payout_flag(flag)}" for flag in flags]


def payout_flag_names(flags: tuple[RiskFlag, ...]) -> str:
    return ", ".join(PAYOUT_FLAG_NAMES[flag.kind] for flag in flags)


def payout_alert_flagged(*, flags: tuple[RiskFlag, ...]) -> str:
    """Appended to the admins' alert of a new request that raises flags."""
    return f"\n⚠ Flagged: {payout_flag_names(flags)}. Look before approving."


def payout_decided_flagged(*, request_id: int, approved: bool,
                           flags: tuple[RiskFlag, ...]) -> str:
    return (f"{payout_decided(request_id=request_id, approved=approved)} It was flagged "
            f"({payout_flag_names(flags)}); the flags are recorded with the decision.")


# Stats (/stats) -----------------------------------------------------------------------------

USAGE_STATS = ("Usage: /stats [YYYY-MM-DD]  (without a date: as of now; with one: as of the "
               "end of that day, UTC)")
STATS_DEFINITIONS = (
    "Active: non-trial time still running (paid, or granted by an admin); paying: active with "
    "a payment behind that time. MRR: each paying subscriber's last invoiced plan price per "
    "30 days, counted once however far ahead they paid. New: their first non-trial time "
    "started in the window. Churned: their non-trial time ended in the window (ran out or "
    "removed) and is not running now. Trial → paid: users whose first trial started in the "
    "span and who paid after it. Revenue: money received on paid invoices.")


STATS_TOO_SLOW = ("The report took longer than its time limit and was stopped; nothing was "
                  "changed. Try again when the bot is less busy, or ask the operator to look at "
                  "the database's load.")


def stats_not_a_date(*, word: str) -> str:
    return (f"“{word}” is not a date: write it as YYYY-MM-DD, for example /stats 2026-11-30. "
            f"{USAGE_STATS}")


def stats_invalid_date(*, word: str, error: str) -> str:
    return f"{word} is not a day of the calendar ({error}). {USAGE_STATS}"


def stats_future_date(*, word: str, today: str) -> str:
    return (f"{word} is after today ({today}, UTC): stats exist for today and past days only. "
            f"{USAGE_STATS}")


def _share(part: int, whole: int) -> str:
    if not whole:
        return "n/a"
    return f"{(Decimal(part) * 100 / Decimal(whole)).quantize(Decimal('0.1'))}%"


def _plan_sum(rows: tuple[PlanRevenue, ...]) -> str:
    amount = sum((row.amount for row in rows), start=Decimal("0.00"))
    return f"{usd(amount)} ({sum(row.invoices for row in rows)})"


def stats_chart_caption(*, first: str, last: str) -> str:
    return f"Active subscribers and revenue per day, {first} to {last} (UTC)"


def stats_report(report: Report) -> str:
    """The figures of a `models.domain.stats.Report` as one message."""
    figures = report.access
    lines = [f"Stats as of {when(report.as_of)} (everything recorded before then)",
             f"Subscribers: {figures.active} active ({figures.paying} paying, "
             f"{figures.active - figures.paying} on granted time), {figures.trialing} trialing",
             f"MRR: {usd(figures.mrr)}"]
    lines += [f"Last {count(window.days, 'day')}: {window.new} new, {window.churned} churned"
              for window in figures.windows]
    every, recent = figures.conversion_all, figures.conversion_recent
    lines.append(f"Trial → paid: {every.converted} of {count(every.trials, 'trial')} ever "
                 f"started ({_share(every.converted, every.trials)}); {recent.converted} of "
                 f"{count(recent.trials, 'trial')} started in the last 30 days "
                 f"({_share(recent.converted, recent.trials)})")
    lines.append("Revenue by plan (paid invoices), last 30 days | all time:")
    recent_by_plan = {row.plan: row for row in report.revenue_recent}
    for row in report.revenue_all:
        last = recent_by_plan.get(row.plan)
        last_text = f"{usd(last.amount)} ({last.invoices})" if last else f"{usd(Decimal(0))} (0)"
        lines.append(f"  {row.plan}: {last_text} | {usd(row.amount)} ({row.invoices})")
    if not report.revenue_all:
        lines.append("  no paid invoices yet")
    elif len(report.revenue_all) > 1:
        lines.append(f"  all plans: {_plan_sum(report.revenue_recent)} | "
                     f"{_plan_sum(report.revenue_all)}")
    lines.append(f"Referral commissions: {usd(report.commissions_owed)} owed, "
                 f"{usd(report.commissions_paid)} paid out")
    lines.append("")
    lines.append(STATS_DEFINITIONS)
    return "\n".join(lines)

# Promo and gift codes ---------------------------------------------------------------------

PROMO_BUTTON = "🎟 I have a code"
PROMO_ASK_CODE = "Send your promo or gift code (or /start to go back to the plans)."
PROMO_CHECKING = "Checking your code…"
PROMO_BAD_FORMAT = (
    "That is not a code: codes are 3 to 32 letters, digits, _ or -. Send it again, or /start "
    "to go back to the plans."
)
PROMO_UNKNOWN = "There is no such code. Check the spelling and send it again."
PROMO_PAUSED = "This code is paused at the moment."
PROMO_EXPIRED = "This code has expired."
PROMO_USED_UP = "This code has been used up."
PROMO_NEW_ONLY = "This code is for new subscribers only, and you have paid before."
PROMO_ALREADY_USED = "You have already used this code."


def promo_refused(*, code: str, text: str) -> str:
    return f"Code {code}: {text}"


def promo_offer(*, kind: str, percent: Decimal | None, amount: Decimal | None,
                days: int | None) -> str:
    """What a code gives, in a few words: "20% off", "$2.50 off", "7 free days"."""
    if kind == "percent" and percent is not None:
        return f"{percent.normalize():f}% off"
    if kind == "amount" and amount is not None:
        return f"{usd(amount)} off"
    return f"{count(days or 0, 'free day')}"


def promo_discount_applied(*, code: str, offer: str, plans: list[str] | None,
                           until: Any) -> str:
    which = f" on {', '.join(plans)}" if plans else ""
    by = f" (code valid through {until})" if until else ""
    return (f"Code {code} applied: {offer}{which}{by}. It comes off your next invoice: "
            "choose a plan.")


def promo_gift_applied(*, code: str, days: int, paid_through: datetime | None) -> str:
    until = f" Your access now runs until {when(paid_through)}." if paid_through else ""
    return f"Code {code}: {count(days, 'free day')} added to your subscription.{until}"


def plan_button_discounted(*, title: str, days: int, price: Decimal, full: Decimal) -> str:
    return f"{title} · {count(days, 'day')} · {usd(price)} (was {usd(full)})"


def promo_menu_line(*, codes: list[str]) -> str:
    return f"Your code {', '.join(codes)} is applied: the prices below include it."


USAGE_PROMO_ADD = (
    "Usage: /promo_add <CODE> <pct>%|<amount>usd|<days>d [uses=<n>] [until=YYYY-MM-DD] "
    "[plans=a,b] [new_only]\n"
    "Examples: /promo_add SPRING 20% uses=100 until=2026-12-31 · /promo_add TENOFF 10usd "
    "plans=month · /promo_add GIFT7 7d new_only"
)
PROMO_ARGUMENT_EXPECTED = {
    "missing": "a code and what it gives are both required",
    "code": "the code must be 3 to 32 letters, digits, _ or -",
    "offer": ("the second argument must be a percent above 0 and below 100 (20%), an amount "
              "in USD (2.50usd), or a number of free days (7d)"),
    "uses": "uses= takes a whole number from 1 to 1000000",
    "until": "until= takes a date as YYYY-MM-DD (the last valid day, UTC)",
    "until_past": "until= is the last valid day and must not be in the past",
    "plans": "plans= takes plan codes separated by commas, without spaces (plans=month,year)",
    "plans_on_gift": "a gift of days is not a discount on plans: leave out plans=",
    "repeated": "each option may be given once",
    "unknown": "the options are uses=, until=, plans= and new_only",
}


def promo_bad_argument(*, problem: str, word: str) -> str:
    shown = f"“{word}”: " if word else ""
    return f"{shown}{PROMO_ARGUMENT_EXPECTED[problem]}. Nothing was created.\n{USAGE_PROMO_ADD}"


def usage_promo_code(*, command: str) -> str:
    return f"Usage: /{command} <CODE>"


def promo_unknown_plans(*, plans: list[str], on_sale: list[str]) -> str:
    return (f"No plan {', '.join(plans)} is on sale (plans: {', '.join(on_sale) or 'none'}). "
            "Nothing was created.")


def promo_exists(*, code: str) -> str:
    return f"A code {code} already exists; nothing changed. See /promos."


def promo_added(*, code: str, offer: str) -> str:
    return f"Done: code {code} created ({offer}). Share it as /start promo_{code}."


def promo_not_found(*, code: str) -> str:
    return f"There is no code {code}. See /promos."


def promo_state_set(*, code: str, active: bool) -> str:
    return f"Done: code {code} is {'on again' if active else 'paused'}."


def promo_deleted(*, code: str) -> str:
    return f"Done: code {code} is deleted; its past redemptions stay in the history."


NO_PROMOS = "No promo codes yet. Create one with /promo_add."


def promo_line(*, code: str, offer: str, used: int, reserved: int, max_uses: int | None,
               until: Any, plans: str | None, new_only: bool, state: str) -> str:
    limit = f"/{max_uses}" if max_uses is not None else ""
    held = f" (+{reserved} reserved)" if reserved else ""
    parts = [f"{code}: {offer}", f"used {used}{limit}{held}", state]
    if until:
        parts.append(f"until {until}")
    if plans:
        parts.append(f"plans {plans}")
    if new_only:
        parts.append("new subscribers only")
    return " · ".join(parts)

# Broadcasts -------------------------------------------------------------------------------

BROADCAST_SEGMENT_NAMES = {
    "all": "Everyone",
    "active": "Active (paid)",
    "trialing": "On the free trial",
    "expired": "Expired",
    "never_paid": "Never paid",
    "expiring": "Expiring within N days",
    "referred": "Referred by someone",
}
BROADCAST_CHOOSE_SEGMENT = "New broadcast. Who should receive it?"
BROADCAST_ASK_DAYS = "Expiring within how many days? Send a number from 1 to 365."
BROADCAST_BAD_DAYS = "Please send a whole number of days from 1 to 365."
BROADCAST_ASK_MESSAGE = (
    "Now send the message: text, or a photo with a caption. To add link buttons, end it with "
    "lines like\nRenew now - https://example.com/renew\n(one button per line).")
BROADCAST_MESSAGE_REFUSED = {
    "empty": "The message has no text. Send some text (or a photo).",
    "too_long": "That is too long: at most 4096 characters, or 1024 under a photo.",
    "too_many_buttons": "At most 8 buttons, please.",
    "bad_button": ("A button line must read `Title - https://address` (title up to 64 "
                   "characters, an http or https address)."),
}
BROADCAST_ONLY_TEXT_OR_PHOTO = "Please send text, or one photo with a caption."
BROADCAST_CANCELED = "Broadcast canceled; nothing was sent."
BROADCAST_QUEUED = "Broadcast confirmed; it starts in a moment. /broadcast_status shows progress."
BROADCAST_EXPIRED = "This broadcast conversation has ended; start again with /broadcast."
BROADCAST_STOP_BUTTON = "Stop"
BROADCAST_RESUME_BUTTON = "Resume"
BROADCAST_STOPPING = "Stopping…"
BROADCAST_RESUMING = "Resuming…"
NO_BROADCASTS = "No broadcast yet. /broadcast starts one."


def segment_name(segment: str, days: int | None = None) -> str:
    if segment == "expiring" and days is not None:
        return f"Expiring within {count(days, 'day')}"
    return BROADCAST_SEGMENT_NAMES.get(segment, segment)


def broadcast_preview(*, segment: str, days: int | None, recipients: int) -> str:
    return (f"Above is the message as it will look.\nSegment: {segment_name(segment, days)}\n"
            f"Recipients now: {recipients}\nSend it?")


def broadcast_started(*, broadcast_id: int, total: int) -> str:
    return (f"Broadcast #{broadcast_id} is sending to {count(total, 'recipient')}. "
            "Press Stop to stop it; /broadcast_status shows progress.")


def _broadcast_counts(progress: Any) -> str:
    unconfirmed = (f", unconfirmed {progress.unconfirmed}" if progress.unconfirmed else "")
    return (f"sent {progress.sent}, failed {progress.failed}, blocked {progress.blocked}"
            f"{unconfirmed}, left {progress.left} (of {progress.total})")


def broadcast_finished(*, broadcast_id: int, progress: Any) -> str:
    return f"Broadcast #{broadcast_id} finished: {_broadcast_counts(progress)}."


def broadcast_stopped(*, broadcast_id: int, progress: Any, stopped: bool) -> str:
    state = "stopped" if stopped else "was not sending"
    return f"Broadcast #{broadcast_id} {state}: {_broadcast_counts(progress)}."


def broadcast_resumed(*, broadcast_id: int, progress: Any) -> str:
    return (f"Broadcast #{broadcast_id} resumed; only those not yet sent to will get it: "
            f"{_broadcast_counts(progress)}.")


def broadcast_not_resumable(*, broadcast_id: int) -> str:
    return f"Broadcast #{broadcast_id} has nobody left to send to; nothing to resume."


def broadcast_status_line(*, broadcast_id: int, status: str, segment: str, days: int | None,
                          created_at: datetime, progress: Any) -> str:
    return (f"#{broadcast_id} {status}, {segment_name(segment, days)}, {when(created_at)}: "
            f"{_broadcast_counts(progress)}")


# Telegram Stars (issue 15) ----------------------------------------------------------------

def stars(amount: int) -> str:
    return count(amount, "Star")


def stars_plan_button(*, title: str, price_stars: int) -> str:
    return f"⭐ {title}: {stars(price_stars)}"


def stars_invoice_title(*, plan_title: str) -> str:
    return plan_title[:32]


def stars_invoice_description(*, plan_title: str, days: int, promo_held: bool) -> str:
    note = (" Promo codes apply to crypto payments only; yours stays for them."
            if promo_held else "")
    return f"{plan_title}: {count(days, 'day')} of access to the channel.{note}"[:255]


def stars_price_label(*, days: int) -> str:
    return count(days, "day")


STARS_CHECKOUT_STARTED = "Your Stars invoice is on its way."
STARS_NOT_SOLD = "That plan is not sold for Stars. Send /start to see the current plans."
STARS_PAYMENT_RECEIVED = "Payment received, thank you! Your access is on its way."
# Shown by Telegram in the payment window when we answer a pre-checkout query with "no".
STARS_CHECKOUT_REFUSALS = {
    "unknown_invoice": "This invoice is not ours any more. Send /start for a new one.",
    "not_yours": "This invoice was made for someone else. Send /start for your own.",
    "not_open": "This invoice is already paid or closed. Send /start for a new one.",
    "expired": "This invoice has expired. Send /start for a new one.",
    "plan_gone": "This plan is no longer on sale. Send /start to see the current plans.",
    "price_changed": "The price has changed. Send /start for a new invoice.",
}
STARS_CHECKOUT_UNAVAILABLE = "We cannot take payments this minute. Please try again shortly."
PAYSUPPORT = (
    "Questions about a payment? Write to the channel's admins here, with the date and the "
    "amount; refunds of Telegram Stars payments are made with Telegram's own refund."
)
COMMAND_DESCRIPTIONS["paysupport"] = "Help with a payment"
USAGE_REFUND = "Usage: /refund <user_id> (refunds their latest Telegram Stars payment)"


def stars_refunded(*, amount: int, days: int) -> str:
    return (f"Your payment of {stars(amount)} was refunded; the {count(days, 'day')} it bought "
            "were taken back.")


def admin_refund_done(*, user_id: int, amount: int, days: int, removed: bool,
                      commission: str | None) -> str:
    out = " They no longer have access and are being removed." if removed else ""
    reversed_ = f" {commission}" if commission else ""
    return (f"Refunded {stars(amount)} to user {user_id}; {count(days, 'day')} taken back."
            f"{out}{reversed_}")


def commission_reversed(*, referrer_id: int, amount: Decimal) -> str:
    return f"The referrer {referrer_id}'s commission of {usd(amount)} was reversed."


def commission_kept(*, referrer_id: int, amount: Decimal) -> str:
    return (f"The referrer {referrer_id}'s commission of {usd(amount)} was already paid out "
            "and was kept.")


def admin_refund_none(*, user_id: int) -> str:
    return f"User {user_id} has no Telegram Stars payment to refund."


def admin_refund_already(*, user_id: int) -> str:
    return f"User {user_id}'s Stars payments are already refunded."


def admin_refund_refused(*, user_id: int, error: str) -> str:
    return f"Telegram refused the refund for user {user_id}: {error}"


def admin_refund_busy(*, user_id: int) -> str:
    return (f"A refund for user {user_id} is already under way; try again in a few minutes "
            "if no answer comes.")


def alert_stars_unmatched(*, charge_id: str, user_id: int, reason: str) -> str:
    return (f"A Telegram Stars payment by user {user_id} (charge {charge_id}) could not be "
            f"applied: {reason}. No access was granted; refund it with /refund {user_id}.")
