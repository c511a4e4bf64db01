"""Scalar and elementwise operations: arithmetic, the elementary functions, relu, max/min.

Each has a local gradient per argument; on arrays it applies element by element, and the
engine sums it back over broadcast dimensions.
"""
from __future__ import annotations

import math

from .base import Op, register

_LN10, _LN2 = math.log(10), math.log(2)
INF, NAN = float("inf"), float("nan")


def _route(xp, out, args):
    """∂max/∂arg: 1 for the winner. Ties: split evenly, or all to the first (--ties).
    A NaN output has no winner (no argument equals it): every ∂ is NaN (0/0), not 0."""
    # Adding zero(out) keeps the counts in the number system: 1/2 stays exact under --exact.
    hits = [xp.where(a == out, 1, 0) + xp.zero(out) for a in args]
    if xp.ties == "first":
        taken = 0
        routed = []
        for hit in hits:
            routed.append(hit * (1 - taken))
            taken = taken + routed[-1]
        return tuple(xp.divide(r, taken) for r in routed)
    count = sum(hits)
    return tuple(xp.divide(h, count) for h in hits)


def _tie_policy(xp) -> str:
    return ("split evenly among the tied arguments (as PyTorch and JAX)" if xp.ties == "split"
            else "all sent to the first tied argument (--ties first)")


def _tie(xp, out, *args):
    tied = sum(xp.where(a == out, 1, 0) for a in args)
    if xp.all(tied < 2):
        return None
    return f"arguments tie for the winner; the gradient is {_tie_policy(xp)}"


def _winners(xp, out, *args):
    return tuple(a == out for a in args)


def _signs(xp, out, *args):
    return tuple(xp.sign(a) for a in args)


def _at_zero(what):
    def kink(xp, out, a):
        return f"{what} has no derivative at 0; local gradient taken as 0 (as PyTorch)" \
            if not xp.all(a != 0) else None
    return kink


def _pow_domain(xp, a, b):
    if not xp.all((a >= 0) | xp.is_integer(b)):
        return "a negative base to a non-integer power is not a real number", 0
    if not xp.all((a != 0) | (b >= 0)):
        return "0 to a negative power is a division by zero", 0
    return None


def _pow_local(xp, out, a, b):
    # b·a^(b-1) is 0 at b = 0 wherever it is defined, and computed there all the same, so
    # that a number system carrying b's own derivative (dual numbers) keeps ∂/∂b of it,
    # a^(b-1): the Hessian's ∂²(a^b)/∂a∂b. Only 0^0 (0·inf) is taken as 0 outright; adding
    # 0 turns the -0 of a negative base into 0.
    d_base = xp.where((a == 0) & (b == 0), xp.zero(b),
                      xp.power_slope(out, a, b) + xp.zero(b))
    # ∂(a^b)/∂b = a^b·ln a: not a real number for a < 0. At a = 0, 0^b is 0 for b > 0 (so
    # 0), and at b = 0 it drops from 1 to 0: the slope from b > 0 is -inf (_pow_kink).
    d_exponent = xp.where(a > 0, out * xp.log(xp.where(a > 0, a, 1)),
                          xp.where(a == 0, xp.where(b == 0, -INF, xp.zero(a)), NAN))
    return d_base, d_exponent


def _pow_branch(xp, out, a, b):
    # Smooth for a > 0, and through a = 0 for a whole exponent b >= 0 (x^2, x^3);
    # otherwise a = 0 is a pole (x^-1) or a domain edge (x^0.5).
    smooth = (a > 0) | xp.is_integer(b) & (b >= 0)
    return (xp.where(smooth, 1, xp.sign(a)),)


def _pow_kink(xp, out, a, b):
    if not xp.all((a != 0) | (b >= 1) | (b == 0)):
        return "the base is 0 and the exponent is below 1: the local gradient is infinite"
    if not xp.all((a != 0) | (b != 0)):
        return "0^b has no derivative in b at b = 0 (it is 1 there, 0 for b > 0, and not " \
            "defined for b < 0): ∂/∂b is taken from b > 0, -inf"
    if not xp.all((a != 0) | xp.is_integer(b)):
        return "a^b with a non-integer exponent is defined only for a ≥ 0: at a = 0 " \
            "∂/∂a is the slope from a > 0"
    return None


def _jump_at_zero(xp, out, a):
    return None if xp.all(a != 0) else \
        "sign jumps at 0 and has no derivative there; local gradient taken as 0 (as PyTorch)"


def _positive(name):
    def domain(xp, a):
        return None if xp.all(a > 0) else (f"{name} is defined only for positive numbers", 0)
    return domain


register(
    Op("add", "+", 2, lambda xp, a, b: a + b, lambda xp, out, a, b: (1, 1),
       "∂/∂a = 1, ∂/∂b = 1", pattern="distributes"),
    Op("sub", "-", 2, lambda xp, a, b: a - b, lambda xp, out, a, b: (1, -1),
       "∂/∂a = 1, ∂/∂b = -1", pattern="distributes"),
    Op("mul", "*", 2, lambda xp, a, b: a * b, lambda xp, out, a, b: (b, a),
       "∂/∂a = b, ∂/∂b = a", pattern="swaps and scales", nonzero=True),
    Op("div", "/", 2, lambda xp, a, b: a / b,
       lambda xp, out, a, b: (1 / b, -out / b),
       "∂/∂a = 1/b, ∂/∂b = -a/b²",
       domain=lambda xp, a, b: None if xp.all(b != 0) else ("division by zero", 1),
       branch=lambda xp, out, a, b: (xp.sign(b),), nonzero=True),
    Op("neg", "-", 1, lambda xp, a: -a, lambda xp, out, a: (-1,), "∂/∂a = -1"),
    Op("pow", "^", 2, lambda xp, a, b: xp.power(a, b), _pow_local,
       "∂/∂a = b·a^(b-1), ∂/∂b = a^b·ln a", domain=_pow_domain, kink=_pow_kink,
       branch=_pow_branch, nonzero=True,
       functions=('pow',)),
    Op("exp", "exp", 1, lambda xp, a: xp.exp(a), lambda xp, out, a: (out,), "∂/∂a = exp(a)",
       nonzero=True, functions=('exp',)),
    Op("log", "log", 1, lambda xp, a: xp.log(a), lambda xp, out, a: (1 / a,),
       "∂/∂a = 1/a (natural log)", domain=_positive("log"),
       functions=('log', 'ln')),
    # log10 and log2 have their own entries: suggesting `log` (the natural log) for them
    # would silently change the answer.
    Op("log10", "log10", 1, lambda xp, a: xp.log10(a), lambda xp, out, a: (1 / (a * _LN10),),
       "∂/∂a = 1/(a·ln 10)", domain=_positive("log10"),
       functions=('log10',)),
    Op("log2", "log2", 1, lambda xp, a: xp.log2(a), lambda xp, out, a: (1 / (a * _LN2),),
       "∂/∂a = 1/(a·ln 2)", domain=_positive("log2"),
       functions=('log2',)),
    # √a lives on a ≥ 0, so its slope at 0 is the one from the right, +inf: adding 0 turns
    # sqrt(-0.0) = -0.0 into 0, which keeps it from giving -inf (and sqrt(-x) at 0 +inf).
    # (Not |out|: abs takes slope 0 at 0, and a dual number's derivative of √a along a
    # would be lost there.)
    Op("sqrt", "√", 1, lambda xp, a: xp.sqrt(a),
       lambda xp, out, a: (xp.divide(1, 2 * out + xp.zero(out)),),
       "∂/∂a = 1/(2·√a) (+inf at 0)",
       domain=lambda xp, a: None if xp.all(a >= 0) else
       ("sqrt is defined only for numbers ≥ 0", 0),
       kink=lambda xp, out, a: None if xp.all(a != 0) else
       "sqrt has an infinite slope at 0: the local gradient is inf", branch=_signs,
       functions=('sqrt',)),
    Op("abs", "abs", 1, lambda xp, a: abs(a), lambda xp, out, a: (xp.sign(a),),
       "∂/∂a = sign(a) (0 at a = 0)", kink=_at_zero("abs"), branch=_signs,
       functions=('abs',)),
    # A step: flat on both sides of 0, a jump at 0 (PyTorch also gives 0 there).
    Op("sign", "sign", 1, lambda xp, a: xp.sign(a) + xp.zero(a),
       lambda xp, out, a: (xp.zero(a),), "∂/∂a = 0 (0 at the jump a = 0)",
       kink=_jump_at_zero, branch=_signs, structural=True,
       functions=('sign',)),
    Op("sin", "sin", 1, lambda xp, a: xp.sin(a), lambda xp, out, a: (xp.cos(a),),
       "∂/∂a = cos(a)",
       functions=('sin',)),
    Op("cos", "cos", 1, lambda xp, a: xp.cos(a), lambda xp, out, a: (-xp.sin(a),),
       "∂/∂a = -sin(a)",
       functions=('cos',)),
    Op("tan", "tan", 1, lambda xp, a: xp.tan(a), lambda xp, out, a: (1 + out * out,),
       "∂/∂a = 1 + tan²(a)", branch=lambda xp, out, a: (xp.sign(xp.cos(a)),),
       functions=('tan',)),
    # 1 - tanh² cancels to 0 past a ≈ 19, σ(1 - σ) past 37: the number systems choose
    # forms that keep every digit (FloatArith.tanh_slope, .sigmoid_slope).
    Op("tanh", "tanh", 1, lambda xp, a: xp.tanh(a),
       lambda xp, out, a: (xp.tanh_slope(out, a),),
       "∂/∂a = 1 - tanh²(a) = 4/(eᵃ + e⁻ᵃ)²",
       functions=('tanh',)),
    Op("sigmoid", "σ", 1, lambda xp, a: xp.sigmoid(a),
       lambda xp, out, a: (xp.sigmoid_slope(out, a),), "∂/∂a = σ(a)·(1 - σ(a)) = σ(a)·σ(-a)",
       nonzero=True, functions=('sigmoid', 'σ')),
    Op("relu", "relu", 1, lambda xp, a: xp.where(a > 0, a, xp.zero(a)),
       lambda xp, out, a: (xp.where(a > 0, 1, 0),),
       "∂/∂a = 1 if a > 0 else 0 (0 at a = 0)", kink=_at_zero("relu"), pattern="gates",
       branch=_signs, structural=True,
       functions=('relu',)),
    Op("softplus", "softplus", 1, lambda xp, a: xp.softplus(a),
       lambda xp, out, a: (xp.sigmoid(a),), "∂/∂a = σ(a)", nonzero=True,
       functions=('softplus',)),
    Op("max", "max", None, lambda xp, *args: xp.max(args), lambda xp, out, *args: _route(xp, out, args),
       "∂/∂winner = 1, others 0 (ties: --ties)", kink=_tie, pattern="routes", min_arity=2,
       branch=_winners, structural=True,
       functions=('max', 'maximum')),
    Op("min", "min", None, lambda xp, *args: xp.min(args), lambda xp, out, *args: _route(xp, out, args),
       "∂/∂winner = 1, others 0 (ties: --ties)", kink=_tie, pattern="routes", min_arity=2,
       branch=_winners, structural=True,
       functions=('min', 'minimum')),
)
