"""The engine's fast loops against the plain version of the same passes.

gradcalc.run reads the graph through a flat plan, passes one and two arguments by position
instead of through a tuple, lets gradient flow into constants unchecked and drops it at
the end, and looks for overflow in one pass after the loop; nothing else may change.
The reference below is the straightforward loop (arguments as a list, every call through
*args, a gradient for every node that needs one), and on random graphs (constants,
shared nodes, n-ary max/min, user gates, kinks, ties, zero upstream gradients, domain
errors, 0 · inf) both must agree exactly: every value, local gradient, gradient and
warning.
"""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc import chain, run
from gradcalc.arith import FloatArith
from gradcalc.errors import GradcalcError
from gradcalc.exact import ExactArith
from gradcalc.lower import CONST, GATE, INPUT, lower
from gradcalc.parse import parse


def reference_forward(graph, inputs, xp):
    values = [None] * len(graph.nodes)
    warnings = []
    exact = xp.name == "exact"
    for node in graph.nodes:
        if node.kind == INPUT:
            values[node.id] = inputs[node.name]
            continue
        if node.kind == CONST:
            values[node.id] = xp.number(node.text)
            continue
        args = [values[i] for i in node.inputs]
        op = node.op
        if node.kind == GATE:
            inner = reference_forward(op.body, dict(zip(op.params, args)), xp)
            value = inner["values"][op.body.output]
            warnings += [(node.id, f"inside {op.name}: {m}") for _, m in inner["warnings"]]
        else:
            if op.domain is not None and op.domain(xp, *args) is not None:
                raise run._domain_error(graph, xp, node, args, op.domain(xp, *args))
            value = op.forward(xp, *args)
        values[node.id] = value
        if exact and not xp.is_exact(value) and all(xp.is_exact(a) for a in args):
            warnings.append((node.id, f"{op.name} cannot stay rational here; "
                                      "computed in floating point (≈)"))
        if not xp.isfinite(value) and all(xp.isfinite(a) for a in args):
            warnings.append((node.id, f"{op.name} overflowed to {value} "
                                      "(values past ±1.8e308 are not representable)"))
    return {"values": values, "warnings": warnings}


def reference_backward(graph, result, xp, upstream=1.0):
    nodes, values = graph.nodes, result["values"]
    grads = [xp.zero(values[n.id]) if n.needs_grad else None for n in nodes]
    grads[graph.output] = upstream
    reached = [False] * len(nodes)  # gradcalc.chain: some path from the output passes here
    reached[graph.output] = upstream != 0
    local = [None] * len(nodes)
    warnings = result["warnings"]
    for node in reversed(nodes):
        if not node.needs_grad or node.kind == INPUT:
            continue
        args = [values[i] for i in node.inputs]
        op = node.op
        if node.kind == GATE:
            inner = reference_forward(op.body, dict(zip(op.params, args)), xp)
            seen = len(inner["warnings"])
            reference_backward(op.body, inner, xp)
            slopes = tuple(inner["grads"][op.body.inputs[p]] for p in op.params)
            blocked = [not inner["reached"][op.body.inputs[p]] for p in op.params]
            warnings += [(node.id, f"inside {op.name}: {m}") for _, m in inner["warnings"][seen:]]
        else:
            slopes = op.local(xp, values[node.id], *args)
            blocked = [op.structural and s == 0 for s in slopes]
            if op.kink is not None and op.kink(xp, values[node.id], *args) is not None:
                warnings.append((node.id, op.kink(xp, values[node.id], *args)))
        slopes = tuple(s if nodes[i].needs_grad else None for i, s in zip(node.inputs, slopes))
        local[node.id] = slopes
        if not reached[node.id]:
            continue
        g = grads[node.id]
        for i, slope, stop in zip(node.inputs, slopes, blocked):
            if slope is None or stop:
                continue
            product = g * slope
            if product != product and g == g and slope == slope:
                warnings.append((node.id, chain.undefined(
                    xp, g, slope, True, graph.label(node, 24), graph.label(nodes[i], 24))))
            grads[i] = grads[i] + product
            reached[i] = True
    result.update(grads=grads, local=local, reached=reached)
    return result


# -- random programs -----------------------------------------------------------------

leaves = st.sampled_from(["x", "y", "z", "0", "1", "2", "0.5", "pi"])


def _combine(children):
    unary = children.flatmap(lambda a: st.sampled_from([
        f"-({a})", f"relu({a})", f"abs({a})", f"sqrt(abs({a}))", f"tanh({a})", f"exp({a})",
        f"sigmoid({a})", f"log(1 + ({a})^2)", f"({a})^2", f"g({a}, {a})", f"softplus({a})",
        f"exp(exp(exp({a})))"]))
    binary = st.tuples(children, children).flatmap(lambda ab: st.sampled_from([
        f"({ab[0]}) + ({ab[1]})", f"({ab[0]}) - ({ab[1]})", f"({ab[0]}) * ({ab[1]})",
        f"({ab[0]}) / ({ab[1]})", f"max({ab[0]}, {ab[1]})", f"min({ab[0]}, {ab[1]}, x)",
        f"max({ab[0]}, {ab[1]}, {ab[0]})", f"({ab[0]}) * ({ab[0]})", f"g({ab[0]}, {ab[1]})",
        f"pow({ab[0]}, {ab[1]})", f"x * ({ab[1]})"]))
    return st.one_of(unary, binary)


bodies = st.recursive(leaves, _combine, max_leaves=10)
GATE_DEF = "g(s, t) = max(s, t) * s + relu(t); "
programs = st.builds(lambda body, shared: GATE_DEF + (f"q = {shared}; " if shared else "")
                     + body.replace("y", "q" if shared else "y"),
                     bodies, st.one_of(st.none(), bodies))
points = st.fixed_dictionaries({n: st.integers(-2, 2) for n in ("x", "y", "z")})


def _same(a, b) -> bool:
    """Equal, NaN included, and of the same type (0 and 0.0 differ in the JSON)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) \
            and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def _both(program, point, xp, upstream):
    graph = lower(parse(program), bound=set(point))
    inputs = {name: xp.convert(value) for name, value in point.items()}
    try:
        expected = reference_backward(graph, reference_forward(graph, inputs, xp), xp, upstream)
    except GradcalcError as exc:
        with pytest.raises(type(exc)) as raised:
            run.backward(graph, run.forward(graph, inputs, xp), xp, upstream)
        assert str(raised.value) == str(exc)
        return
    got = run.backward(graph, run.forward(graph, inputs, xp), xp, upstream)
    for field in ("values", "grads", "local"):
        mine, theirs = getattr(got, field), expected[field]
        assert all(_same(a, b) for a, b in zip(mine, theirs)), (field, mine, theirs)
    assert got.warnings == expected["warnings"]


@settings(max_examples=300)
@given(programs, points, st.sampled_from(["split", "first"]), st.sampled_from([1.0, -2.0, 0.0]))
def test_floats_match_the_plain_loops(program, point, ties, upstream):
    _both(program, point, FloatArith(ties), upstream)


@settings(max_examples=150)
@given(programs, points)
def test_rationals_match_the_plain_loops(program, point):
    xp = ExactArith("split")
    _both(program, point, xp, xp.convert(1))


@pytest.mark.parametrize("program", [
    "x*x", "x*x*x + x", "max(x, x)", "sqrt(x) * 0", "max(0, sqrt(x))", "2*3 + x",
    "relu(x) + abs(x)", "1/x", "log(x)", "x^0.5", "exp(1000*x)", "g(a, b) = a*b; g(x, x)",
    "2*3", "exp(1000) * x", "g(a, b) = a*b; g(x, 2) + g(3, 4)",
])
def test_edge_cases_match_the_plain_loops(program):
    for x in (-1, 0, 2):
        _both(program, {"x": x}, FloatArith("split"), 1.0)
