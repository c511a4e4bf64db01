"""JSON from outside (--bindings, --answers, batch's JSON Lines), read strictly and boundedly.

Python's `json.loads` recurses once per level of nesting (2,000 levels end in a
RecursionError), turns a 5,000-digit integer into a ValueError, takes `NaN` and
`Infinity` although RFC 8259 does not, and lets an escaped lone surrogate (`"\\ud800"`)
through, which later fails to print as UTF-8. `loads` refuses each of them with a
JsonProblem that says what and where, before any of them can reach the rest of gradcalc.
"""
from __future__ import annotations

import json
import re

# Deeper than any value gradcalc takes (a matrix is 2 levels, a value at most 32
# dimensions), and far inside the interpreter's recursion limit.
MAX_DEPTH = 64
# Digits of a JSON integer: the exact-number limit's default (--max-digits); a longer
# one cannot be a number gradcalc computes with, and Python refuses past 4,300.
MAX_INTEGER_DIGITS = 4_000


class JsonProblem(ValueError):
    """Text that is not JSON gradcalc takes: `message` says why, `line` and `column`
    (1-based) where, when that is known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def where(self) -> str:
        """` at line L, column C`, or nothing when the place is not known."""
        return "" if self.line is None else f" at line {self.line}, column {self.column}"


def loads(text: str, parse_float=None):
    """The JSON value of `text` (RFC 8259, strictly), or JsonProblem. `parse_float` as
    json.loads's (decimal.Decimal keeps the digits as written)."""
    _check_depth(text)
    # Only a text longer than the digits allowed can hold too long an integer: a short
    # one (a JSON Lines row) keeps the parser's own integers, several times faster.
    long = len(text) > MAX_INTEGER_DIGITS
    decoder = _CHECKING_INTEGERS if long else _DECODER
    if parse_float is not None:
        decoder = json.JSONDecoder(parse_constant=_constant, parse_float=parse_float,
                                   parse_int=_integer if long else None)
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"it is not valid JSON ({exc.msg})", exc.lineno, exc.colno) from None
    if _SURROGATE_ESCAPE.search(text):
        _check_text(value)
    return value


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise JsonProblem(f"it has an integer of {len(digits.lstrip('-')):,} digits, more than "
                          f"the {MAX_INTEGER_DIGITS:,} a number may have")
    return int(digits)


def _constant(name: str):
    raise JsonProblem(f"it has {name}, which is not JSON (RFC 8259 has no {name}); "
                      "write a number, or null for a missing value")


_DECODER = json.JSONDecoder(parse_constant=_constant)
_CHECKING_INTEGERS = json.JSONDecoder(parse_constant=_constant, parse_int=_integer)

# A string or a bracket; a string is matched whole so that brackets inside it are skipped.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _check_depth(text: str) -> None:
    """Refuse nesting past MAX_DEPTH before the recursive parser meets it; a text with
    fewer brackets than that in all is not even scanned."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                raise JsonProblem(f"it nests more than {MAX_DEPTH} levels deep", line, column)
        elif token in "]}":
            depth -= 1


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value) -> None:
    """Refuse a string or key holding a lone surrogate (an escaped half of a pair: a
    whole pair decodes to one character), which is not Unicode text."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and _LONE_SURROGATE.search(item):
            code = ord(_LONE_SURROGATE.search(item).group())
            raise JsonProblem(f"it has a string holding \\u{code:04x}, half of a surrogate "
                              "pair without its other half, which is not text")
