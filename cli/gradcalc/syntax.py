"""The AST: small frozen nodes, each with its [start, end) span in the source text.

The parser builds these and nothing else; lowering turns them into graph nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Number:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "+"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "+", "-", "*", "/", "@", "^" ("**" is normalised to "^")
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span
    func_span: Span


@dataclass(frozen=True, slots=True)
class Array:
    """A literal `[a, b, ...]`; nested literals make matrices."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """`target[i]` or `target[i, j]`: the indices are constant integers, 0-based."""

    target: Expr
    indices: tuple[Expr, ...]
    span: Span


Expr = Number | Name | Unary | Binary | Call | Array | Index


@dataclass(frozen=True, slots=True)
class Assign:
    """`name = value`: names the value's node, as `q = x + y` does in the lecture."""

    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class GateDef:
    """`name(p1, p2) = body`: a user gate, drawn as one node unless expanded."""

    name: str
    params: tuple[Name, ...]
    body: Expr
    span: Span
    name_span: Span


Statement = Expr | Assign | GateDef


@dataclass(frozen=True, slots=True)
class Program:
    statements: tuple[Statement, ...]
    source: str
