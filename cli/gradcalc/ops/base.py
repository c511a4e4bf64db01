"""The op table's entry type, and the one list every family of operations registers into.

Each family (gradcalc.ops.scalar, .reductions, .shapes, ...) is a module of entries, a few
lines each, as in micrograd's engine: `forward(xp, *args)` gives the value,
`local(xp, out, *args)` gives ∂out/∂arg for each argument (`out` is the forward value, so
exp and tanh reuse it), or, for array operations whose local gradient is a Jacobian,
`vjp(xp, g, out, *args)` gives ∂f/∂arg from g = ∂f/∂out directly. `xp` is a number system
(gradcalc.arith, gradcalc.arrays, gradcalc.exact). `domain` says where an op is undefined,
`kink` where it has no derivative and a convention answers instead, `structural` whether
its zero local gradients are structural (see below). The per-op gradient
tests, `gradcalc functions` and the docs all read this table.

Structural zeros. The chain rule multiplies, and IEEE says 0 · inf is nan. A zero that an
op *selects* rather than computes (the loser of max, relu's off side, the elements an index
does not pick) means that the edge passes nothing: then no upstream, however infinite,
flows through it, and a gradient that is 0 only because nothing reaches it passes 0 on,
whatever the local gradient below (max(sqrt(x), 1) at x = 0 has gradient 0). An op says so
with `structural=True`: every zero in its local gradients (or, for a vjp, the zeros of
vjp applied to an upstream of ones) is such a selection. Any other zero (an underflow, a
product with a value that happens to be 0) is a number, and 0 · inf through it is nan
with a warning (gradcalc.chain).

Keyword arguments (`sum(S, axis=1)`) are an op's static attributes: constants known when
the program is lowered. `Op.bind` gives the entry with them filled in, so the engine runs a
bound op exactly as any other and never special-cases an attribute.
"""
from __future__ import annotations

from collections.abc import Callable  # typing would cost `import gradcalc` ~3 ms
from functools import partial

from ..frozen import Frozen

TABLE: list = []
# The functions of an entry that receive its static attributes as keyword arguments.
_TAKE_ATTRIBUTES = ("forward", "local", "domain", "kink", "branch", "vjp", "shape")  # every Op, in the order the families register them


def register(*ops: Op) -> None:
    TABLE.extend(ops)


class Op(Frozen):
    """One entry of the table; immutable, and compared by identity (each entry is made
    once, in its family's module; `bind` makes a bound copy whose `base` is the entry)."""

    __slots__ = ("name", "symbol", "arity", "forward", "local", "rule", "domain", "kink",
                 "branch", "pattern", "min_arity", "vjp", "matrix_rule", "sample",
                 "functions", "keywords", "constant_args", "attrs", "base", "family", "sequence",
                 "written", "structural", "nonzero", "shape", "vjp_wanted")

    def __init__(self, name: str, symbol: str, arity: int | None, forward: Callable,
                 local: Callable | None, rule: str, domain: Callable | None = None,
                 kink: Callable | None = None, branch: Callable | None = None,
                 pattern: str = "", min_arity: int = 1, vjp: Callable | None = None,
                 matrix_rule: tuple[str, ...] = (), sample: Callable | None = None,
                 functions: tuple[str, ...] = (), keywords: dict | None = None,
                 constant_args: tuple[int, ...] = (), family: str = "", sequence: bool = False,
                 written: tuple[str, ...] = (), structural: bool = False,
                 nonzero: bool = False, shape: Callable | None = None,
                 vjp_wanted: bool = False):
        _set = object.__setattr__
        _set(self, "name", name)
        _set(self, "symbol", symbol)
        _set(self, "arity", arity)  # None: variadic, at least `min_arity` arguments
        _set(self, "forward", forward)
        _set(self, "local", local)
        _set(self, "rule", rule)
        # (xp, *args) -> (problem, culprit arg index) | None
        _set(self, "domain", domain)
        _set(self, "kink", kink)  # (xp, out, *args) -> warning | None
        # (xp, out, *args) -> a tuple that changes exactly where the op moves to another
        # smooth piece (a kink, a pole): `gradcalc check` compares it at x-h, x, x+h.
        _set(self, "branch", branch)
        # how the gate treats the upstream gradient, as the lecture says
        _set(self, "pattern", pattern)
        _set(self, "min_arity", min_arity)
        # Array ops whose local gradient is a Jacobian rather than a factor per element give
        # the chain rule directly: vjp(xp, g, out, *args) → ∂f/∂arg for each argument, where
        # g is ∂f/∂out (None for an argument that takes no gradient); `matrix_rule` writes
        # it per argument for --steps ("{g} · {b}ᵀ").
        _set(self, "vjp", vjp)
        # the vjp takes `wanted=` (per argument, whether its gradient is needed) and leaves
        # the others undone (None): each of matmul's is a matrix product of its own, and
        # the data's (∂f/∂X of X@W) is often one nobody asked for
        _set(self, "vjp_wanted", vjp_wanted)
        _set(self, "matrix_rule", matrix_rule)
        _set(self, "sample", sample)  # rng → example arguments, for the generated tests
        _set(self, "functions", functions)  # the names that call it: log(a), ln(a)
        # static attributes, each with its default: {"axis": None, "keepdims": False}
        _set(self, "keywords", dict(keywords or {}))
        # arguments that take no gradient at all (an index, a label, a shape): an input
        # used only there has no ∂f/∂input (shown as —, JSON null)
        _set(self, "constant_args", constant_args)
        _set(self, "attrs", ())  # the bound attributes, as (name, value) pairs
        _set(self, "base", self)  # the table entry this op is (a bound copy's entry)
        # shape(*argument shapes) → the output's shape, from the shapes alone, so that the
        # element limit (--max-elements) is checked before anything is allocated; None for
        # an elementwise op (the arguments' broadcast shape). An array op (one with a vjp)
        # without it is not counted. Static attributes arrive as keywords, as elsewhere.
        _set(self, "shape", shape)
        if keywords:  # the entry itself runs with the defaults
            for name in _TAKE_ATTRIBUTES:
                if (function := getattr(self, name)) is not None:
                    _set(self, name, partial(function, **keywords))
        _set(self, "family", family)  # "comparison" for the operators < <= > >= == !=
        # takes a list of arrays as its first argument, concatenate([a, b], axis=1): the
        # list's items are the op's leading arguments
        _set(self, "sequence", sequence)
        # how a call is written, where the arity alone cannot say: reshape(a, shape)
        _set(self, "written", written)
        # its zero local gradients are selections, not values: the edge passes nothing
        _set(self, "structural", structural)
        # never exactly 0 for finite arguments that are not 0 (exp, σ, a product): a 0 it
        # gives is an underflow, which an error about a domain says (log(exp(-800)))
        _set(self, "nonzero", nonzero)

    def __repr__(self):
        attrs = "".join(f", {k}={v!r}" for k, v in self.attrs)
        return f"Op({self.name!r}{attrs})"

    def replace(self, **fields) -> Op:
        """A copy with some fields changed (a broken rule in a test, a bound copy)."""
        copy = object.__new__(Op)
        for name in Op.__slots__:
            object.__setattr__(copy, name, fields.get(name, getattr(self, name)))
        return copy

    def bind(self, **attrs) -> Op:
        """This entry with static attributes filled in (`axis=1`): every function of the
        entry receives them as keyword arguments. Attributes left out keep their default."""
        if not attrs:
            return self
        values = {**self.keywords, **attrs}
        functions = {name: partial(function, **values) for name in _TAKE_ATTRIBUTES
                     if (function := getattr(self, name)) is not None}
        return self.replace(attrs=tuple(values.items()), **functions)

    @property
    def attributes(self) -> dict:
        """The static attributes in force: the bound ones, else the defaults."""
        return dict(self.attrs) if self.attrs else dict(self.keywords)


def shape_text(a) -> str:
    """A shape as the table writes it: `2×3`, or `scalar`."""
    shape = getattr(a, "shape", ())
    return "×".join(map(str, shape)) if shape else "scalar"
