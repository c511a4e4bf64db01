"""Every built-in's value and local gradient against mpmath at 50 digits, over the whole float
range: within a few ulps wherever the result is a normal float, and the right infinity
past it.

The cases are generated from the op table (every op with a local rule), so an op added
to it joins without anyone writing a test; its functions need only a counterpart in
tests/mp_oracle.MpArith. The truth of a local gradient comes from mpmath's numerical
differentiation of the op's *forward* rule run in mpmath, never from the op's `local`.
Points: both signs, |a| from the subnormals to 1e300, dense up to 710 (where exp
overflows), and the special points (±0, ±1, the tails of σ and tanh). Points at a kink
(where the op answers with a convention and warns) are tested in tests/test_edges.

The suite draws about 100 to 300 points per op; GRADCALC_FUZZ=long draws 10,000 more.
"""
import math
import os
import random

import pytest

from gradcalc import ops
from gradcalc.arith import FloatArith

from mp_oracle import MP, derivative, ulps

LONG = os.environ.get("GRADCALC_FUZZ") == "long"
RANDOM_POINTS = 10_000 if LONG else 60
FLOAT = FloatArith()
# Measured: at most 1.7 ulps (σ's local gradient) with glibc's libm and numpy 2; the
# bound leaves room for other libms, which promise a few ulps for the elementary functions.
ULPS = 4

SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0,
           2.0, -2.0, 3.0, 19.0, 20.0, -20.0, 30.0, -30.0, 37.0, 40.0, -40.0, 100.0, -100.0,
           700.0, -700.0, 709.78, 710.0, -745.0, 1e10, -1e10, 1e300, -1e300]
# where(cond, a, b) only selects (its values are its arguments'); detach's gradient is 0 by
# convention (PyTorch's), not the derivative of its value.
LOCAL_OPS = [op for op in ops.OPS if op.local is not None and op.vjp is None
             and op.name not in ("where", "detach")]


def _arity(op) -> int:
    return op.arity if op.arity is not None else op.min_arity


def _number(rng: random.Random) -> float:
    """A float from anywhere in the range: by magnitude, or dense where exp lives."""
    if rng.random() < 0.5:
        magnitude = 10 ** rng.uniform(-320, 300)
    else:
        magnitude = rng.uniform(0, 710)
    return math.copysign(magnitude, rng.choice((-1, 1)))


def points(op, seed=0):
    """Argument tuples for `op`: the special points (paired with each other and with 2
    and 0.5 for two arguments) and random ones, inside the op's domain."""
    rng = random.Random(f"{op.name}-{seed}")
    n = _arity(op)
    if n == 1:
        chosen = [(a,) for a in SPECIAL]
    else:
        chosen = [(a, b) for a in SPECIAL for b in (2.0, 0.5, -3.0, a)] + \
            [(2.0, b) for b in SPECIAL] + [(0.5, b) for b in SPECIAL]
    chosen += [tuple(_number(rng) for _ in range(n)) for _ in range(RANDOM_POINTS)]
    return [args for args in chosen if op.domain is None or op.domain(FLOAT, *args) is None]


def _smooth(op, xp, args) -> bool:
    out = op.forward(xp, *args)
    return op.kink is None or op.kink(xp, out, *args) is None


def _worst(pairs):
    """The largest ulp error over (got, truth, where) triples, and where it is."""
    return max(((ulps(got, truth), where) for got, truth, where in pairs),
               default=(0.0, None), key=lambda e: e[0])


@pytest.mark.parametrize("op", LOCAL_OPS, ids=lambda op: op.name)
def test_values_are_within_a_few_ulps_of_mpmath(op):
    worst = _worst((op.forward(FLOAT, *args), op.forward(MP, *args), args)
                   for args in points(op))
    assert worst[0] <= ULPS, (op.name, worst)


@pytest.mark.parametrize("op", LOCAL_OPS, ids=lambda op: op.name)
def test_local_gradients_are_within_a_few_ulps_of_mpmath(op):
    pairs = []
    for args in points(op):
        if not _smooth(op, FLOAT, args):
            continue
        local = op.local(FLOAT, op.forward(FLOAT, *args), *args)
        for k, slope in enumerate(local):
            truth = derivative(lambda *a: op.forward(MP, *a), args, k)
            pairs.append((float(slope), truth, (args, k)))
    worst = _worst(pairs)
    assert worst[0] <= ULPS, (op.name, worst)


np = pytest.importorskip("numpy")


@pytest.mark.parametrize("op", LOCAL_OPS, ids=lambda op: op.name)
def test_array_rules_are_within_a_few_ulps_of_mpmath(op):
    """The same points at once, as arrays: numpy's functions and the rules' array forms."""
    from gradcalc.arrays import ArrayArith

    xp = ArrayArith()
    chosen = [args for args in points(op) if _smooth(op, FLOAT, args)]
    columns = [np.array(column) for column in zip(*chosen)]
    with xp.quiet():
        values = op.forward(xp, *columns)
        local = op.local(xp, values, *columns)
    pairs = [(float(values[i]), op.forward(MP, *args), args) for i, args in enumerate(chosen)]
    for k, slopes in enumerate(local):
        slopes = np.broadcast_to(slopes, values.shape)
        pairs += [(float(slopes[i]), derivative(lambda *a: op.forward(MP, *a), args, k),
                   (args, k)) for i, args in enumerate(chosen)]
    worst = _worst(pairs)
    assert worst[0] <= ULPS, (op.name, worst)
