"""The catalogues: every message of the source is translated in every language, with the same
placeholders and every plural form; Russian plurals, dates and money read as Russian does."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from infra import i18n, texts

ROOT = Path(__file__).resolve().parents[2]
OTHER_LANGUAGES = [code for code in i18n.SUPPORTED if code != i18n.DEFAULT]
Msgid = str | tuple[str, str]


def source_messages() -> dict[Msgid, str]:
    """Every msgid the source marks (the same extraction as `make i18n`), and where it is."""
    with (ROOT / "infra" / "locales" / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: dict[Msgid, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map):
        key = message if isinstance(message, str) else (message[0], message[1])
        found[key] = f"{filename}:{lineno}"
    return found


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a str.format text (and any `%(name)s`)."""
    fields = {name for _literal, name, _spec, _conv in string.Formatter().parse(text)
              if name is not None}
    percent = {part.split(")")[0] for part in text.split("%(")[1:]}
    return fields | {f"%({name})" for name in percent}


def problems(catalog: Catalog, messages: dict[Msgid, str]) -> list[str]:
    """What is wrong with `catalog` for the source's `messages`: empty means complete."""
    found = []
    for msgid, where in messages.items():
        entry = catalog.get(msgid if isinstance(msgid, str) else msgid[0])
        forms: tuple[str, ...] = () if entry is None else tuple(
            entry.string if isinstance(entry.string, tuple | list) else (entry.string or "",))
        if entry is None or entry.fuzzy or not all(forms):
            found.append(f"untranslated ({where}): {msgid!r}")
            continue
        wanted = 1 if isinstance(msgid, str) else catalog.num_plurals
        if len(forms) != wanted:
            found.append(f"{len(forms)} plural forms of {wanted} ({where}): {msgid!r}")
        expected = set().union(*(placeholders(part) for part in
                                 ((msgid,) if isinstance(msgid, str) else msgid)))
        for form in forms:
            if placeholders(form) != expected:
                found.append(f"placeholders {sorted(placeholders(form))} instead of "
                             f"{sorted(expected)} ({where}): {form!r}")
    return found


def catalogue(code: str) -> Catalog:
    with i18n.catalogue_path(code).open("rb") as po:
        return read_po(po, locale=code)


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(code: str) -> None:
    """No msgid of the source is missing, empty, fuzzy, short of a plural form or differs in
    its placeholders in any supported language."""
    messages = source_messages()
    assert len(messages) > 200  # the extraction found texts.py's messages
    assert problems(catalogue(code), messages) == []


def test_the_check_catches_a_missing_a_fuzzy_and_a_wrong_placeholder() -> None:
    """The completeness check itself fails on each kind of gap, so it cannot pass vacuously."""
    broken = Catalog(locale="ru")
    broken.add("Hello {name}", "Привет {имя}")
    broken.add("Bye", "Пока", flags=["fuzzy"])
    broken.add(("{count} day", "{count} days"), ("{count} день", "{count} дня"))
    found = problems(broken, {"Hello {name}": "a", "Bye": "b", "Gone": "c",
                              ("{count} day", "{count} days"): "d"})
    assert [line.split(" (")[0].split(" [")[0] for line in found] == [
        "placeholders", "untranslated", "untranslated", "2 plural forms of 3"]


@pytest.mark.parametrize(("number", "expected"), [
    (1, "1 день"), (2, "2 дня"), (5, "5 дней"), (11, "11 дней"), (21, "21 день"),
    (22, "22 дня")])
def test_russian_days_take_the_right_plural_form(number: int, expected: str) -> None:
    """Russian has three plural forms: 1 and 21 день, 2 and 22 дня, 5 and 11 дней."""
    with i18n.use_language("ru"):
        assert texts.day_count(number) == expected
        assert texts.trial_button(days=number) == f"Бесплатно · {expected}"


def test_dates_and_money_are_written_the_way_each_language_writes_them() -> None:
    """English keeps 2026-01-02 03:04 UTC and $12.50; Russian names the month, and writes
    12,50 $."""
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert texts.when(moment) == "2026-01-02 03:04 UTC"
    assert texts.usd(Decimal("1234.5")) == "$1234.50"
    with i18n.use_language("ru"):
        assert texts.when(moment) == "2 января 2026, 03:04 UTC"
        assert texts.usd(Decimal("12.5")) == "12,50\xa0$"
        assert texts.duration(timedelta(days=21, hours=2, minutes=5)) == (
            "21 день 2 часа 5 минут")


def test_constants_resolve_in_the_language_of_the_moment() -> None:
    """`texts.NAME` and the mappings translate when read, not when the module was imported."""
    assert texts.PAY_BUTTON == "Pay with crypto"
    with i18n.use_language("ru"):
        assert texts.PAY_BUTTON == "Оплатить криптовалютой"
        assert texts.STATUS_NAMES["active"] == "активна"
        assert texts.TERMS.startswith("Добро пожаловать!")
    assert texts.STATUS_NAMES["active"] == "active"
    with pytest.raises(AttributeError):
        _ = texts.NO_SUCH_TEXT


@pytest.mark.parametrize(("chosen", "telegram", "expected"), [
    (None, "ru", "ru"), (None, "ru-RU", "ru"), (None, "uk", "en"), (None, None, "en"),
    ("en", "ru", "en"), ("ru", "en-US", "ru"), ("xx", "ru", "ru")])
def test_the_chosen_language_wins_over_telegrams(chosen: str | None, telegram: str | None,
                                                 expected: str) -> None:
    """/language's choice first, then the prefix of Telegram's language_code, then English."""
    assert i18n.resolve(chosen=chosen, telegram_code=telegram) == expected
