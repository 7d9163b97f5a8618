"""The plan catalogue: what can be bought, and the parser of the operator's PLANS setting.

The setting is `code:days:price_usd[/stars][:title]`, comma-separated, for example
`month:30:10.00:1 month,year:365:100/5000:1 year`. The optional `/stars` after the USD price
also sells the plan for that many Telegram Stars (1 to 10000, Telegram's limit). A bad setting
stops start-up with one line that names the bad entry and says what is wrong with it, so the
operator can fix it without a trace.
"""

import re
from collections.abc import Mapping
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
                    chat_id: int, chats: Mapping[str, frozenset[int]] | None = None) -> list[str]:
    """What differs between the stored plans and the settings (PLANS, CHANNEL_ID, PLAN_CHATS).

    Every wanted plan must be stored, on sale, with the same terms and granting its `chats`
    entry exactly (`chat_id` alone when it has none); a stored plan that is no longer wanted
    must be off sale (it is never deleted: invoices point at it) and grant `chat_id`, so a late
    payment for it lands in the channel. One line each; [] when the database is in line.
    """
    chats = chats or {}
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
        granted = chats.get(plan.code, frozenset({chat_id}))
        if plan.chats != granted:
            changes.append(f"plan {plan.code!r}: grants {_chat_list(granted)} "
                           f"(was {_chat_list(plan.chats, bare=True)})")
    return changes


def _chat_list(chats: frozenset[int], *, bare: bool = False) -> str:
    listed = ", ".join(str(chat) for chat in sorted(chats)) or "none"
    return listed if bare else f"chat{'' if len(chats) == 1 else 's'} {listed}"


# Bundles: the chats each plan grants ---------------------------------------------------------

_PLAN_CHATS_FORMAT = "code=chat_id,chat_id;code=chat_id"
_CHAT_ID = re.compile(r"-?[0-9]{1,20}")


def parse_plan_chats(text: str) -> dict[str, frozenset[int]]:
    """Parse the PLAN_CHATS setting: which chats each named plan grants, e.g. `vip=-1001,-1002`.

    Plans are separated by `;`, a plan's chats by `,`. A plan left out grants CHANNEL_ID only.
    Raises ValueError with one line naming the bad entry and what is wrong with it.
    """
    named: dict[str, frozenset[int]] = {}
    for position, raw in enumerate(text.split(";"), start=1):
        entry = raw.strip()
        if not entry:
            if not text.strip():
                break  # empty means unset
            raise ValueError(f"entry #{position} is empty: remove the stray ';'")
        code, sep, chats_text = (part.strip() for part in entry.partition("="))
        if not sep:
            raise ValueError(f"entry {entry!r}: expected {_PLAN_CHATS_FORMAT}")
        if not _CODE.fullmatch(code):
            raise ValueError(f"entry {entry!r}: plan code must be 1-32 characters "
                             f"of a-z 0-9 _ -, got {code!r}")
        if code in named:
            raise ValueError(f"entry {entry!r}: plan {code!r} is named twice")
        chats: set[int] = set()
        for chat_text in (part.strip() for part in chats_text.split(",")):
            if not chat_text:
                raise ValueError(f"entry {entry!r}: empty chat id "
                                 "(a plan needs at least one chat, ids separated by ',')")
            if not _CHAT_ID.fullmatch(chat_text) or int(chat_text) == 0:
                raise ValueError(f"entry {entry!r}: chat id must be a non-zero "
                                 f"whole number like -1001234567890, got {chat_text!r}")
            chats.add(int(chat_text))
        named[code] = frozenset(chats)
    return named


def wanted_chats(wanted: tuple[PlanSpec, ...], *, chat_id: int,
                 plan_chats: Mapping[str, frozenset[int]]) -> dict[str, frozenset[int]]:
    """The chats each plan in PLANS grants: its PLAN_CHATS entry, else CHANNEL_ID alone."""
    return {spec.code: plan_chats.get(spec.code, frozenset({chat_id})) for spec in wanted}


@dataclass(frozen=True, kw_only=True, slots=True)
class ChatChange:
    """A plan's chats change: `added` are granted to its subscribers, `dropped` taken away."""

    code: str
    added: frozenset[int]
    dropped: frozenset[int]


def bundle_changes(stored: list[StoredPlan], chats: Mapping[str, frozenset[int]],
                   *, configured: frozenset[int]) -> list[ChatChange]:
    """The plans whose chats change in a way that gives or takes access, in code order.

    A plan whose every old chat is configured nowhere any more was moved (a changed CHANNEL_ID):
    that stays `move_access`'s business (same time on the new chat, nobody removed), so it is no
    bundle change. A plan that has no chats yet (a new plan) has no subscribers to change.
    """
    changes = []
    for plan in sorted(stored, key=lambda plan: plan.code):
        new = chats.get(plan.code)
        if new is None or not plan.chats or new == plan.chats:
            continue
        if not plan.chats & configured:
            continue  # moved, not bundled
        changes.append(ChatChange(code=plan.code, added=new - plan.chats,
                                  dropped=plan.chats - new))
    return changes
