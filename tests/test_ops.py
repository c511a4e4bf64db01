"""Every entry of the op table against central finite differences, and its conventions.

The cases are generated from gradcalc.ops.OPS, so an op added to the table is tested
without anyone remembering to write a test for it.
"""
import math
import random

import pytest

from gradcalc import ops
from gradcalc.arith import FloatArith

XP = FloatArith()
H = 1e-6


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


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.name)
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
    reachable = set(ops.FUNCTIONS.values()) | set(ops.BINARY.values()) | {ops.NEGATE}
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
