"""The ``text.*`` formatter operations: case, trimming, cutting and joining, padding, URL and
base64 coding, slugs."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import urllib.parse
from collections.abc import Callable
from typing import Any

from solder.engine.formatters.registry import _STRING, Inputs, _decimal, _operation, _p
from solder.errors import FatalError

_TEXT = _p(["string", "number"], "The text (a number is written as text).")


def _text(value: str | float) -> str:
    if isinstance(value, str):
        return value
    number = _decimal(value, "value")
    return str(int(number)) if number == number.to_integral_value() else format(number, "f")


def _text_operation(name: str, description: str, fn: Callable[[str], str]) -> None:
    _operation(name, description, _STRING, value=_TEXT)(lambda i: fn(_text(i["value"])))


def _capitalize(value: str) -> str:
    def word(match: re.Match[str]) -> str:
        return match[0][:1].title() + match[0][1:].lower()

    return re.sub(r"\S+", word, value)


_text_operation("text.upper", "Upper-case every letter (ß becomes SS).", str.upper)
_text_operation("text.lower", "Lower-case every letter.", str.lower)
_text_operation(
    "text.capitalize", "Title Case: each word's first letter up, the rest down.", _capitalize
)
_text_operation(
    "text.urlEncode",
    "Percent-encode for a URL path segment or query value (a space becomes %20).",
    lambda value: urllib.parse.quote(value, safe="", errors="surrogatepass"),
)


@_operation(
    "text.trim",
    "Remove whitespace (or the given characters) from both ends.",
    _STRING,
    value=_TEXT,
    characters=_p("string", "Characters to remove instead of whitespace."),
)
def _trim(inputs: Inputs) -> str:
    return _text(inputs["value"]).strip(inputs.get("characters"))


@_operation(
    "text.replace",
    "Replace literal text (not a pattern).",
    _STRING,
    ("value", "find"),
    value=_TEXT,
    find=_p("string", "Text to look for.", minLength=1),
    replace=_p("string", "Text to put in its place.", default=""),
    all=_p("boolean", "Replace every occurrence, not only the first.", default=True),
)
def _replace(inputs: Inputs) -> str:
    count = -1 if inputs["all"] else 1
    return _text(inputs["value"]).replace(inputs["find"], inputs["replace"], count)


@_operation(
    "text.split",
    "Cut text into a list at each separator; empty text gives an empty list.",
    {"type": "array", "items": _STRING},
    value=_TEXT,
    separator=_p("string", "Where to cut; empty cuts between characters.", default=","),
    trim=_p("boolean", "Remove whitespace around each item.", default=False),
)
def _split(inputs: Inputs) -> list[str]:
    value, separator = _text(inputs["value"]), inputs["separator"]
    if not value:
        return []
    parts = value.split(separator) if separator else list(value)
    return [part.strip() for part in parts] if inputs["trim"] else parts


@_operation(
    "text.join",
    "Join a list into text; null items become empty text.",
    _STRING,
    value=_p("array", "Items.", items={"type": ["string", "number", "boolean", "null"]}),
    separator=_p("string", "Put between items.", default=","),
)
def _join(inputs: Inputs) -> str:
    def item(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return _text(value)

    return str(inputs["separator"]).join(item(value) for value in inputs["value"])


@_operation(
    "text.truncate",
    "Shorten text to at most `length` characters, the ellipsis included.",
    _STRING,
    ("value", "length"),
    value=_TEXT,
    length=_p("integer", "Maximum length in characters.", minimum=0),
    ellipsis=_p("string", "Ends shortened text.", default="..."),
)
def _truncate(inputs: Inputs) -> str:
    value, length, ellipsis = _text(inputs["value"]), int(inputs["length"]), inputs["ellipsis"]
    if len(value) <= length:
        return value
    keep = length - len(ellipsis)
    return value[:length] if keep < 0 else value[:keep] + ellipsis


@_operation(
    "text.substring",
    "Characters from `start` up to (not including) `end`; negative counts from the end.",
    _STRING,
    value=_TEXT,
    start=_p("integer", "First character, from 0.", default=0),
    end=_p("integer", "Stop before this character; absent means the end."),
)
def _substring(inputs: Inputs) -> str:
    end = inputs.get("end")
    return _text(inputs["value"])[int(inputs["start"]) : None if end is None else int(end)]


@_operation(
    "text.pad",
    "Lengthen text to `length` characters with a fill character (42 -> 00042).",
    _STRING,
    ("value", "length"),
    value=_TEXT,
    length=_p("integer", "Length to reach.", minimum=0, maximum=10_000),
    character=_p("string", "Fill character.", minLength=1, maxLength=1, default=" "),
    side=_p("string", "Where to add it.", enum=["start", "end"], default="start"),
)
def _pad(inputs: Inputs) -> str:
    value, length, char = _text(inputs["value"]), int(inputs["length"]), inputs["character"]
    return value.rjust(length, char) if inputs["side"] == "start" else value.ljust(length, char)


@_operation(
    "text.urlDecode",
    "Decode percent-escapes.",
    _STRING,
    value=_TEXT,
    plusAsSpace=_p("boolean", "Read + as a space (HTML form data).", default=False),
)
def _url_decode(inputs: Inputs) -> str:
    value = _text(inputs["value"])
    if inputs["plusAsSpace"]:
        value = value.replace("+", " ")
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise FatalError("percent-escapes do not decode to UTF-8 text", field="value") from None


@_operation(
    "text.base64Encode",
    "Base64 of the text's UTF-8 bytes (e.g. for a Basic auth header).",
    _STRING,
    value=_TEXT,
    urlSafe=_p("boolean", "Use - and _ instead of + and /.", default=False),
)
def _base64_encode(inputs: Inputs) -> str:
    data = _text(inputs["value"]).encode("utf-8", "surrogatepass")
    encoded = base64.urlsafe_b64encode(data) if inputs["urlSafe"] else base64.b64encode(data)
    return encoded.decode("ascii")


@_operation(
    "text.base64Decode",
    "Decode base64 (either alphabet, padding optional) to UTF-8 text.",
    _STRING,
    value=_TEXT,
)
def _base64_decode(inputs: Inputs) -> str:
    data = re.sub(r"\s+", "", _text(inputs["value"])).translate(str.maketrans("-_", "+/"))
    data += "=" * (-len(data) % 4)  # senders often drop the padding
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FatalError("is not base64 text", field="value") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FatalError("decodes to bytes that are not UTF-8 text", field="value") from None


@_operation(
    "text.slugify",
    "Lower-case ASCII words joined by a separator, for URLs and keys (accents dropped).",
    _STRING,
    value=_TEXT,
    separator=_p("string", "Between words.", maxLength=3, default="-"),
)
def _slugify(inputs: Inputs) -> str:
    plain = unicodedata.normalize("NFKD", _text(inputs["value"])).encode("ascii", "ignore")
    separator = inputs["separator"]
    return re.sub(r"[^a-z0-9]+", separator, plain.decode().lower()).strip(separator)
