"""The AST: small immutable nodes, each with its [start, end) span in the source text.

The parser builds these and nothing else; lowering turns them into graph nodes. They are
plain slotted classes (gradcalc.frozen) rather than dataclasses: `@dataclass(frozen=True,
slots=True)` compiles half a dozen methods per class when the module is imported, which
made this module alone cost most of a bare `python -c pass` at every start of the command.
"""
from __future__ import annotations

from .frozen import FrozenValue

Span = tuple[int, int]

_set = object.__setattr__


class _Node(FrozenValue):
    """Immutable; equal when of the same type with equal fields; hashable."""

    __slots__ = ()

    def with_span(self, span: Span):
        """The same node covering another stretch of text (`(x+y)` with its parentheses)."""
        return type(self)(*(span if name == "span" else getattr(self, name)
                            for name in self.__slots__))


class Number(_Node):
    __slots__ = ("text", "span")

    def __init__(self, text: str, span: Span):
        _set(self, "text", text)
        _set(self, "span", span)


class Name(_Node):
    __slots__ = ("id", "span")

    def __init__(self, id: str, span: Span):  # noqa: A002 - the field is called id
        _set(self, "id", id)
        _set(self, "span", span)


class Unary(_Node):
    __slots__ = ("op", "operand", "span")

    def __init__(self, op: str, operand: Expr, span: Span):
        _set(self, "op", op)  # "-" or "+"
        _set(self, "operand", operand)
        _set(self, "span", span)


class Binary(_Node):
    __slots__ = ("op", "left", "right", "span")

    def __init__(self, op: str, left: Expr, right: Expr, span: Span):
        _set(self, "op", op)  # "+", "-", "*", "/", "@", "^" ("**" is normalised to "^")
        _set(self, "left", left)
        _set(self, "right", right)
        _set(self, "span", span)


class Call(_Node):
    __slots__ = ("func", "args", "span", "func_span")

    def __init__(self, func: str, args: tuple[Expr, ...], span: Span, func_span: Span):
        _set(self, "func", func)
        _set(self, "args", args)
        _set(self, "span", span)
        _set(self, "func_span", func_span)


class Array(_Node):
    """A literal `[a, b, ...]`; nested literals make matrices."""

    __slots__ = ("items", "span")

    def __init__(self, items: tuple[Expr, ...], span: Span):
        _set(self, "items", items)
        _set(self, "span", span)


class Index(_Node):
    """`target[i]`, `M[i, j]`, `S[arange(N), y]`, `a[:, 0:H]`, `c[:, None]`: numpy's indexing.

    Each index is an expression (an integer, or an array of integers), a Slice, or the
    name None (a new axis)."""

    __slots__ = ("target", "indices", "span")

    def __init__(self, target: Expr, indices: tuple[Expr, ...], span: Span):
        _set(self, "target", target)
        _set(self, "indices", indices)
        _set(self, "span", span)


class Slice(_Node):
    """`start:stop:step` inside an index; a part left out is None, as in Python."""

    __slots__ = ("start", "stop", "step", "span")

    def __init__(self, start: Expr | None, stop: Expr | None, step: Expr | None, span: Span):
        _set(self, "start", start)
        _set(self, "stop", stop)
        _set(self, "step", step)
        _set(self, "span", span)


class Tuple(_Node):
    """`(N, -1)`: a shape or a set of axes, as numpy writes them."""

    __slots__ = ("items", "span")

    def __init__(self, items: tuple[Expr, ...], span: Span):
        _set(self, "items", items)
        _set(self, "span", span)


class Keyword(_Node):
    """`axis=1` among a call's arguments: a static attribute of the operation."""

    __slots__ = ("name", "value", "span", "name_span")

    def __init__(self, name: str, value: Expr, span: Span, name_span: Span):
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)
        _set(self, "name_span", name_span)


Expr = Number | Name | Unary | Binary | Call | Array | Index | Tuple


class Assign(_Node):
    """`name = value`: names the value's node, as `q = x + y` does in the lecture."""

    __slots__ = ("name", "value", "span", "name_span")

    def __init__(self, name: str, value: Expr, span: Span, name_span: Span):
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)
        _set(self, "name_span", name_span)


class GateDef(_Node):
    """`name(p1, p2) = body`: a user gate, drawn as one node unless expanded."""

    __slots__ = ("name", "params", "body", "span", "name_span")

    def __init__(self, name: str, params: tuple[Name, ...], body: Expr, span: Span,
                 name_span: Span):
        _set(self, "name", name)
        _set(self, "params", params)
        _set(self, "body", body)
        _set(self, "span", span)
        _set(self, "name_span", name_span)


Statement = Expr | Assign | GateDef


class Program(_Node):
    __slots__ = ("statements", "source")

    def __init__(self, statements: tuple[Statement, ...], source: str):
        _set(self, "statements", statements)
        _set(self, "source", source)
