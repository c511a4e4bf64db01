"""Every entry of the op table against central finite differences, and its conventions.

The cases are generated from gradcalc.ops.OPS, so an op added to the table is tested
without anyone remembering to write a test for it.
"""
import math
import random
import zlib

import pytest

from gradcalc import ops
from gradcalc.arith import FloatArith

XP = FloatArith()
H = 1e-6


# detach passes no gradient by design (PyTorch's convention): no difference agrees with it.
SCALAR_OPS = [op for op in ops.OPS if op.vjp is None and op.name != "detach"]
ARRAY_OPS = [op for op in ops.OPS if op.vjp is not None]


def _arity(op):
    return op.arity if op.arity is not None else 3


def _ok(op, args):
    return op.domain is None or op.domain(XP, *args) is None


def _smooth_points(op, count=25, seed=0):
    """Random points where the op and all its ±h neighbours are defined and kink-free."""
    rng = random.Random(f"{op.name}-{seed}")
    points = []
    while len(points) < count:
        args = [rng.uniform(-3, 3) for _ in range(_arity(op))]
        near = [args[:i] + [a + d] + args[i + 1:] for i, a in enumerate(args) for d in (-H, 0, H)]
        if all(_ok(op, p) for p in near) and all(
                op.kink is None or op.kink(XP, op.forward(XP, *p), *p) is None for p in near):
            points.append(args)
    return points


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_local_gradient_matches_central_differences(op):
    for args in _smooth_points(op):
        out = op.forward(XP, *args)
        local = op.local(XP, out, *args)
        assert len(local) == len(args)
        for i, slope in enumerate(local):
            up = args[:i] + [args[i] + H] + args[i + 1:]
            down = args[:i] + [args[i] - H] + args[i + 1:]
            numeric = (op.forward(XP, *up) - op.forward(XP, *down)) / (2 * H)
            assert slope == pytest.approx(numeric, rel=1e-5, abs=1e-6), (op.name, args, i)


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.name)
def test_every_op_has_a_rule_and_a_name_in_the_language(op):
    assert op.rule
    reachable = set(ops.FUNCTIONS.values()) | set(ops.BINARY.values()) | \
        set(ops.REDUCERS.values()) | {ops.NEGATE, ops.INDEX, ops.ARRAY}
    assert op in reachable


def _local(name, *args, ties="split"):
    xp = FloatArith(ties)
    op = ops.BY_NAME[name]
    out = op.forward(xp, *args)
    return op.local(xp, out, *args), op.kink(xp, out, *args) if op.kink else None


def test_relu_and_abs_at_zero_take_gradient_zero_and_warn():
    for name in ("relu", "abs"):
        local, warning = _local(name, 0.0)
        assert local == (0.0,) or local == (0,)
        assert "no derivative at 0" in warning


def test_max_tie_split_evenly_by_default():
    local, warning = _local("max", 2.0, 2.0, 1.0)
    assert local == (0.5, 0.5, 0.0)
    assert "split evenly" in warning


def test_max_tie_first_sends_all_to_the_first():
    local, warning = _local("max", 2.0, 2.0, 1.0, ties="first")
    assert local == (1.0, 0.0, 0.0)
    assert "first" in warning


def test_min_routes_to_the_smallest():
    local, warning = _local("min", 3.0, -1.0, 2.0)
    assert local == (0.0, 1.0, 0.0) and warning is None


def test_sqrt_at_zero_has_infinite_local_gradient_and_warns():
    local, warning = _local("sqrt", 0.0)
    assert local == (math.inf,)
    assert "infinite" in warning


def test_stable_sigmoid_and_softplus_at_the_extremes():
    assert XP.sigmoid(-800.0) == 0.0 and XP.sigmoid(800.0) == 1.0
    assert XP.softplus(800.0) == 800.0
    assert XP.softplus(-800.0) == 0.0


# -- arrays: every rule, elementwise ops with broadcasting, checked element by element ------
np = pytest.importorskip("numpy")


def _array_xp():
    from gradcalc.arrays import ArrayArith
    return ArrayArith()


def _chain(op, xp, g, args):
    """∂(Σ g·op(args))/∂args as the engine computes it: a vjp, or local × g unbroadcast."""
    out = op.forward(xp, *args)
    if op.vjp is not None:
        return op.vjp(xp, g, out, *args)
    return [xp.unbroadcast(g * slope, a) for slope, a in zip(op.local(xp, out, *args), args)]


def _numeric(op, xp, g, args, k):
    grad = np.zeros(np.shape(args[k]))
    for index in np.ndindex(grad.shape):
        def loss(delta):
            moved = [np.array(a, dtype=float) for a in args]
            moved[k][index] += delta
            return float(np.sum(g * op.forward(xp, *moved)))
        grad[index] = (loss(H) - loss(-H)) / (2 * H)
    return grad


def _broadcast_args(op, rng):
    """Elementwise ops on a matrix and a row (broadcast), or on matrices for unary ops."""
    shapes = [(2, 3), (3,), (2, 3)][:_arity(op)]
    return [rng.uniform(0.2, 2.5, size=shape) * rng.choice([-1, 1], size=shape)
            if op.domain is None else rng.uniform(0.2, 2.5, size=shape) for shape in shapes]


@pytest.mark.parametrize("op", [op for op in ops.OPS if op.name != "detach"],
                         ids=lambda op: op.name)
def test_array_rules_match_central_differences_element_by_element(op):
    xp = _array_xp()
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    for _ in range(5):
        args = list(op.sample(rng)) if op.sample else _broadcast_args(op, rng)
        if op.kink is not None and op.kink(xp, op.forward(xp, *args), *args) is not None:
            continue
        g = rng.normal(size=np.shape(op.forward(xp, *args)))
        analytic = _chain(op, xp, g, args)
        for k, a in enumerate(args):
            if analytic[k] is None:  # an index: constant, no gradient
                continue
            assert np.shape(analytic[k]) == np.shape(a), (op.name, k)
            np.testing.assert_allclose(analytic[k], _numeric(op, xp, g, args, k),
                                       rtol=1e-5, atol=1e-6, err_msg=f"{op.name} arg {k}")
