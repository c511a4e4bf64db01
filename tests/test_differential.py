"""Random expressions over every built-in with a local rule, at points spread over the whole
float range, against mpmath at 50 digits, in the scalar, vector and batch paths.

Expressions are generated from the op table (operators, functions, n-ary max/min), so ops
added to it join. The oracle follows the run node by node: at each node it takes the
float arguments the run computed and differentiates the op's forward rule in mpmath
(tests/mp_oracle), then backpropagates in mpmath, where nothing overflows and a zero is a
true zero. This checks what the engine promises about the backward pass: given the
forward values, every gradient is right to 1e-12 of the sum of the magnitudes of its
terms (the condition of that sum), or is NaN/inf with a warning that says why. At a kink
(where an op answers with its stated convention, and warns) a finite gradient is not
compared. Where a value overflowed, the oracle is the whole expression in mpmath instead,
and a finite gradient must agree with it to 1e-9.

The suite runs 150 expressions; GRADCALC_FUZZ=long runs 5,000
(GRADCALC_FUZZ_EXAMPLES=N for another number).
"""
import math
import os
import random
import re

import mpmath
import pytest

import gradcalc
from gradcalc import ops, run
from gradcalc.arith import FloatArith
from gradcalc.errors import GradcalcError
from gradcalc.lower import CONST, INPUT

from mp_oracle import MP, SMALLEST_NORMAL, derivative
from test_accuracy import SPECIAL, _number

LONG = os.environ.get("GRADCALC_FUZZ") == "long"
EXAMPLES = int(os.environ.get("GRADCALC_FUZZ_EXAMPLES", 5_000 if LONG else 0)) or 150
RELATIVE = 1e-12
FLOAT = FloatArith()
np = pytest.importorskip("numpy")

# where(cond, a, b) takes no gradient in cond, and detach's gradient is 0 by convention
# (PyTorch's), not the derivative of its value: neither has an oracle in mpmath.
LOCAL_OPS = [op for op in ops.OPS if op.local is not None and op.vjp is None
             and op.name not in ("where", "detach")]
SYMBOL = {op: symbol for symbol, op in ops.BINARY.items()}
LEAVES = ["x", "y", "x", "y", "2", "0.5", "3"]


def _call(op, args: list[str]) -> str:
    """The op applied to argument texts, as the language writes it."""
    if op in SYMBOL:
        return f"({args[0]}) {SYMBOL[op]} ({args[1]})"
    if op is ops.NEGATE:
        return f"-({args[0]})"
    return f"{op.functions[0]}({', '.join(args)})"


def expression(rng: random.Random, depth: int = 4) -> str:
    if depth == 0 or depth < 4 and rng.random() < 0.3:
        return rng.choice(LEAVES)
    op = rng.choice([op for op in LOCAL_OPS if op in SYMBOL or op is ops.NEGATE
                     or op.functions])
    count = op.arity if op.arity is not None else rng.choice((2, 3))
    return _call(op, [expression(rng, depth - 1) for _ in range(count)])


def coordinate(rng: random.Random) -> float:
    return rng.choice(SPECIAL) if rng.random() < 0.3 else _number(rng)


def cases(count: int):
    rng = random.Random(14)
    for _ in range(count):
        source = expression(rng)
        if not re.search(r"\b[xy]\b", source):
            source = f"({source}) * x"
        yield source, [{"x": coordinate(rng), "y": coordinate(rng)} for _ in range(4)]


def oracle(graph, value_of):
    """∂output/∂input for every input, in mpmath, from the run's float values
    (`value_of(node_id)`), with the allowed error of each: (gradients, bounds)."""
    nodes = graph.nodes
    grads = {graph.output: mpmath.mpf(1)}
    bounds = {graph.output: mpmath.mpf(0)}
    for node in reversed(nodes):
        if node.kind in (INPUT, CONST) or node.id not in grads:
            continue
        args = [value_of(i) for i in node.inputs]
        g, bound = grads[node.id], bounds[node.id]
        for k, i in enumerate(node.inputs):
            if nodes[i].kind == CONST:
                continue
            slope = derivative(lambda *a: node.op.forward(MP, *a), args, k)
            term = g * slope if g != 0 and slope != 0 else mpmath.mpf(0)
            # 1e-12 of each term, what came from above scaled by this slope, and a factor
            # or a product below the normal range (its digits are gone in any float).
            allowed = RELATIVE * abs(term) + bound * abs(slope) + SMALLEST_NORMAL * (
                1 + abs(g) + abs(slope))
            grads[i] = grads.get(i, 0) + term
            bounds[i] = bounds.get(i, 0) + allowed
    return ({name: grads.get(i, mpmath.mpf(0)) for name, i in graph.inputs.items()},
            {name: bounds.get(i, mpmath.mpf(0)) for name, i in graph.inputs.items()})


def _finite_values(graph, value_of) -> bool:
    return all(math.isfinite(value_of(node.id)) for node in graph.nodes)


def _kinked(graph, value_of) -> bool:
    """Whether some node sits at a kink, where the op answers with a stated convention."""
    for node in graph.nodes:
        if node.op is not None and node.op.kink is not None:
            args = [value_of(i) for i in node.inputs]
            if node.op.kink(FLOAT, value_of(node.id), *args) is not None:
                return True
    return False


def _verdict(name, got, truth, bound, warned, kinked, context):
    """The contract for one gradient: non-finite only with a warning, and right unless at a
    kink (where a convention answers, with its warning)."""
    if not math.isfinite(got):
        assert warned, ("a non-finite gradient without a warning", name, got, context)
    elif not kinked:
        assert abs(mpmath.mpf(got) - truth[name]) <= bound[name], (
            name, got, truth[name], bound[name], context)


def _scalar(source, point):
    try:
        return gradcalc.evaluate(source, **point)
    except GradcalcError:
        return None  # outside a domain at this point: an error, tested elsewhere


def whole(graph, point, name):
    """∂output/∂name of the whole expression in mpmath (no value overflows there): the
    oracle where the run's own values overflowed."""
    def output(t):
        inputs = {n: mpmath.mpf(v) for n, v in point.items() if n in graph.inputs}
        inputs[name] = t
        return run.forward(graph, inputs, MP).values[graph.output]
    try:
        return derivative(output, [point[name]], 0)
    except GradcalcError:
        return None  # leaves a domain on one side (x^y at y an integer, x < 0): no derivative
    except OverflowError:
        return None  # past even mpmath (exp(exp(exp(710))) has too many digits): no oracle


def _overflowed(result, point, context):
    """A run whose values overflowed: a finite gradient must still be the whole
    expression's (to 1e-9: the run's rounding is not followed here), unless at a kink."""
    graph, values = result.graph, result.run.values
    assert result.warnings, context
    if _kinked(graph, lambda i: values[i]):
        return
    for name, got in result.gradients.items():
        if math.isfinite(got):
            truth = whole(graph, point, name)
            if truth is None:
                continue
            assert isinstance(truth, mpmath.mpf) and mpmath.isfinite(truth) and abs(
                got - truth) <= 1e-9 * abs(truth) + SMALLEST_NORMAL, (name, got, truth, context)


@pytest.mark.parametrize("chunk", range(3))
def test_scalar_gradients_agree_with_mpmath_or_are_flagged(chunk):
    checked = 0
    for n, (source, points) in enumerate(cases(EXAMPLES)):
        if n % 3 != chunk:
            continue
        for point in points:
            result = _scalar(source, point)
            if result is None:
                continue
            graph, values = result.graph, result.run.values
            used = {name: point[name] for name in graph.inputs}
            if not _finite_values(graph, lambda i: values[i]):
                _overflowed(result, used, (source, used))
                continue
            kinked = _kinked(graph, lambda i: values[i])
            truth, bound = ({}, {}) if kinked else oracle(graph, lambda i: values[i])
            for name, got in result.gradients.items():
                _verdict(name, got, truth, bound, bool(result.warnings), kinked,
                         (source, used))
            checked += 1
    assert checked > EXAMPLES // 6  # most points are inside the domains


@pytest.mark.parametrize("chunk", range(3))
def test_vector_and_batch_paths_agree_with_mpmath_or_are_flagged(chunk):
    """All the points of an expression at once: bound as vectors (the array engine, upstream
    1 for each element) and as a batch; each element against the oracle from the vector
    run's own values."""
    for n, (source, points) in enumerate(cases(EXAMPLES)):
        if n % 3 != chunk:
            continue
        good = [point for point in points if _scalar(source, point) is not None]
        if not good:
            continue
        names = [name for name in ("x", "y") if name in _scalar(source, good[0]).graph.inputs]
        columns = {name: [point[name] for point in good] for name in names}
        vector = gradcalc.evaluate(source, upstream=[1.0] * len(good), **columns)
        batch = gradcalc.batch(source, {name: np.array(c) for name, c in columns.items()})
        graph, values = vector.graph, vector.run.values
        for k, point in enumerate(good):
            def value_of(i):
                return float(np.broadcast_to(values[i], (len(good),))[k])
            warned = bool(vector.warnings)  # a warning names no element
            if not _finite_values(graph, value_of):
                assert vector.warnings
                continue
            kinked = _kinked(graph, value_of)
            truth, bound = ({}, {}) if kinked else oracle(graph, value_of)
            for name in names:
                got = float(np.broadcast_to(vector.gradients[name], (len(good),))[k])
                _verdict(name, got, truth, bound, warned, kinked, (source, point))
                in_batch = float(batch[f"grad_{name}"][k])
                if math.isfinite(got) and not kinked:
                    assert abs(mpmath.mpf(in_batch) - truth[name]) <= bound[name], \
                        ("batch", name, in_batch, got, source, point)
                else:
                    assert math.isfinite(in_batch) == math.isfinite(got) or \
                        batch.warnings, ("batch", name, in_batch, got, source, point)

