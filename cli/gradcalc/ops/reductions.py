"""Reductions: sum, mean, norm, and max/min of one array."""
from __future__ import annotations

from .base import Op, register


def _scalar(*shapes):
    return ()
from .scalar import _tie_policy


def _reduce_route(xp, g, out, a):
    """∂max(v)/∂v: the gradient goes to the largest element; ties as for max(a, b)."""
    hits = xp.where(a == out, 1.0, 0.0)
    if xp.ties == "first":
        first = xp.zero(a)
        first.flat[int(hits.argmax())] = 1.0
        return (g * first,)
    return (g * hits / hits.sum(),)


def _reduce_domain(xp, a):
    if getattr(a, "ndim", 0) == 0:
        return "max(v) and min(v) of one argument reduce over a vector or matrix, and this " \
            "is a single number; for two numbers write max(a, b)", 0
    return None


def _reduce_tie(xp, out, a):
    if (a == out).sum() < 2:
        return None
    return f"elements tie for the winner; the gradient is {_tie_policy(xp)}"


def _norm_kink(xp, out, a):
    return None if out != 0 else "norm has no derivative at 0; local gradient taken as 0"


register(
    Op("sum", "Σ", 1, lambda xp, a: a.sum(), None, "∂/∂a = 1 for every element",
       vjp=lambda xp, g, out, a: (g + xp.zero(a),), matrix_rule=("{g} · 1",),
       shape=_scalar, sample=lambda rng: (rng.normal(size=(2, 3)),),
       functions=('sum',)),
    Op("mean", "mean", 1, lambda xp, a: a.mean(), None, "∂/∂a = 1/n for every element",
       vjp=lambda xp, g, out, a: (g / a.size + xp.zero(a),), matrix_rule=("{g} · 1/n",),
       shape=_scalar, sample=lambda rng: (rng.normal(size=(2, 3)),),
       functions=('mean',)),
    Op("norm", "‖·‖", 1, lambda xp, a: xp.sqrt((a * a).sum()), None,
       "∂/∂a = a / ‖a‖ (0 at a = 0)", kink=_norm_kink,
       branch=lambda xp, out, a: (out == 0,),
       vjp=lambda xp, g, out, a: (g * a / out if out != 0 else xp.zero(a),),
       matrix_rule=("{g} · {a} / ‖{a}‖",), shape=_scalar,
       sample=lambda rng: (rng.normal(size=3),),
       functions=('norm',)),
    Op("max_of", "max", 1, lambda xp, a: a.max(), None,
       "∂/∂(largest element) = 1, others 0 (ties: --ties)", kink=_reduce_tie,
       domain=_reduce_domain, branch=lambda xp, out, a: (int(a.argmax()),),
       vjp=_reduce_route, matrix_rule=("{g} at the largest element of {a}",),
       pattern="routes", shape=_scalar, sample=lambda rng: (rng.normal(size=5),)),
    Op("min_of", "min", 1, lambda xp, a: a.min(), None,
       "∂/∂(smallest element) = 1, others 0 (ties: --ties)", kink=_reduce_tie,
       domain=_reduce_domain, branch=lambda xp, out, a: (int(a.argmin()),),
       vjp=_reduce_route, matrix_rule=("{g} at the smallest element of {a}",),
       pattern="routes", shape=_scalar, sample=lambda rng: (rng.normal(size=5),)),
)
