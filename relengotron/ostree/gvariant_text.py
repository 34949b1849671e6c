"""GVariant TEXT format (what ``g_variant_print`` writes): parse what ``ostree show --raw`` prints, write values.

The text half of releng-o-tron's GVariant support; the binary serialization (the bytes of ``.commitmeta``,
``summary`` and ``summary.sig`` files) is :mod:`relengotron.ostree.gvariant_binary`. The two share no code:
one reads characters, the other framing offsets.

``ostree commit --add-metadata=KEY=VALUE`` takes VALUE in GVariant text format and ``ostree show --raw`` prints
a commit the same way (``g_variant_print`` with type annotations). Python has no GVariant binding here, so
this module parses that text into plain Python values and writes the two value types releng-o-tron stores
(strings, string arrays and arrays of string tuples). Pure: no I/O.

Mapping: strings, object paths and signatures → ``str``; numbers → ``int``/``float``; booleans → ``bool``;
arrays → ``list`` (an array of bytes → ``bytes``); tuples → ``tuple``; dictionaries → ``dict``; variants are
unwrapped to their value; maybe values → the value or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_NUMBER = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|\d+(\.\d*)?([eE][-+]?\d+)?|inf|nan)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_KEYWORDS = frozenset(
    {"byte", "int16", "uint16", "int32", "uint32", "int64", "uint64", "handle", "double"}
    | {"string", "objectpath", "signature"}
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a", "0": "\0"}


class GVariantParseError(ValueError):
    """The text is not GVariant text format (or uses a part of it this parser does not read)."""


def parse(text: str) -> Any:
    """Parse one GVariant text value (as printed by ``g_variant_print``) into Python values."""
    parser = _Parser(text)
    value = parser.value()
    parser.skip_space()
    if parser.pos != len(text):
        raise parser.error("trailing text")
    return value


def encode_string(value: str) -> str:
    """``value`` as a GVariant text string literal (single-quoted, escaped)."""
    out = ["'"]
    for char in value:
        if char in "\\'":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append("'")
    return "".join(out)


def encode_strings(values: Sequence[str]) -> str:
    """A string array (GVariant type ``as``) in text format; the empty array carries its type."""
    if not values:
        return "@as []"
    return "[" + ", ".join(encode_string(v) for v in values) + "]"


def encode_string_tuples(values: Sequence[Sequence[str]], width: int) -> str:
    """An array of ``width``-string tuples (``a(sssss)`` for width 5) in text format; the empty one typed."""
    if any(len(v) != width for v in values):
        raise ValueError(f"every tuple must hold {width} strings")
    if not values:
        return f"@a({'s' * width}) []"
    return "[" + ", ".join("(" + ", ".join(encode_string(s) for s in v) + ")" for v in values) + "]"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> GVariantParseError:
        snippet = self.text[self.pos : self.pos + 30]
        return GVariantParseError(f"GVariant text: {what} at offset {self.pos} ({snippet!r})")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1

    def value(self) -> Any:
        char = self.peek()
        if not char:
            raise self.error("unexpected end")
        if char == "@":  # a type annotation: "@as []", "@a{sv} {}"
            self.pos += 1
            self._skip_type()
            return self.value()
        if char in "'\"":
            return self._string()
        if char == "b" and self.text[self.pos + 1 : self.pos + 2] in ("'", '"'):
            self.pos += 1
            return self._string().encode("latin-1", errors="replace")
        if char == "[":
            return self._array()
        if char == "(":
            return self._tuple()
        if char == "{":
            return self._dict()
        if char == "<":
            self.pos += 1
            inner = self.value()
            self.expect(">")
            return inner
        if char.isalpha():
            return self._word()
        return self._number()

    def _skip_type(self) -> None:
        depth = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "({":
                depth += 1
            elif char in ")}":
                depth -= 1
            elif char.isspace() and depth == 0:
                return
            self.pos += 1
        raise self.error("unterminated type annotation")

    def _word(self) -> Any:
        match = _WORD.match(self.text, self.pos)
        assert match is not None
        word = match.group(0)
        self.pos = match.end()
        if word == "true":
            return True
        if word == "false":
            return False
        if word == "nothing":
            return None
        if word == "just":
            return self.value()
        if word in ("inf", "nan"):
            return float(word)
        if word in _TYPE_KEYWORDS:
            return self.value()
        raise self.error(f"unknown word {word!r}")

    def _number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise self.error("expected a value")
        self.pos = match.end()
        token = match.group(0)
        if token.lstrip("+-").lower().startswith("0x"):
            return int(token, 16)
        if any(c in token for c in ".eEn") or token.lstrip("+-") == "inf":
            return float(token)
        return int(token)

    def _string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated string")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            esc = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
            elif esc in ("u", "U"):
                width = 4 if esc == "u" else 8
                digits = self.text[self.pos : self.pos + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise self.error("bad unicode escape")
                out.append(chr(int(digits, 16)))
                self.pos += width
            elif esc:
                out.append(esc)
            else:
                raise self.error("unterminated escape")

    def _items(self, close: str) -> list[Any]:
        items: list[Any] = []
        if self.peek() == close:
            self.pos += 1
            return items
        while True:
            items.append(self.value())
            char = self.peek()
            self.pos += 1
            if char == close:
                return items
            if char != ",":
                self.pos -= 1
                raise self.error(f"expected ',' or {close!r}")

    def _array(self) -> list[Any] | bytes:
        self.pos += 1
        start = self.pos
        items = self._items("]")
        if items and re.match(r"\s*byte\b", self.text[start:]):
            return bytes(items)
        return items

    def _tuple(self) -> tuple[Any, ...]:
        self.pos += 1
        items: list[Any] = []
        if self.peek() == ")":
            self.pos += 1
            return ()
        while True:
            items.append(self.value())
            char = self.peek()
            self.pos += 1
            if char == ")":
                return tuple(items)
            if char != ",":
                self.pos -= 1
                raise self.error("expected ',' or ')'")
            if self.peek() == ")":  # one-element tuple "(x,)"
                self.pos += 1
                return tuple(items)

    def _dict(self) -> dict[Any, Any]:
        self.pos += 1
        out: dict[Any, Any] = {}
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            key = self.value()
            self.expect(":")
            out[key] = self.value()
            char = self.peek()
            self.pos += 1
            if char == "}":
                return out
            if char != ",":
                self.pos -= 1
                raise self.error("expected ',' or '}'")
