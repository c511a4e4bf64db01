"""The op table: every operation's forward value and local gradients, in one place.

The entries live in one module per family, each registering into the one table
(gradcalc.ops.base.TABLE): `scalar` (arithmetic and elementwise functions), `reductions`
(sum, mean, norm, max/min of one array), `shapes` (the matrix product, transpose,
indexing, list literals), `nn` (conv2d and max_pool2d). This module gathers them and
says how the language reaches them: operators, function names, the constants.
"""
from __future__ import annotations

# each module registers its entries
from . import constants, masks, nn, reductions, scalar, shapes, softmax  # noqa: F401
from .base import TABLE, Op

OPS: list[Op] = TABLE
BY_NAME = {op.name: op for op in OPS}

# How the language reaches the table: operators, and the built-in function names.
BINARY = {"+": BY_NAME["add"], "-": BY_NAME["sub"], "*": BY_NAME["mul"],
          "/": BY_NAME["div"], "^": BY_NAME["pow"], "@": BY_NAME["matmul"],
          **{op.symbol: op for op in OPS if op.family == "comparison"}}
NEGATE = BY_NAME["neg"]
FUNCTIONS = {name: op for op in OPS for name in op.functions}
# max(v) and min(v) of one argument reduce over it; of several they are elementwise.
REDUCERS = {"max": BY_NAME["max_of"], "min": BY_NAME["min_of"]}
INDEX, ARRAY = BY_NAME["index"], BY_NAME["array"]
# Ops that only make sense on arrays: an expression using one is computed with numpy.
ARRAY_OPS = {op for op in OPS if op.vjp is not None}

# π as pasted from slides is pi.
CONSTANTS = {"pi": "3.141592653589793", "π": "3.141592653589793", "e": "2.718281828459045"}


def takes_sequence(name: str) -> bool:
    """Whether the function `name` takes a list of arrays first (concatenate([a, b]))."""
    op = FUNCTIONS.get(name)
    return op is not None and op.sequence


def spellings(op: Op) -> list[str]:
    """How the language writes an op: `a + b`, `-a`, `log(a)` / `ln(a)`, `max(a, b, ...)`."""
    written = [f"a {symbol} b" for symbol, entry in BINARY.items() if entry is op]
    if op.family == "comparison":
        written = [f"a {op.symbol} b"]
    if op is NEGATE:
        written.append("-a")
    params = "a, b, ..." if op.arity is None else ", ".join("abcdefgh"[:op.arity])
    if op.sequence:
        params = "[a, b, ...]"
    keywords = "".join(f", {key}={value!r}" for key, value in op.keywords.items())
    written += list(op.written) or [f"{name}({params}{keywords})" for name in op.functions]
    written += [f"{name}(v{keywords})" for name, entry in REDUCERS.items() if entry is op]
    if op is INDEX:
        written += ["v[i]", "M[i, j]"]
    if op is ARRAY:
        written += ["[a, b, ...]", "[[a, b], [c, d]]"]
    return written
