"""The plan catalogue: what can be bought, and the parser of the operator's PLANS setting.

The setting is `code:days:price_usd[/stars][:title]`, comma-separated, for example
`month:30:10.00:1 month,year:365:100/5000:1 year`. The optional `/stars` after the USD price
also sells the plan for that many Telegram Stars (1 to 10000, Telegram's limit). A bad setting
stops start-up with one line that names the bad entry and says what is wrong with it, so the
operator can fix it without a trace.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from models.domain.money import to_money

MAX_PLAN_DAYS = 3650
MAX_PLAN_STARS = 10000
_FORMAT = "code:days:price_usd[:title]"
_CODE = re.compile(r"[a-z0-9_-]{1,32}")
_DAYS = re.compile(r"[0-9]+")
# Strict on purpose: Decimal() and int() also accept "1e2", "1_0", "NaN" and non-ASCII digits.
_PRICE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_STARS = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanSpec:
    """One plan on sale: `days` of access for `price_usd` (or `price_stars` Telegram Stars, when
    set), shown to users as `title`."""

    code: str
    days: int
    price_usd: Decimal
    title: str
    price_stars: int | None = None


def parse_plans(text: str) -> tuple[PlanSpec, ...]:
    """Parse the PLANS setting into plans, in the order given.

    Raises ValueError with one line naming the bad entry and what is wrong with it.
    """
    if not text.strip():
        raise ValueError(f"no plans given: expected {_FORMAT}, comma-separated")
    plans: list[PlanSpec] = []
    seen: set[str] = set()
    for position, raw in enumerate(text.split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"entry #{position} is empty: remove the stray comma")
        plan = _parse_entry(entry)
        if plan.code in seen:
            raise ValueError(f"entry {entry!r}: duplicate code {plan.code!r}, codes must be unique")
        seen.add(plan.code)
        plans.append(plan)
    return tuple(plans)


def _parse_entry(entry: str) -> PlanSpec:
    """Parse one `code:days:price_usd[/stars][:title]` entry; a title may contain colons."""
    fields = [field.strip() for field in entry.split(":", 3)]
    if len(fields) < 3:
        raise ValueError(f"entry {entry!r}: expected {_FORMAT}, got {len(fields)} field(s)")
    code, days_text, price_text = fields[:3]
    price_text, slash, stars_text = price_text.partition("/")
    price_stars = _stars(entry, stars_text.strip()) if slash else None
    price_text = price_text.strip()
    if not _CODE.fullmatch(code):
        raise ValueError(
            f"entry {entry!r}: code must be 1-32 characters of a-z 0-9 _ -, got {code!r}"
        )
    if not _DAYS.fullmatch(days_text):
        raise ValueError(f"entry {entry!r}: days must be a whole number, got {days_text!r}")
    days = int(days_text)
    if not 1 <= days <= MAX_PLAN_DAYS:
        raise ValueError(f"entry {entry!r}: days must be 1 to {MAX_PLAN_DAYS}, got {days}")
    if not _PRICE.fullmatch(price_text):
        raise ValueError(
            f"entry {entry!r}: price_usd must be a number like 10.00, got {price_text!r}"
        )
    price = Decimal(price_text)
    if price <= 0:
        raise ValueError(f"entry {entry!r}: price_usd must be above 0, got {price_text!r}")
    if to_money(price) != price:
        raise ValueError(
            f"entry {entry!r}: price_usd must have at most 2 decimals, got {price_text!r}"
        )
    title = fields[3] if len(fields) == 4 and fields[3] else default_title(days)
    return PlanSpec(code=code, days=days, price_usd=to_money(price), title=title,
                    price_stars=price_stars)


def _stars(entry: str, text: str) -> int:
    """The Stars price after the slash: a whole number Telegram accepts in one invoice."""
    if not _STARS.fullmatch(text) or not 1 <= int(text) <= MAX_PLAN_STARS:
        raise ValueError(f"entry {entry!r}: the Stars price after '/' must be a whole number "
                         f"of Stars from 1 to {MAX_PLAN_STARS}, got {text!r}")
    return int(text)


def default_title(days: int) -> str:
    """Return the title of a plan the operator did not name, e.g. "30 days"."""
    return "1 day" if days == 1 else f"{days} days"


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredPlan:
    """A plan as the database holds it: its terms, whether it is on sale, the chats it grants."""

    code: str
    days: int
    price_usd: Decimal
    title: str
    active: bool
    chats: frozenset[int]
    price_stars: int | None = None


def catalog_changes(stored: list[StoredPlan], wanted: tuple[PlanSpec, ...],
                    chat_id: int) -> list[str]:
    """What differs between the stored plans and the settings (PLANS, CHANNEL_ID), one line each.

    Every wanted plan must be stored, on sale, with the same terms and granting `chat_id` only;
    a stored plan that is no longer wanted must be off sale (it is never deleted: invoices
    point at it) and grant `chat_id` as well, so a late payment for it lands in the channel.
    An empty list means the database already says what the settings say.
    """
    by_code = {plan.code: plan for plan in stored}
    wanted_codes = {spec.code for spec in wanted}
    changes: list[str] = []
    for spec in wanted:
        plan = by_code.get(spec.code)
        if plan is None:
            days = f"{spec.days} day{'' if spec.days == 1 else 's'}"
            stars = "" if spec.price_stars is None else f" or {spec.price_stars} Stars"
            changes.append(f"plan {spec.code!r}: new ({days}, ${spec.price_usd}{stars}, "
                           f"{spec.title!r})")
            continue
        for name, old, new in (("days", plan.days, spec.days),
                               ("price_usd", plan.price_usd, spec.price_usd),
                               ("title", plan.title, spec.title),
                               ("price_stars", plan.price_stars, spec.price_stars)):
            if old != new:
                changes.append(f"plan {spec.code!r}: {name} {old!r} -> {new!r}")
        if not plan.active:
            changes.append(f"plan {spec.code!r}: back on sale")
    for plan in stored:
        if plan.code not in wanted_codes and plan.active:
            changes.append(f"plan {plan.code!r}: off sale (not in PLANS)")
        if plan.chats != {chat_id}:
            old_chats = ", ".join(str(chat) for chat in sorted(plan.chats)) or "none"
            changes.append(f"plan {plan.code!r}: grants chat {chat_id} (was {old_chats})")
    return changes
