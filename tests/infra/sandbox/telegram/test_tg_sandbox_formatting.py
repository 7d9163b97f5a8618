"""HTML parse mode of the Telegram stand-in (infra/sandbox/telegram/formatting.py)."""

from __future__ import annotations

import pytest

from infra.sandbox.telegram.formatting import EntityParseError, parse_html, utf16_len


def test_html_becomes_text_and_entities() -> None:
    """Tags turn into entities over the plain text, character references are decoded."""
    text, entities = parse_html('<b>Paid</b> &amp; <a href="https://t.me/+abc">join</a>')
    assert text == "Paid & join"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "text_link", "url": "https://t.me/+abc", "offset": 7, "length": 4},
    ]


def test_offsets_count_utf16_code_units() -> None:
    """An emoji outside the BMP counts as two units, like the Bot API's MessageEntity."""
    text, entities = parse_html("🎉 <i>ok</i>")
    assert utf16_len("🎉") == 2
    assert entities == [{"type": "italic", "offset": 3, "length": 2}]
    assert text == "🎉 ok"


def test_nested_tags_and_pre_language() -> None:
    """Nested entities are all kept; <pre><code class="language-x"> is one pre with a language."""
    _, entities = parse_html('<b>a<i>b</i></b><pre><code class="language-py">x</code></pre>')
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "italic", "offset": 1, "length": 1},
        {"type": "pre", "language": "py", "offset": 2, "length": 1},
    ]


@pytest.mark.parametrize("markup", ["<b>open", "<b>x</i>", "<div>x</div>", "a<br>b"])
def test_bad_markup_is_refused(markup: str) -> None:
    """Unclosed, mismatched or unsupported tags are errors, as on Telegram."""
    with pytest.raises(EntityParseError):
        parse_html(markup)
