"""The language of the moment, and the GNU gettext catalogues (Babel) that speak it.

English msgids are the English texts themselves, so English needs no catalogue. Every other
language is `infra/locales/<code>/LC_MESSAGES/messages.po`, read with Babel at first use (no
compiled file is kept in git). Adding a language is adding its .po and its code to SUPPORTED.

The language is a context variable: the bot sets it per update, a worker per recipient
(`use_language`), and `infra.texts` resolves in it when a text is built.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import parse_pattern
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

SUPPORTED = ("en", "ru")
DEFAULT = "en"
# The names shown on the /language buttons, each in its own language.
NATIVE_NAMES = {"en": "English", "ru": "Русский"}
LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT)


def resolve(*, chosen: str | None, telegram_code: str | None) -> str:
    """The user's language: the one chosen with /language, else Telegram's, else English.

    Telegram sends IETF tags ("ru", "ru-RU", "pt-br"); their first part picks the language.
    """
    for code in (chosen, telegram_code):
        base = (code or "").split("-")[0].split("_")[0].lower()
        if base in SUPPORTED:
            return base
    return DEFAULT


def current() -> str:
    return _current.get()


@contextmanager
def use_language(code: str | None) -> Iterator[str]:
    """Texts built inside the block speak `code` (English when unknown)."""
    language = code if code in SUPPORTED else DEFAULT
    token = _current.set(language)
    try:
        yield language
    finally:
        _current.reset(token)


def catalogue_path(code: str) -> Path:
    return LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(code: str) -> _gettext.NullTranslations:
    """The catalogue of `code`, read once per process; fuzzy entries are left out (English)."""
    if code == DEFAULT or code not in SUPPORTED:
        return _gettext.NullTranslations()
    with catalogue_path(code).open("rb") as po:
        catalog = read_po(po, locale=code, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, number: int) -> str:
    return translations(current()).ngettext(singular, plural, number)


@cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def format_moment(moment: datetime, pattern: str) -> str:
    """`moment` (UTC) written with a CLDR `pattern`, month names in the current language; its
    fields are written as they are, as strftime did (the callers hold UTC times)."""
    return str(parse_pattern(pattern).apply(moment, _locale(current())))


def format_usd(amount: Decimal) -> str:
    """An amount in dollars as the current language writes money: "$12.50", "12,50 $"."""
    return _usd(current(), amount)


# Babel takes some 20-60 µs to write an amount; the bot writes the same few plan prices on
# every plan menu, so each (language, amount) is written once per process.
@lru_cache(maxsize=4096)
def _usd(code: str, amount: Decimal) -> str:
    pattern = _locale(code).currency_formats["standard"]
    return str(pattern.apply(amount, _locale(code), currency="USD", group_separator=False))
