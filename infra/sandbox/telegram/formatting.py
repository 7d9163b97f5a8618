"""Message text as Telegram stores it: parse_mode HTML into plain text + entities, UTF-16 lengths.

Only HTML is parsed (it is what the project's bot uses); Markdown and MarkdownV2 texts are kept as
sent. Offsets and lengths count UTF-16 code units, like the Bot API's MessageEntity.
"""

from __future__ import annotations

from html.parser import HTMLParser

_SIMPLE_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "code": "code", "pre": "pre",
    "blockquote": "blockquote",
}
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})


class EntityParseError(ValueError):
    """Markup Telegram would refuse with "can't parse entities: …"."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(markup: str) -> tuple[str, list[dict[str, object]]]:
    """Split Telegram HTML into its text and its entities."""
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    if parser.stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"'
        )
    entities = sorted(parser.entities, key=lambda e: (_int(e["offset"]), -_int(e["length"])))
    return "".join(parser.parts), entities


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.stack: list[tuple[str, dict[str, object] | None, int]] = []
        self.entities: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        entity: dict[str, object] | None
        if tag in _SIMPLE_TAGS:
            entity = {"type": _SIMPLE_TAGS[tag]}
            if tag == "blockquote" and "expandable" in attributes:
                entity["type"] = "expandable_blockquote"
            if tag == "code" and self.stack and self.stack[-1][0] == "pre":
                # <pre><code class="language-x"> is one pre entity with a language.
                language = (attributes.get("class") or "").removeprefix("language-")
                pre = self.stack[-1][1]
                if language and pre is not None:
                    pre["language"] = language
                entity = None
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "a":
            entity = {"type": "text_link", "url": attributes.get("href") or ""}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id") or ""}
        else:
            raise EntityParseError(f'Unsupported start tag "{tag}"')
        self.stack.append((tag, entity, self.length))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            expected = self.stack[-1][0] if self.stack else "nothing"
            raise EntityParseError(
                f'Unmatched end tag, expected "</{expected}>", found "</{tag}>"'
            )
        _, entity, start = self.stack.pop()
        if entity is not None and self.length > start:
            self.entities.append({**entity, "offset": start, "length": self.length - start})

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += utf16_len(data)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
