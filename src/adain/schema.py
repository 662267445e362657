"""Checking what adain reads from files it did not write itself: JSON of bounded size and depth,
a small schema (types, sizes, ranges), and values echoed into messages kept short.

Style files' metadata, ONNX export manifests and the records inside pictures are parsed with
:func:`load_json` and checked with a schema made of :class:`Str`, :class:`Int`, :class:`Number`,
:class:`Bool`, :class:`ListOf` and :class:`Record`, so a hostile file gets a one-line
:class:`SchemaError` naming it, the place and what was expected, never a traceback.

Example:
    >>> MANIFEST = Record({"version": Int(0, 99)})
    >>> MANIFEST.check(load_json('{"version": 1}', "m.json"), "m.json")
    {'version': 1}
"""

from __future__ import annotations

import json
import math
from typing import Any

from adain.errors import InputError

ECHO = 60
"""At most this many characters of a value read from a file are echoed into a message."""
MAX_DEPTH = 32
"""Nesting of JSON arrays and objects adain reads (its own files nest 4 deep)."""


class SchemaError(InputError):
    """A file whose contents do not have the expected shape (the message names the file and the place)."""


def shorten(text: str, limit: int = ECHO) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def short_number(value: int) -> str:
    """An integer as a message may show it: its digits, or how many there are."""
    digits = value.bit_length() * 0.30103
    return shorten(str(value), 40) if digits < 1000 else f"a number of about {round(digits)} digits"


def short(value: object) -> str:
    """A value read from a file, as a message shows it: its JSON (or repr), at most :data:`ECHO` characters."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return short_number(value)
    if isinstance(value, str):
        return json.dumps(shorten(value), ensure_ascii=False)
    if isinstance(value, (list, dict)):
        return f"a list of {len(value)}" if isinstance(value, list) else f"an object of {len(value)} keys"
    return shorten(repr(value))


def json_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in JSON ``text`` (strings skipped); stops counting past ``limit``."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json(data: str | bytes, label: str, *, max_bytes: int = 1 << 20, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON of at most ``max_bytes`` nesting at most ``max_depth`` deep.

    Raises:
        SchemaError: too large, too deep, not UTF-8 or not JSON (``label`` names the file).
    """
    if len(data) > max_bytes:
        raise SchemaError(f"{label}: {len(data)} bytes of JSON is over the limit of {max_bytes}")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise SchemaError(f"{label}: not UTF-8 text") from None
    if json_depth(text, max_depth) > max_depth:
        raise SchemaError(f"{label}: JSON nested more than {max_depth} deep")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise SchemaError(f"{label}: not valid JSON ({shorten(str(exc))})") from None


class Spec:
    """One part of a schema: :meth:`check` returns the value, or raises :class:`SchemaError`."""

    expected = "a value"

    def check(self, value: Any, where: str) -> Any:
        if not self.accepts(value):
            raise SchemaError(f"{where} must be {self.expected}, got {short(value)}")
        return value

    def accepts(self, value: Any) -> bool:
        return True


class Str(Spec):
    """A string of at most ``max_len`` characters (``choices``: one of them)."""

    def __init__(self, max_len: int = 1000, choices: tuple[str, ...] | None = None) -> None:
        self.max_len, self.choices = max_len, choices
        self.expected = f"one of {', '.join(map(repr, choices))}" if choices else f"a string of at most {max_len} characters"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and len(value) <= self.max_len and (self.choices is None or value in self.choices)


class Int(Spec):
    """A whole number (not a bool) in ``lo..hi``."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.expected = f"a whole number in {lo}..{hi}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi


class Number(Spec):
    """A finite number (not a bool) in ``lo..hi``."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.expected = f"a number in {lo:g}..{hi:g}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and self.lo <= value <= self.hi


class Bool(Spec):
    expected = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class ListOf(Spec):
    """A list of at most ``max_items`` items, each checked by ``item``."""

    def __init__(self, item: Spec, max_items: int) -> None:
        self.item, self.max_items = item, max_items
        self.expected = f"a list of at most {max_items} items"

    def check(self, value: Any, where: str) -> Any:
        super().check(value, where)
        return [self.item.check(v, f"{where}[{i}]") for i, v in enumerate(value)]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) and len(value) <= self.max_items


class Record(Spec):
    """An object with the keys of ``fields`` (those in ``optional`` may be missing), each checked by its spec;
    other keys are kept unchecked (later versions may add some), at most ``max_keys`` in all."""

    expected = "an object"

    def __init__(self, fields: dict[str, Spec], optional: tuple[str, ...] = (), max_keys: int = 100) -> None:
        self.fields, self.optional, self.max_keys = fields, optional, max_keys

    def check(self, value: Any, where: str) -> Any:
        super().check(value, where)
        if len(value) > self.max_keys:
            raise SchemaError(f"{where} has {len(value)} keys, more than {self.max_keys}")
        for key, spec in self.fields.items():
            if key in value:
                spec.check(value[key], f"{where}: {key}" if ":" not in where else f"{where}.{key}")
            elif key not in self.optional:
                raise SchemaError(f"{where}: no {key!r}")
        return value

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)
