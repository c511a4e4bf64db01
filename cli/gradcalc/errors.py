"""Errors a user can cause, each carrying the source text and the span it is about.

Every one of them is exit code 2 on the command line and one clear message: what is wrong,
where (the source line with a caret under the culprit) and, when known, how to fix it.
"""
from __future__ import annotations

import re

Span = tuple[int, int]


class GradcalcError(Exception):
    """Base class: `kind` names the family in the JSON error object."""

    kind = "error"

    def __init__(self, message: str, source: str = "", span: Span | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.span = span
        self.hint = hint

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        """The message, the offending source line with a caret, and the hint; control
        characters (from a file's column names, say) shown escaped."""
        lines = [f"error: {escaped(self.message)}"]
        if self.span is not None and self.source:
            lines.extend(caret_lines(self.source, self.span))
        if self.hint:
            lines.append(f"hint: {escaped(self.hint)}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        error = {"kind": self.kind, "message": self.message,
                 "span": list(self.span) if self.span is not None else None}
        if self.hint:
            error["hint"] = self.hint
        return {"schema": 1, "error": error}


class ParseError(GradcalcError):
    kind = "syntax"


class UndefinedNameError(GradcalcError):
    """An unbound name, an unknown function, or a name used the wrong way."""

    kind = "name"
    unbound: tuple[str, ...] = ()  # the free names without a value, when that is the error


class ArityError(GradcalcError):
    kind = "arity"


class BindingError(GradcalcError):
    """A NAME=VALUE argument or a --bindings file that cannot be used."""

    kind = "binding"


class DomainError(GradcalcError):
    """A function evaluated outside its domain: log(-1), 1/0, sqrt(-2), (-8)^0.5."""

    kind = "domain"


class StrictError(GradcalcError):
    """A warning turned into an error by --strict."""

    kind = "strict"


class ShapeError(GradcalcError):
    """Vectors or matrices whose shapes do not fit the operation."""

    kind = "shape"


class LimitError(GradcalcError):
    """A resource limit reached: an exact number too large to hold, say."""

    kind = "limit"


class UsageError(GradcalcError):
    """A bad option value or an unreadable input file."""

    kind = "usage"


class OutOfMemory(GradcalcError):
    """The input needed more memory than the machine (or its limit) gives."""

    kind = "memory"


class Interrupted(GradcalcError):
    """Ctrl-C or SIGTERM: not the input's fault, said as gradcalc's own line."""

    kind = "interrupted"

    def format(self) -> str:
        return f"gradcalc: {escaped(self.message)}"


class InternalError(GradcalcError):
    """A bug in gradcalc, said in one line (exit code 70), never a traceback."""

    kind = "internal"

    def format(self) -> str:
        return f"gradcalc: {escaped(self.message)}"


def escaped(text: str) -> str:
    """`text` with every control character as its escape (`\\x1b`, `\\n`, `\\u202e`): a
    name read from a data file may hold a terminal's escape sequences (set the window
    title, clear the screen) or a line break, and a message stays one line of text."""
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


# C0 and C1 controls, DEL, and the marks that reorder displayed text (bidi overrides)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def caret_lines(source: str, span: Span) -> list[str]:
    """The source line holding span[0], and a caret line under the span (clipped to it)."""
    start, end = span
    start = max(0, min(start, len(source)))
    line_start = source.rfind("\n", 0, start) + 1
    line_end = source.find("\n", start)
    if line_end == -1:
        line_end = len(source)
    line_no = source.count("\n", 0, line_start) + 1
    # A long line is shown as a window around the culprit, not as megabytes of text.
    shown_start = max(line_start, start - CARET_WINDOW // 2)
    shown_end = min(line_end, shown_start + CARET_WINDOW)
    before = "…" if shown_start > line_start else ""
    after = "…" if shown_end < line_end else ""
    line = _printable(source[shown_start:shown_end])
    width = max(1, min(end, shown_end) - start)
    gutter = f"{line_no} | " if "\n" in source.rstrip("\n") else "  | "
    pad = " " * (len(gutter) - 2) + "| "
    # Tabs keep their width so the caret stays under the right character.
    lead = " " * len(before) + "".join(c if c == "\t" else " "
                                       for c in line[: start - shown_start])
    return [gutter + before + line + after, pad + lead + "^" * width]


CARET_WINDOW = 100  # characters of a long source line shown around an error


def _printable(text: str) -> str:
    """Control characters (a NUL, an escape sequence) shown as one visible mark each, so
    an error never writes terminal control codes and the caret stays aligned."""
    return "".join(c if c == "\t" or c.isprintable() else "\N{REPLACEMENT CHARACTER}"
                   for c in text)
