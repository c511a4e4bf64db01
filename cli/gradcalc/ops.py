"""The op table: every operation's forward value and local gradients, in one place.

Each entry is a few lines, as in micrograd's engine: `forward(xp, *args)` gives the value,
`local(xp, out, *args)` gives ∂out/∂arg for each argument (`out` is the forward value, so
exp and tanh reuse it). `xp` is a number system from gradcalc.arith. `domain` says where an
op is undefined, `kink` where it has no derivative and a convention answers instead
(SPEC §1). The per-op gradient tests, `gradcalc functions` and the docs all read this table.
"""
from __future__ import annotations

from collections.abc import Callable  # typing would cost `import gradcalc` ~3 ms

from .frozen import Frozen
from .limits import MAX_DIMENSIONS


class Op(Frozen):
    """One entry of the table; immutable, and compared by identity (each op is made once,
    here)."""

    __slots__ = ("name", "symbol", "arity", "forward", "local", "rule", "domain", "kink",
                 "branch", "pattern", "min_arity", "vjp", "matrix_rule", "sample")

    def __init__(self, name: str, symbol: str, arity: int | None, forward: Callable,
                 local: Callable, rule: str, domain: Callable | None = None,
                 kink: Callable | None = None, branch: Callable | None = None,
                 pattern: str = "", min_arity: int = 1, vjp: Callable | None = None,
                 matrix_rule: tuple[str, ...] = (), sample: Callable | None = None):
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
        # g is ∂f/∂out; `matrix_rule` writes it per argument for --steps ("{g} · {b}ᵀ").
        _set(self, "vjp", vjp)
        _set(self, "matrix_rule", matrix_rule)
        _set(self, "sample", sample)  # rng → example arguments, for the generated tests

    def __repr__(self):
        return f"Op({self.name!r})"



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


def _tie_policy(xp) -> str:
    return ("split evenly among the tied arguments (as PyTorch and JAX)" if xp.ties == "split"
            else "all sent to the first tied argument (--ties first)")


def _tie(xp, out, *args):
    tied = sum(xp.where(a == out, 1, 0) for a in args)
    if xp.all(tied < 2):
        return None
    return f"arguments tie for the winner; the gradient is {_tie_policy(xp)}"


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


def _matmul_vjp(xp, g, out, a, b):
    """The backward of a @ b for matrices and vectors: ∂f/∂a = g·bᵀ, ∂f/∂b = aᵀ·g, with
    numpy's rule that a vector operand counts as a row (left) or a column (right)."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = xp.convert(g).reshape(a2.shape[0], b2.shape[1])
    return (g2 @ b2.T).reshape(a.shape), (a2.T @ g2).reshape(b.shape)


def _matmul_domain(xp, a, b):
    if a.ndim == 0 or b.ndim == 0:
        return "@ needs vectors or matrices on both sides (use * for a scalar)", \
            0 if a.ndim == 0 else 1
    if a.ndim > 2 or b.ndim > 2:
        return "@ is defined here for vectors and matrices only", 0 if a.ndim > 2 else 1
    if a.shape[-1] != b.shape[0]:
        return f"shapes {_shape(a)} and {_shape(b)} do not fit: a @ b needs the columns " \
            "of a to equal the rows of b", 1
    return None


def _shape(a) -> str:
    return "×".join(map(str, a.shape)) if a.ndim else "scalar"


def _index_domain(xp, a, *indices):
    if len(indices) != a.ndim:
        return f"{len(indices)} ind{'ex' if len(indices) == 1 else 'ices'} for a value of " \
            f"shape {_shape(a)}", 0
    for k, (i, n) in enumerate(zip(indices, a.shape)):
        if not float(i).is_integer() or not -n <= i < n:
            return f"index {xp.show(i)} is out of range for length {n} (indices start at 0)", \
                k + 1
    return None


def _at(indices):
    return tuple(int(i) for i in indices)


def _index_vjp(xp, g, out, a, *indices):
    grad = xp.zero(a)
    grad[_at(indices)] = g
    return (grad,) + (None,) * len(indices)


def _array_domain(xp, *items):
    shapes = [getattr(item, "shape", ()) for item in items]
    if len(shapes[0]) >= MAX_DIMENSIONS:
        return f"a list nested more than {MAX_DIMENSIONS} deep: values have at most " \
            f"{MAX_DIMENSIONS} dimensions", 0
    for k, shape in enumerate(shapes):
        if shape != shapes[0]:
            return "the elements of a list must all have the same shape, and this list is " \
                "ragged", k
    return None


def _norm_kink(xp, out, a):
    return None if out != 0 else "norm has no derivative at 0; local gradient taken as 0"



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

# Array operations: each gives its chain rule as a vector-Jacobian product (vjp).
OPS += [
    Op("matmul", "@", 2, lambda xp, a, b: xp.matmul(a, b), None,
       "∂f/∂a = ∂f/∂out · bᵀ, ∂f/∂b = aᵀ · ∂f/∂out", domain=_matmul_domain,
       vjp=_matmul_vjp, matrix_rule=("{g} · {b}ᵀ", "{a}ᵀ · {g}"),
       sample=lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=3))),
    Op("sum", "Σ", 1, lambda xp, a: a.sum(), None, "∂/∂a = 1 for every element",
       vjp=lambda xp, g, out, a: (g + xp.zero(a),), matrix_rule=("{g} · 1",),
       sample=lambda rng: (rng.normal(size=(2, 3)),)),
    Op("mean", "mean", 1, lambda xp, a: a.mean(), None, "∂/∂a = 1/n for every element",
       vjp=lambda xp, g, out, a: (g / a.size + xp.zero(a),), matrix_rule=("{g} · 1/n",),
       sample=lambda rng: (rng.normal(size=(2, 3)),)),
    Op("norm", "‖·‖", 1, lambda xp, a: xp.sqrt((a * a).sum()), None,
       "∂/∂a = a / ‖a‖ (0 at a = 0)", kink=_norm_kink,
       branch=lambda xp, out, a: (out == 0,),
       vjp=lambda xp, g, out, a: (g * a / out if out != 0 else xp.zero(a),),
       matrix_rule=("{g} · {a} / ‖{a}‖",), sample=lambda rng: (rng.normal(size=3),)),
    Op("transpose", "ᵀ", 1, lambda xp, a: a.T, None, "∂f/∂a = (∂f/∂out)ᵀ",
       vjp=lambda xp, g, out, a: (xp.convert(g).T,), matrix_rule=("{g}ᵀ",),
       sample=lambda rng: (rng.normal(size=(2, 3)),)),
    Op("max_of", "max", 1, lambda xp, a: a.max(), None,
       "∂/∂(largest element) = 1, others 0 (ties: --ties)", kink=_reduce_tie,
       domain=_reduce_domain, branch=lambda xp, out, a: (int(a.argmax()),),
       vjp=_reduce_route, matrix_rule=("{g} at the largest element of {a}",),
       pattern="routes", sample=lambda rng: (rng.normal(size=5),)),
    Op("min_of", "min", 1, lambda xp, a: a.min(), None,
       "∂/∂(smallest element) = 1, others 0 (ties: --ties)", kink=_reduce_tie,
       domain=_reduce_domain, branch=lambda xp, out, a: (int(a.argmin()),),
       vjp=_reduce_route, matrix_rule=("{g} at the smallest element of {a}",),
       pattern="routes", sample=lambda rng: (rng.normal(size=5),)),
    Op("index", "[]", None, lambda xp, a, *indices: a[_at(indices)], None,
       "∂/∂a = 1 at the index, 0 elsewhere", domain=_index_domain, vjp=_index_vjp,
       matrix_rule=("{g} scattered to the index",), min_arity=2,
       sample=lambda rng: (rng.normal(size=(2, 3)), 1.0, -1.0)),
    Op("array", "[ ]", None, lambda xp, *items: xp.stack(items), None,
       "∂/∂(element k) = ∂f/∂out[k]", domain=_array_domain,
       vjp=lambda xp, g, out, *items: tuple(g[k] for k in range(len(items))),
       matrix_rule=("{g}[k]",), sample=lambda rng: (rng.normal(size=2), rng.normal(size=2))),
]

BY_NAME = {op.name: op for op in OPS}

# How the language reaches the table: operators, and the built-in function names.
BINARY = {"+": BY_NAME["add"], "-": BY_NAME["sub"], "*": BY_NAME["mul"],
          "/": BY_NAME["div"], "^": BY_NAME["pow"], "@": BY_NAME["matmul"]}
NEGATE = BY_NAME["neg"]
FUNCTIONS = {name: BY_NAME[name] for name in (
    "exp", "log", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
    "softplus", "pow", "max", "min", "sum", "mean", "norm", "transpose")}
FUNCTIONS["ln"] = BY_NAME["log"]
FUNCTIONS["dot"] = BY_NAME["matmul"]
# max(v) and min(v) of one argument reduce over it; of several they are elementwise.
REDUCERS = {"max": BY_NAME["max_of"], "min": BY_NAME["min_of"]}
INDEX, ARRAY = BY_NAME["index"], BY_NAME["array"]
# Ops that only make sense on arrays: an expression using one is computed with numpy.
ARRAY_OPS = {op for op in OPS if op.vjp is not None}

CONSTANTS = {"pi": "3.141592653589793", "e": "2.718281828459045"}


def spellings(op: Op) -> list[str]:
    """How the language writes an op: `a + b`, `-a`, `log(a)` / `ln(a)`, `max(a, b, ...)`."""
    written = [f"a {symbol} b" for symbol, entry in BINARY.items() if entry is op]
    if op is NEGATE:
        written.append("-a")
    params = {1: "a", 2: "a, b", None: "a, b, ..."}[op.arity]
    written += [f"{name}({params})" for name, entry in FUNCTIONS.items() if entry is op]
    written += [f"{name}(v)" for name, entry in REDUCERS.items() if entry is op]
    if op is INDEX:
        written += ["v[i]", "M[i, j]"]
    if op is ARRAY:
        written += ["[a, b, ...]", "[[a, b], [c, d]]"]
    return written
