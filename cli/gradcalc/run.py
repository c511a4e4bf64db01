"""Stage 3, run: the forward pass and backpropagation over a lowered graph.

Both passes are plain loops over the node list (forward in order, backward in reverse),
so their cost is linear and no depth of nesting can reach Python's recursion limit.
Every value and local gradient comes from the op table (gradcalc.ops); the loops only
fetch the arguments, call the table and keep the books, with as little else per node as
they can (benchmarks/ compares them with a bare loop that inlines the arithmetic). They
read the graph through its Plan, a flat copy of the nodes made once per graph.
"""
from __future__ import annotations

from functools import wraps

from . import chain, collector
from .arith import ExactSizeError
from .errors import DomainError, LimitError, ShapeError
from .lower import CONST, GATE, INPUT, OP, Graph

Warning = tuple[int, str]  # (node id, message)


class Pass:
    """What one forward (and then backward) pass found: per node, indexed by node id.
    (A plain class: a dataclass would compile its methods at import; slots, since a
    program of gates keeps one pass per gate call.)"""

    __slots__ = ("values", "grads", "local", "warnings", "exact", "shares", "inner", "live")

    def __init__(self, values: list, grads: list | None = None, local: list | None = None,
                 warnings: list[Warning] | None = None, exact: bool = False):
        self.values = values
        self.grads = grads  # None for nodes that depend on no input
        self.local = local  # per node, ∂node/∂input per input (None: not needed)
        self.live = None  # per node, where the backward pass reached it (gradcalc.chain)
        self.warnings = [] if warnings is None else warnings
        self.exact = exact  # computed in rationals (--exact); a float value there is approximate
        # ∂output/∂argument through each edge into a node, where it is not simply the
        # node's gradient × the edge's local gradient: summed back to the argument's shape
        # (broadcasting), or from a vector-Jacobian product (array ops, gates on arrays).
        self.shares: dict[int, list] = {}
        # per collapsed gate node, the forward pass of its body: backward reuses it, so
        # that gates calling gates run each body once per pass, not once per level
        self.inner: dict[int, Pass] = {}


def _quiet(function):
    """Run a pass inside `xp.quiet()`: numpy's warnings off for its duration only."""
    @wraps(function)
    def run_quietly(graph, data, xp, *rest):
        with xp.quiet():
            return function(graph, data, xp, *rest)
    return run_quietly


class Plan:
    """A graph as the loops read it, built on its first run and kept with it: plain tuples
    unpack several times faster than node attributes are read, and a compiled circuit
    (gradcalc.compile) runs the same graph many times."""

    __slots__ = ("constants", "steps", "backward_steps", "needs_grad", "constant_nodes")

    def __init__(self, graph: Graph):
        # constants: (id, literal). steps: (id, forward, domain, a, b) per computed node in
        # order, where a and b are the argument ids of a one- or two-argument op, b is None
        # for one argument, and a is None for what the general case handles (gates, three
        # or more arguments, array-only ops). backward_steps: (id, local, kink, a, b, mask,
        # structural) alike, in reverse, for the nodes that depend on an input; `mask` is
        # None, or which arguments depend on none (constants: their local gradient shows as
        # None); `structural` is the op's (gradcalc.chain).
        self.constants, steps, backward_steps = [], [], []
        self.needs_grad = needs = [node.needs_grad for node in graph.nodes]
        self.constant_nodes = [i for i, needed in enumerate(needs)
                               if not needed and i != graph.output]
        for node in graph.nodes:
            kind, i, ins, op = node.kind, node.id, node.inputs, node.op
            if kind == OP and len(ins) <= 2 and op.vjp is None:
                a, b = ins[0], ins[1] if len(ins) == 2 else None
                steps.append((i, op.forward, op.domain, a, b))
                if needs[i]:
                    mask = None if needs[a] and (b is None or needs[b]) else \
                        tuple(not needs[k] for k in ins)
                    backward_steps.append((i, op.local, op.kink, a, b, mask, op.structural))
            elif kind == CONST:
                self.constants.append((i, node.text))
            elif kind != INPUT:
                steps.append((i, None, None, None, None))
                if needs[i]:
                    backward_steps.append((i, None, None, None, None, None, None))
        backward_steps.reverse()
        self.steps, self.backward_steps = steps, backward_steps


def plan_of(graph: Graph) -> Plan:
    """The graph's plan, made on its first run."""
    if graph.plan is None:
        graph.plan = Plan(graph)
    return graph.plan


@collector.paused
@_quiet
def forward(graph: Graph, inputs: dict, xp) -> Pass:
    """Values of every node. `inputs` maps each input name to its value in `xp`'s numbers."""
    nodes = graph.nodes
    plan = plan_of(graph)
    values = [None] * len(nodes)
    for name, i in graph.inputs.items():
        values[i] = inputs[name]
    number = xp.number
    for i, text in plan.constants:
        values[i] = number(text)
    gate_warnings: list[Warning] = []
    inner: dict[int, Pass] = {}
    try:
        # One or two arguments go by position: a call through *args costs several times
        # as much as the op itself.
        for i, value_of, domain, a, b in plan.steps:
            if b is not None:
                a, b = values[a], values[b]
                if domain is not None and (problem := domain(xp, a, b)) is not None:
                    raise _domain_error(graph, xp, nodes[i], [a, b], problem, values)
                values[i] = value_of(xp, a, b)
            elif a is not None:
                a = values[a]
                if domain is not None and (problem := domain(xp, a)) is not None:
                    raise _domain_error(graph, xp, nodes[i], [a], problem, values)
                values[i] = value_of(xp, a)
            else:
                values[i] = _forward_other(graph, nodes[i], values, xp, gate_warnings, inner)
    except ExactSizeError as exc:
        raise LimitError(f"{exc} in {graph.label(nodes[i])}", graph.source, nodes[i].span,
                         hint="drop --exact to compute it in floating point") from None
    except ValueError as exc:  # numpy: shapes that do not broadcast
        node = nodes[i]
        raise _shape_error(graph, node, [values[k] for k in node.inputs], exc) from None
    run = Pass(values, warnings=_number_warnings(graph, values, xp, gate_warnings),
               exact=xp.name == "exact")
    run.inner = inner
    return run


def _forward_other(graph: Graph, node, values: list, xp, warnings: list, inner: dict):
    """A node the fast cases leave: a user gate, three or more arguments, an array op."""
    op = node.op
    args = [values[i] for i in node.inputs]
    if node.kind == GATE:
        body = inner[node.id] = forward(op.body, dict(zip(op.params, args)), xp)
        warnings.extend((node.id, f"inside {op.name}: {m}") for _, m in body.warnings)
        return body.values[op.body.output]
    if op.domain is not None and (problem := op.domain(xp, *args)) is not None:
        raise _domain_error(graph, xp, node, args, problem, values)
    return op.forward(xp, *args)


def _number_warnings(graph: Graph, values: list, xp, warnings: list) -> list[Warning]:
    """`warnings` (from inside gates) with, in node order, every node whose value left its
    arguments' number system: overflow to ±inf or nan, or --exact falling back to floating
    point. A pass of its own, taken only when some value is not finite or --exact is on."""
    exact = xp.name == "exact"
    isfinite = xp.isfinite
    if not exact and all(map(isfinite, values)):
        return warnings
    is_exact = xp.is_exact
    found = []
    for node in graph.nodes:
        if node.kind in (INPUT, CONST):
            continue
        value, args = values[node.id], [values[i] for i in node.inputs]
        name = node.op.name
        if exact and not is_exact(value) and all(map(is_exact, args)):
            found.append((node.id, f"{name} cannot stay rational here; "
                                   "computed in floating point (≈)"))
        if not isfinite(value) and all(map(isfinite, args)):
            found.append((node.id, f"{name} overflowed to {xp.show(value)} "
                                   "(values past ±1.8e308 are not representable)"))
    # A stable sort: at one node, the warnings from inside its gate stay first.
    return sorted(warnings + found, key=lambda warning: warning[0])


@collector.paused
@_quiet
def backward(graph: Graph, run: Pass, xp, upstream=1.0, live=None) -> Pass:
    """∂output/∂node for every node that depends on an input, by the chain rule backwards.

    A node's gradient is the sum over the nodes it feeds of (their gradient × the local
    gradient of that edge), with gradcalc.chain's rule for zeros: an edge passes nothing
    where its node is not reached or where its local gradient is a structural zero (then
    even 0 · inf is 0: sqrt at 0 behind a max that did not choose it); elsewhere 0 · inf is
    nan, with a warning. `live` says where the output is reached: by default wherever
    `upstream` is not 0 (a given 0, as in a Jacobian's seed, passes nothing). `run.live`
    keeps it for every node.
    """
    nodes = graph.nodes
    values = run.values
    plan = plan_of(graph)
    arrays = xp.name == "array"
    # Every node starts at 0; the ones that depend on no input take what flows to them
    # without a check per edge, and are set to None (no gradient) at the end.
    grads = [xp.zero(value) for value in values] if arrays else [xp.zero(0.0)] * len(nodes)
    grads[graph.output] = upstream
    reached = [False] * len(nodes)
    reached[graph.output] = upstream != 0 if live is None else live
    local = [None] * len(nodes)
    warnings = run.warnings
    needs_grad = plan.needs_grad
    for i, local_of, kink, a, b, mask, structural in plan.backward_steps:
        if a is None or arrays:
            _backward_other(graph, nodes[i], values, grads, local, warnings, xp, needs_grad,
                            run.shares, reached, run.inner)
            continue
        # A scalar through a local gradient per edge, nearly every node: the arguments by
        # position, as in forward, and gradcalc.chain's rule inlined (an edge passes if its
        # node is reached and its slope is not a structural 0); `_backward_other` does the
        # same work in general.
        out = values[i]
        upstream_grad = grads[i]
        if b is None:
            slopes = local_of(xp, out, values[a])
            if kink is not None:
                _note(warnings, i, kink(xp, out, values[a]))
            if reached[i] and (slopes[0] or not structural):
                part = upstream_grad * slopes[0]
                if part != part:
                    _undefined(graph, warnings, xp, i, a, upstream_grad, slopes[0], needs_grad)
                grads[a] = grads[a] + part
                reached[a] = True
        else:
            slope_a, slope_b = slopes = local_of(xp, out, values[a], values[b])
            if kink is not None:
                _note(warnings, i, kink(xp, out, values[a], values[b]))
            if reached[i]:
                if slope_a or not structural:
                    part = upstream_grad * slope_a
                    if part != part:
                        _undefined(graph, warnings, xp, i, a, upstream_grad, slope_a,
                                   needs_grad)
                    grads[a] = grads[a] + part
                    reached[a] = True
                if slope_b or not structural:
                    part = upstream_grad * slope_b
                    if part != part:
                        _undefined(graph, warnings, xp, i, b, upstream_grad, slope_b,
                                   needs_grad)
                    grads[b] = grads[b] + part  # read again: x*x has a == b
                    reached[b] = True
            if mask is not None:
                slopes = tuple(None if constant else s for constant, s in zip(mask, slopes))
        local[i] = slopes
    for i in plan.constant_nodes:
        grads[i] = None
    run.grads = grads
    run.local = local
    run.live = reached
    return run


def _undefined(graph: Graph, warnings: list, xp, node_id: int, arg_id: int, upstream, slope,
               needs_grad: list, fresh=True) -> None:
    """Warn about a nan that one edge made from two numbers that are not nan (0 · inf)."""
    if not needs_grad[arg_id] or fresh is True and not (upstream == upstream and
                                                        slope == slope):
        return  # a nan from above or from the local gradient is reported where it began
    nodes = graph.nodes
    warnings.append((node_id, chain.undefined(xp, upstream, slope, fresh,
                                              graph.label(nodes[node_id], 24),
                                              graph.label(nodes[arg_id], 24))))


def _backward_other(graph: Graph, node, values: list, grads: list, local: list,
                    warnings: list, xp, needs_grad: list, shares: dict, reached: list,
                    inner: dict) -> None:
    """One node of the backward pass in general: any op, gate or number system."""
    ins = node.inputs
    op = node.op
    out = values[node.id]
    upstream_grad = grads[node.id]
    live = reached[node.id]
    silent = not chain.any_of(live)
    arrays = xp.name == "array"
    args = [values[i] for i in ins]
    # Either local gradients (a factor per edge, and where each edge is blocked), or, for
    # array ops and gates on arrays, the contributions ∂f/∂arg straight from a
    # vector-Jacobian product, and where each reaches.
    slopes = contributions = None
    if node.kind == GATE:
        body = inner.get(node.id)
        if arrays:
            (contributions, passes), found = ((None, None), []) if silent else \
                gate_vjp(op, args, upstream_grad, xp, live, body)
        else:
            (slopes, blocked), found = gate_local(op, args, xp, body)
        warnings.extend((node.id, f"inside {op.name}: {m}") for _, m in found)
    else:
        if op.vjp is None:
            slopes = op.local(xp, out, *args)
            blocked = [chain.blocked_by(op, s) for s in slopes]
        elif not silent:
            contributions, passes, fresh = chain.through_vjp(
                xp, op, upstream_grad, live, out, args, [needs_grad[i] for i in ins])
            if fresh:
                warnings.append((node.id, chain.undefined_vjp(graph.label(node, 24))))
        if op.kink is not None:
            _note(warnings, node.id, op.kink(xp, out, *args))
    if slopes is not None:
        slopes = tuple(s if needs_grad[i] else None for i, s in zip(ins, slopes))
        local[node.id] = slopes
    if silent:
        return
    if contributions is None:
        contributions, passes = [], []
        for i, slope, stop, a in zip(ins, slopes, blocked, args):
            if slope is None:
                contributions.append(None)
                passes.append(None)
                continue
            part, through, fresh = chain.through_local(xp, upstream_grad, live, slope, stop)
            if chain.any_of(fresh):
                _undefined(graph, warnings, xp, node.id, i, upstream_grad, slope, needs_grad,
                           fresh)
            if arrays:
                part, through = xp.unbroadcast(part, a), chain.into(xp, through, a)
            contributions.append(part)
            passes.append(through)
    if arrays:
        shares[node.id] = [c if needs_grad[i] else None for i, c in zip(ins, contributions)]
    for i, contribution, through in zip(ins, contributions, passes):
        if contribution is not None and needs_grad[i]:
            grads[i] = grads[i] + contribution
            reached[i] = xp.where(through, True, reached[i])


def _note(warnings: list, node_id: int, message: str | None) -> None:
    if message is not None:
        warnings.append((node_id, message))


def jacobian(graph: Graph, run: Pass, xp) -> Pass:
    """Gradients of a non-scalar output with no upstream given: one backward pass per
    output element, stacked so that each node's gradient has shape out.shape + node.shape."""
    import numpy as np  # only array outputs get here

    out = run.values[graph.output]
    passes = []
    for flat in range(out.size):
        seed = np.zeros(out.size)
        seed[flat] = 1.0
        fresh = Pass(run.values)
        fresh.inner = run.inner
        passes.append(backward(graph, fresh, xp, seed.reshape(out.shape)))
    # An empty output (a slice past the end) has empty Jacobians: one pass with no seed
    # still says which nodes have a gradient at all.
    if not passes:
        fresh = Pass(run.values)
        fresh.inner = run.inner
    first = passes[0] if passes else backward(graph, fresh, xp, np.zeros(out.shape))
    run.grads = [None if grad is None else
                 np.reshape([p.grads[i] for p in passes], out.shape + np.shape(grad))
                 for i, grad in enumerate(first.grads)]
    run.local = first.local
    # Each pass meets the same kinks; a nan from 0 · inf may be met in any of them.
    for warning in (w for p in passes or [first] for w in p.warnings):
        if warning not in run.warnings:
            run.warnings.append(warning)
    return run


def gate_vjp(gate, args, upstream, xp, live, body: Pass | None = None):
    """A collapsed gate on arrays: ((∂f/∂param, where each param is reached) per param, the
    warnings met), by backprop through its body from `upstream`, reached where `live`;
    `body` is the forward pass of the body at `args`, when the caller kept it."""
    inner = body if body is not None else forward(gate.body, dict(zip(gate.params, args)), xp)
    seen = len(inner.warnings)
    backward(gate.body, inner, xp, upstream, live)
    ids = [gate.body.inputs[p] for p in gate.params]
    found = ([inner.grads[i] for i in ids], [inner.live[i] for i in ids])
    return found, _taken_warnings(inner, seen)


def gate_local(gate, args, xp, body: Pass | None = None):
    """A collapsed gate's local gradients: ((slope, whether it is a structural 0) per param,
    the kink warnings met there), by backprop through its body with upstream 1 (its
    forward warnings were reported already); `body` as for gate_vjp."""
    inner = body if body is not None else forward(gate.body, dict(zip(gate.params, args)), xp)
    seen = len(inner.warnings)
    backward(gate.body, inner, xp)
    ids = [gate.body.inputs[p] for p in gate.params]
    found = (tuple(inner.grads[i] for i in ids), [not inner.live[i] for i in ids])
    return found, _taken_warnings(inner, seen)


def _taken_warnings(inner: Pass, seen: int) -> list:
    """The warnings a backward pass added to a kept body's pass, taken off it: the pass
    is kept as its forward left it, for the next backward (one per Jacobian row)."""
    found = inner.warnings[seen:]
    del inner.warnings[seen:]
    inner.grads = inner.local = inner.live = None  # read already; the next backward makes its own
    return found


def _domain_error(graph: Graph, xp, node, args, problem: tuple,
                  values: list | None = None) -> DomainError:
    """The error of a node outside its domain: `problem` is the op's (text, culprit) or
    (text, culprit, hint), the culprit an argument (its position) or a static attribute
    (its keyword's name: axis=5), the caret under it. An op's domain may give the hint
    itself (the axes a value has); else the op's usual one. Where the culprit's value is
    a 0 that underflowed (exp(-800)), says so, since the argument is not really 0."""
    problem, culprit, *given = problem
    where = graph.label(node)
    hint = given[0] if given and given[0] else _domain_hint(node.op.name)
    if isinstance(culprit, str):
        span = (node.keyword_spans or {}).get(culprit, node.span)
        return DomainError(f"{problem} in {where}", graph.source, span, hint=hint)
    arg_node = graph.nodes[node.inputs[culprit]]
    label = graph.label(arg_node)
    value = args[culprit]
    shown = xp.show(value)
    message = f"{problem} in {where}" if _same_text(label, shown) else \
        f"{problem}: in {where}, {label} = {shown}"
    if values is not None and not xp.all(value != 0) and _underflowed(graph, values,
                                                                       arg_node.id, xp):
        message += f", but {label} is not really 0: it is too small for a float and " \
            "underflowed"
        hint = _UNDERFLOW_HINTS.get(node.op.name, _UNDERFLOW_HINTS[None])
    return DomainError(message, graph.source, arg_node.span, hint=hint)


_UNDERFLOW_HINTS = {
    "log": "write the logarithm in a stable form: -softplus(-x) for log(sigmoid(x)), x for "
           "log(exp(x)), log_softmax or logsumexp for a softmax or a sum of exponentials",
    None: "rescale so that the value stays above about 1e-308 (work with logarithms, or "
          "divide by the largest term first)",
}


def _underflowed(graph: Graph, values: list, node_id: int, xp) -> bool:
    """Whether a node's 0 is an underflow: made by an op whose value is never 0 for finite
    arguments that are not 0 (`nonzero` in the table: exp, σ, a product), from arguments
    that are not 0 or underflowed themselves. An explicit-stack walk."""
    nodes, verdict, pending = graph.nodes, {}, [node_id]
    while pending:
        node = nodes[pending[-1]]
        if node.kind != OP or not node.op.nonzero or not all(
                xp.isfinite(values[k]) for k in node.inputs):
            verdict[pending.pop()] = False
            continue
        zeros = [k for k in node.inputs if not xp.all(values[k] != 0)]
        unknown = [k for k in zeros if k not in verdict]
        if unknown:
            pending.extend(unknown)
            continue
        verdict[pending.pop()] = all(verdict[k] for k in zeros)
    return verdict[node_id]


def _same_text(label: str, shown: str) -> bool:
    """Whether an argument's source text already shows its value: `(4, -1)` is [4, -1]."""
    def bare(text):
        return "".join(text.split()).replace("(", "[").replace(")", "]").strip("[]")
    return bare(label) == bare(shown)


def _shape_error(graph: Graph, node, args, exc: ValueError) -> ShapeError:
    shapes = " and ".join(_shape_text(a) for a in args)
    return ShapeError(f"{graph.label(node)}: the shapes {shapes} do not fit together",
                      graph.source, node.span,
                      hint="elementwise operations need equal shapes, or shapes that "
                           "broadcast (a scalar, or a row added to a matrix)")


def _shape_text(value) -> str:
    shape = getattr(value, "shape", ())
    return "×".join(map(str, shape)) if shape else "scalar"


def _domain_hint(op_name: str) -> str | None:
    return {
        "log": "log needs an argument > 0; check the bindings, or use log(abs(...))",
        "sqrt": "sqrt needs an argument ≥ 0; check the bindings, or use sqrt(abs(...))",
        "div": "choose bindings that make the divisor non-zero",
        "pow": "a negative base needs an integer exponent, and a base of 0 an exponent ≥ 0",
        "conv2d": "as in the assignment: x is N×C×H×W, w is F×C×HH×WW and b has F entries; "
                  "stride ≥ 1, pad ≥ 0",
        "max_pool2d": "x is N×C×H×W; size and stride are whole numbers ≥ 1 (or pairs)",
    }.get(op_name)
