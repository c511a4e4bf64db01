"""The op table: every operation's forward value and local gradients, in one place.

Each entry is a few lines, as in micrograd's engine: `forward(xp, *args)` gives the value,
`local(xp, out, *args)` gives ∂out/∂arg for each argument (`out` is the forward value, so
exp and tanh reuse it). `xp` is a number system from gradcalc.arith. `domain` says where an
op is undefined, `kink` where it has no derivative and a convention answers instead
(SPEC §1). The per-op gradient tests, `gradcalc functions` and the docs all read this table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Op:
    name: str
    symbol: str
    arity: int | None  # None: variadic, at least `min_arity` arguments
    forward: Callable
    local: Callable
    rule: str
    domain: Callable | None = None  # (xp, *args) -> (problem, culprit arg index) | None
    kink: Callable | None = None  # (xp, out, *args) -> warning | None
    # (xp, out, *args) -> a tuple that changes exactly where the op moves to another smooth
    # piece (a kink, a pole): `gradcalc check` compares it at x-h, x, x+h.
    branch: Callable | None = None
    pattern: str = ""  # how the gate treats the upstream gradient, as the lecture says
    min_arity: int = 1


def _route(xp, out, args):
    """∂max/∂arg: 1 for the winner. Ties: split evenly, or all to the first (--ties)."""
    # Adding zero(out) keeps the counts in the number system: 1/2 stays exact under --exact.
    hits = [xp.where(a == out, 1, 0) + xp.zero(out) for a in args]
    if xp.ties == "first":
        taken = 0
        routed = []
        for hit in hits:
            routed.append(hit * (1 - taken))
            taken = taken + routed[-1]
        return tuple(routed)
    count = sum(hits)
    return tuple(h / count for h in hits)


def _tie(xp, out, *args):
    tied = sum(xp.where(a == out, 1, 0) for a in args)
    if xp.all(tied < 2):
        return None
    policy = ("split evenly among the tied arguments (as PyTorch and JAX)"
              if xp.ties == "split" else "all sent to the first tied argument (--ties first)")
    return f"{tied} arguments tie for the winner; the gradient is {policy}"


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
    d_base = xp.where(b == 0, xp.zero(b), b * xp.power(a, b - 1))
    # ∂(a^b)/∂b = a^b·ln a: 0 at a = 0 (the limit), not a real number for a < 0.
    d_exponent = xp.where(a > 0, out * xp.log(xp.where(a > 0, a, 1)),
                          xp.where(a == 0, xp.zero(a), float("nan")))
    return d_base, d_exponent


def _pow_branch(xp, out, a, b):
    # Smooth for a > 0, and through a = 0 for a whole exponent b >= 0 (x^2, x^3);
    # otherwise a = 0 is a pole (x^-1) or a domain edge (x^0.5).
    smooth = (a > 0) | xp.is_integer(b) & (b >= 0)
    return (xp.where(smooth, 1, xp.sign(a)),)


def _pow_kink(xp, out, a, b):
    if not xp.all((a != 0) | (b >= 1) | (b == 0)):
        return "the base is 0 and the exponent is below 1: the local gradient is infinite"
    return None


def _positive(name):
    def domain(xp, a):
        return None if xp.all(a > 0) else (f"{name} is defined only for positive numbers", 0)
    return domain


OPS = [
    Op("add", "+", 2, lambda xp, a, b: a + b, lambda xp, out, a, b: (1, 1),
       "∂/∂a = 1, ∂/∂b = 1", pattern="distributes"),
    Op("sub", "-", 2, lambda xp, a, b: a - b, lambda xp, out, a, b: (1, -1),
       "∂/∂a = 1, ∂/∂b = -1", pattern="distributes"),
    Op("mul", "*", 2, lambda xp, a, b: a * b, lambda xp, out, a, b: (b, a),
       "∂/∂a = b, ∂/∂b = a", pattern="swaps and scales"),
    Op("div", "/", 2, lambda xp, a, b: a / b,
       lambda xp, out, a, b: (1 / b, -out / b),
       "∂/∂a = 1/b, ∂/∂b = -a/b²",
       domain=lambda xp, a, b: None if xp.all(b != 0) else ("division by zero", 1),
       branch=lambda xp, out, a, b: (xp.sign(b),)),
    Op("neg", "-", 1, lambda xp, a: -a, lambda xp, out, a: (-1,), "∂/∂a = -1"),
    Op("pow", "^", 2, lambda xp, a, b: xp.power(a, b), _pow_local,
       "∂/∂a = b·a^(b-1), ∂/∂b = a^b·ln a", domain=_pow_domain, kink=_pow_kink,
       branch=_pow_branch),
    Op("exp", "exp", 1, lambda xp, a: xp.exp(a), lambda xp, out, a: (out,), "∂/∂a = exp(a)"),
    Op("log", "log", 1, lambda xp, a: xp.log(a), lambda xp, out, a: (1 / a,),
       "∂/∂a = 1/a (natural log)", domain=_positive("log")),
    Op("sqrt", "√", 1, lambda xp, a: xp.sqrt(a),
       lambda xp, out, a: (xp.divide(1, 2 * out),), "∂/∂a = 1/(2·√a)",
       domain=lambda xp, a: None if xp.all(a >= 0) else
       ("sqrt is defined only for numbers ≥ 0", 0),
       kink=lambda xp, out, a: None if xp.all(a != 0) else
       "sqrt has an infinite slope at 0: the local gradient is inf", branch=_signs),
    Op("abs", "abs", 1, lambda xp, a: abs(a), lambda xp, out, a: (xp.sign(a),),
       "∂/∂a = sign(a) (0 at a = 0)", kink=_at_zero("abs"), branch=_signs),
    Op("sin", "sin", 1, lambda xp, a: xp.sin(a), lambda xp, out, a: (xp.cos(a),),
       "∂/∂a = cos(a)"),
    Op("cos", "cos", 1, lambda xp, a: xp.cos(a), lambda xp, out, a: (-xp.sin(a),),
       "∂/∂a = -sin(a)"),
    Op("tan", "tan", 1, lambda xp, a: xp.tan(a), lambda xp, out, a: (1 + out * out,),
       "∂/∂a = 1 + tan²(a)", branch=lambda xp, out, a: (xp.sign(xp.cos(a)),)),
    Op("tanh", "tanh", 1, lambda xp, a: xp.tanh(a), lambda xp, out, a: (1 - out * out,),
       "∂/∂a = 1 - tanh²(a)"),
    Op("sigmoid", "σ", 1, lambda xp, a: xp.sigmoid(a),
       lambda xp, out, a: (out * (1 - out),), "∂/∂a = σ(a)·(1 - σ(a))"),
    Op("relu", "relu", 1, lambda xp, a: xp.where(a > 0, a, xp.zero(a)),
       lambda xp, out, a: (xp.where(a > 0, 1, 0),),
       "∂/∂a = 1 if a > 0 else 0 (0 at a = 0)", kink=_at_zero("relu"), pattern="gates",
       branch=_signs),
    Op("softplus", "softplus", 1, lambda xp, a: xp.softplus(a),
       lambda xp, out, a: (xp.sigmoid(a),), "∂/∂a = σ(a)"),
    Op("max", "max", None, lambda xp, *args: xp.max(args), lambda xp, out, *args: _route(xp, out, args),
       "∂/∂winner = 1, others 0 (ties: --ties)", kink=_tie, pattern="routes", min_arity=2,
       branch=_winners),
    Op("min", "min", None, lambda xp, *args: xp.min(args), lambda xp, out, *args: _route(xp, out, args),
       "∂/∂winner = 1, others 0 (ties: --ties)", kink=_tie, pattern="routes", min_arity=2,
       branch=_winners),
]

BY_NAME = {op.name: op for op in OPS}

# How the language reaches the table: operators, and the built-in function names.
BINARY = {"+": BY_NAME["add"], "-": BY_NAME["sub"], "*": BY_NAME["mul"],
          "/": BY_NAME["div"], "^": BY_NAME["pow"]}
NEGATE = BY_NAME["neg"]
FUNCTIONS = {name: BY_NAME[name] for name in (
    "exp", "log", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
    "softplus", "pow", "max", "min")}
FUNCTIONS["ln"] = BY_NAME["log"]

CONSTANTS = {"pi": "3.141592653589793", "e": "2.718281828459045"}


def spellings(op: Op) -> list[str]:
    """How the language writes an op: `a + b`, `-a`, `log(a)` / `ln(a)`, `max(a, b, ...)`."""
    written = [f"a {symbol} b" for symbol, entry in BINARY.items() if entry is op]
    if op is NEGATE:
        written.append("-a")
    params = {1: "a", 2: "a, b", None: "a, b, ..."}[op.arity]
    written += [f"{name}({params})" for name, entry in FUNCTIONS.items() if entry is op]
    return written
