"""Masks: the comparisons, `where`, and `detach`.

A comparison gives 1.0 or 0.0 (numpy's masks, as floats so that `x * (x > 0)` computes).
It is piecewise constant: its local gradient is 0 on both sides, and at the switch (both
sides equal) it has none, which is flagged like any kink. The zeros of all three are
selections (structural: nothing passes, even against an infinite gradient). `where(cond, a, b)` routes the
gradient to the branch it took; `detach(x)` passes its value on and no gradient (PyTorch's
`detach`, d2l's `u = x.detach()`).
"""
from __future__ import annotations

import operator

from .base import Op, register


def _comparison(name: str, symbol: str, compare) -> Op:
    def forward(xp, a, b):
        return xp.where(compare(a, b), 1, 0) + xp.zero(a) + xp.zero(b)

    def at_switch(xp, out, a, b):
        if xp.all(a != b):
            return None
        return (f"both sides of {symbol} are equal here, where the mask switches: it has "
                "no derivative there; local gradient taken as 0 (as PyTorch)")

    return Op(name, symbol, 2, forward, lambda xp, out, a, b: (0, 0),
              f"∂/∂a = 0, ∂/∂b = 0 (a mask: 1 where a {symbol} b, else 0)", kink=at_switch,
              branch=lambda xp, out, a, b: (xp.sign(a - b),), family="comparison",
              structural=True)


def _where_local(xp, out, condition, a, b):
    taken = xp.where(condition != 0, 1, 0) + xp.zero(condition)
    return 0, taken, 1 - taken


register(
    _comparison("less", "<", operator.lt),
    _comparison("less_equal", "<=", operator.le),
    _comparison("greater", ">", operator.gt),
    _comparison("greater_equal", ">=", operator.ge),
    _comparison("equal", "==", operator.eq),
    _comparison("not_equal", "!=", operator.ne),
    Op("where", "where", 3, lambda xp, condition, a, b: xp.where(condition != 0, a, b)
       + xp.zero(a) + xp.zero(b), _where_local,
       "∂/∂a = 1 where cond holds, ∂/∂b = 1 where it does not; cond takes none",
       branch=lambda xp, out, condition, a, b: (condition != 0,), pattern="routes",
       functions=("where",), constant_args=(0,), structural=True),
    Op("detach", "detach", 1, lambda xp, a: a, lambda xp, out, a: (0,),
       "∂/∂a = 0: the value passes, the gradient does not (as PyTorch's detach)",
       functions=("detach",), constant_args=(0,), structural=True),
)
