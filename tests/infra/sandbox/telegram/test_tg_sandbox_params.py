"""Parameter coercion of the Telegram stand-in (infra/sandbox/telegram/params.py)."""

from __future__ import annotations

import pytest

from infra.sandbox.telegram.errors import BotApiError
from infra.sandbox.telegram.params import Params, UploadedFile


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), ("12abc", 12), ("abc", 1), ("-7", 1), ("1000", 100), ("", 100), (55, 55)],
)
def test_integers_are_parsed_from_leading_digits_and_clamped(raw: object, expected: int) -> None:
    """Integers are read like Client.cpp: leading digits, clamped to the range, default if empty."""
    assert Params({"limit": raw}).integer("limit", default=100, minimum=1, maximum=100) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("yes", True), ("1", True), (True, True),
     ("false", False), ("no", False), ("2", False), ("", False), (False, False)],
)
def test_booleans_follow_to_bool(raw: object, expected: bool) -> None:
    """Only true/yes/1 (any case) are true; every other value is false rather than an error."""
    assert Params({"flag": raw}).boolean("flag") is expected


def test_ids_are_parsed_strictly() -> None:
    """Chat and user ids must be whole integers; anything else reads as "no id"."""
    params = Params({"a": "-1001", "b": "12x", "c": "@channel", "d": 5})
    assert [params.int64(n) for n in "abcd"] == [-1001, None, None, 5]


def test_json_parameters_accept_strings_and_native_objects() -> None:
    """reply_markup may come JSON-encoded (forms) or as an object (JSON bodies)."""
    markup: dict[str, object] = {"inline_keyboard": []}
    assert Params({"m": '{"inline_keyboard": []}'}).json_value("m", what="x") == markup
    assert Params({"m": markup}).json_value("m", what="x") == markup
    assert Params({}).json_value("m", what="x") is None


def test_malformed_json_is_a_bad_request() -> None:
    """A broken JSON parameter is refused with the official "can't parse … JSON object"."""
    with pytest.raises(BotApiError) as caught:
        Params({"reply_markup": "{oops"}).json_value("reply_markup", what="reply keyboard markup")
    assert caught.value.status == 400
    assert caught.value.description == (
        "Bad Request: can't parse reply keyboard markup JSON object"
    )


def test_attach_references_resolve_to_uploaded_parts() -> None:
    """`attach://<part>` names the multipart part carrying the file, as aiogram sends it."""
    upload = UploadedFile(part_name="k1", filename="a.csv", content_type=None, data=b"x")
    params = Params({"document": "attach://k1", "other": "file-id"}, {"k1": upload})
    assert params.input_file("document") is upload
    assert params.input_file("other") == "file-id"
    assert params.for_log()["k1"] == {"filename": "a.csv", "content_type": None, "size": 1}
    with pytest.raises(BotApiError):
        Params({"document": "attach://missing"}).input_file("document")
