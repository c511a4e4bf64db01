"""Dual numbers: forward-mode derivatives, and, run through the backward pass, Hessians.

A dual number a + a'·ε (ε² = 0) carries a value and its derivative along one direction
(the tangent). DualArith gives the op table's rules (gradcalc.ops) the names they call
(`xp.exp`, `xp.where`, `xp.power`, ...) over dual numbers, so the same rules compute:

- forward mode: the forward pass in dual numbers gives every node's derivative along
  the tangent (`eval --tangent x`);
- forward over reverse: the backward pass in dual numbers gives, per input, ∂f/∂x_i
  (the value parts) and (H·v)_i = Σ_j ∂²f/∂x_i∂x_j · v_j (the tangent parts), as in
  JAX's `jvp(grad(f))` (`gradcalc hessian`).

Comparisons look at values only: a rule's branch (relu's a > 0, max's winner) is chosen
by the value, as in every other number system. A tangent of exactly 0 stays 0 through any
slope, even an infinite one (sqrt at 0 along another input's direction), as the backward
pass treats an upstream gradient of 0.
"""
from __future__ import annotations

import math

from .arith import SMALLEST_NORMAL, FloatArith


def _scale(tangent, slope):
    """tangent × slope, 0 when the tangent is 0 (0 × inf would be nan)."""
    return 0.0 if tangent == 0 else tangent * slope


def value_of(a):
    return a.value if isinstance(a, Dual) else a


def tangent_of(a):
    """The derivative part: 0 for a plain number (a constant)."""
    return a.tangent if isinstance(a, Dual) else 0.0


class Dual:
    """value + tangent·ε. Plain numbers mix in as constants (tangent 0)."""

    __slots__ = ("value", "tangent")

    def __init__(self, value, tangent=0.0):
        self.value = value
        self.tangent = tangent

    def __repr__(self):
        return f"Dual({self.value!r}, {self.tangent!r})"

    def __add__(self, other):
        return Dual(self.value + value_of(other), self.tangent + tangent_of(other))

    __radd__ = __add__

    def __sub__(self, other):
        return Dual(self.value - value_of(other), self.tangent - tangent_of(other))

    def __rsub__(self, other):
        return Dual(value_of(other) - self.value, tangent_of(other) - self.tangent)

    def __neg__(self):
        return Dual(-self.value, -self.tangent)

    def __mul__(self, other):
        b = value_of(other)
        return Dual(self.value * b, _scale(self.tangent, b) + _scale(tangent_of(other), self.value))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _divide(self, other)

    def __rtruediv__(self, other):
        return _divide(other, self)

    def __abs__(self):
        # sign(0) = 0: abs at its kink takes slope 0, the gradient's convention.
        return Dual(abs(self.value), _scale(self.tangent, FloatArith.sign(self.value)))

    def __bool__(self):
        """Whether anything flows: the backward pass skips an upstream of exactly 0."""
        return bool(self.value) or bool(self.tangent)

    # Branches are chosen by value.
    def __eq__(self, other):
        return self.value == value_of(other)

    def __ne__(self, other):
        return self.value != value_of(other)

    def __lt__(self, other):
        return self.value < value_of(other)

    def __le__(self, other):
        return self.value <= value_of(other)

    def __gt__(self, other):
        return self.value > value_of(other)

    def __ge__(self, other):
        return self.value >= value_of(other)

    __hash__ = None


def _divide(a, b):
    quotient = FloatArith.divide(value_of(a), value_of(b))
    slope_b = FloatArith.divide(quotient, value_of(b))
    return Dual(quotient, _scale(tangent_of(a), FloatArith.divide(1.0, value_of(b)))
                - _scale(tangent_of(b), slope_b))


def _lift(function, derivative):
    """A function of one number over duals: f(a) + f'(a)·a'·ε."""
    def lifted(a):
        if not isinstance(a, Dual):
            return function(a)
        value = function(a.value)
        if a.tangent == 0:
            return Dual(value, 0.0)
        return Dual(value, a.tangent * derivative(a.value, value))
    return staticmethod(lifted)


class DualArith(FloatArith):
    """The op table's namespace over dual numbers (values are floats).

    `ties` is the max/min tie policy of the gradient (gradcalc.arith.FloatArith); at a tie
    the forward tangent follows it too: the mean of the tied arguments' tangents under
    "split", the first one's under "first".
    """

    name = "dual"

    @staticmethod
    def show(value) -> str:
        return FloatArith.show(value_of(value))

    @staticmethod
    def isfinite(a) -> bool:
        return math.isfinite(value_of(a))

    @staticmethod
    def is_integer(a) -> bool:
        return float(value_of(a)).is_integer()

    @staticmethod
    def sign(a):
        return FloatArith.sign(value_of(a))

    exp = _lift(FloatArith.exp, lambda a, out: out)
    log = _lift(FloatArith.log, lambda a, out: FloatArith.divide(1.0, a))
    log10 = _lift(math.log10, lambda a, out: 1 / (a * math.log(10)))
    log2 = _lift(math.log2, lambda a, out: 1 / (a * math.log(2)))
    sqrt = _lift(FloatArith.sqrt, lambda a, out: FloatArith.divide(1.0, 2 * out))
    sin = _lift(FloatArith.sin, lambda a, out: FloatArith.cos(a))
    cos = _lift(FloatArith.cos, lambda a, out: -FloatArith.sin(a))
    tan = _lift(FloatArith.tan, lambda a, out: 1 + out * out)
    tanh = _lift(math.tanh, lambda a, out: FloatArith.tanh_slope(out, a))
    sigmoid = _lift(FloatArith.sigmoid, lambda a, out: FloatArith.sigmoid_slope(out, a))
    softplus = _lift(FloatArith.softplus, lambda a, out: FloatArith.sigmoid(a))

    # The slopes the op table's rules call, as duals: each slope's own derivative along a.
    @staticmethod
    def sigmoid_slope(out, a):
        """σ'(a), and σ''(a) = σ'(a)·(1 − 2σ(a)) = −σ'(a)·tanh(a/2) (no cancellation)."""
        slope = FloatArith.sigmoid_slope(value_of(out), value_of(a))
        return Dual(slope, _scale(tangent_of(a), -slope * math.tanh(value_of(a) / 2)))

    @staticmethod
    def tanh_slope(out, a):
        """tanh'(a), and tanh''(a) = −2·tanh(a)·tanh'(a)."""
        slope = FloatArith.tanh_slope(value_of(out), value_of(a))
        return Dual(slope, _scale(tangent_of(a), -2 * value_of(out) * slope))

    @staticmethod
    def power_slope(out, a, b):
        """∂(a^b)/∂a = b·a^(b-1) (FloatArith.power_slope's value), its tangent by the rules
        of duals through the same form: b·(a^b/a), or b·a^(b-1) where a is 0 or a^b is 0,
        inf or subnormal. At b = 0 the tangent keeps b's part, b'·a^(b-1)."""
        slope = FloatArith.power_slope(value_of(out), value_of(a), value_of(b))
        if tangent_of(a) == 0 and tangent_of(b) == 0:
            return slope
        if value_of(a) != 0 and SMALLEST_NORMAL <= abs(value_of(out)) < math.inf:
            return Dual(slope, tangent_of(b * (out / a)))
        return Dual(slope, tangent_of(b * DualArith.power(a, b - 1)))

    @staticmethod
    def power(a, b):
        base, exponent = value_of(a), value_of(b)
        out = FloatArith.power(base, exponent)
        if tangent_of(a) == 0 and tangent_of(b) == 0:
            return out
        # 0^0's slope in the base is taken as 0, as the op table's rule takes it
        d_base = 0.0 if exponent == 0 and base == 0 else \
            FloatArith.power_slope(out, base, exponent)
        tangent = _scale(tangent_of(a), d_base)
        if tangent_of(b) != 0:  # a^b·ln a, only where the exponent moves
            d_exponent = out * math.log(base) if base > 0 else (0.0 if base == 0 else math.nan)
            tangent = tangent + tangent_of(b) * d_exponent
        return Dual(out, tangent)

    @staticmethod
    def divide(a, b):
        return _divide(a, b)

    def max(self, args):
        return self._winner(args, FloatArith.max([value_of(a) for a in args]))

    def min(self, args):
        return self._winner(args, FloatArith.min([value_of(a) for a in args]))

    def _winner(self, args, best):
        tied = [tangent_of(a) for a in args if value_of(a) == best]
        if not tied:  # nan among the arguments: no winner compares equal
            return Dual(best, math.nan)
        tangent = tied[0] if self.ties == "first" else sum(tied) / len(tied)
        return Dual(best, tangent)


def directional(inputs: dict, tangents: dict) -> dict:
    """Input values as duals: each value with its tangent (0 for names not in `tangents`)."""
    return {name: Dual(float(value), float(tangents.get(name, 0.0)))
            for name, value in inputs.items()}


def forward_tangents(graph, values: dict, name: str, ties: str = "split") -> list:
    """Forward mode: ∂node/∂name for every node (node id order), from one forward pass in
    dual numbers seeded with tangent 1 on the input `name`. `values` are floats."""
    from .run import forward

    run = forward(graph, directional(values, {name: 1.0}), DualArith(ties))
    return [tangent_of(value) for value in run.values]


def refuse_arrays(graph, values: dict, what: str, instead: str) -> None:
    """Raise ShapeError unless `graph` is scalar throughout at `values` (a name's value, or
    {} before binding): the dual and SymPy numbers here are scalars, so vectors and matrices
    (numpy's array operations, whose rules call numpy directly) are refused, with the caret
    under the first input bound to one, else under the first array operation."""
    from .errors import ShapeError
    from .ops import ARRAY_OPS
    from .ops.base import shape_text

    for name, value in values.items():
        if getattr(value, "shape", ()):
            node = graph.nodes[graph.inputs[name]] if name in graph.inputs else None
            kind = {1: "vector", 2: "matrix"}.get(len(value.shape), "array")
            raise ShapeError(f"{what} works on scalar expressions, and {name} is bound to "
                             f"a {kind} of shape {shape_text(value)}", graph.source,
                             None if node is None else node.span, hint=instead)
    for _, node in graph.walk():
        if getattr(node.op, "base", None) in ARRAY_OPS:
            raise ShapeError(f"{what} works on scalar expressions, and {graph.label(node)} "
                             f"is an array operation ({node.op.name})", graph.source,
                             node.span, hint=instead)
