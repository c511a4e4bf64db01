"""Stage 3, run: the forward pass and backpropagation over a lowered graph.

Both passes are plain loops over the node list (forward in order, backward in reverse),
so their cost is linear and no depth of nesting can reach Python's recursion limit.
Every value and local gradient comes from the op table (gradcalc.ops); the loops only
fetch the arguments, call the table and keep the books, with as little else per node as
they can (benchmarks/ compares them with a bare loop that inlines the arithmetic).
"""
from __future__ import annotations

from functools import wraps

from . import collector
from .arith import ExactSizeError
from .errors import DomainError, LimitError, ShapeError
from .lower import CONST, GATE, INPUT, OP, Graph

Warning = tuple[int, str]  # (node id, message)


class Pass:
    """What one forward (and then backward) pass found: per node, indexed by node id.
    (A plain class: a dataclass would compile its methods at import.)"""

    def __init__(self, values: list, grads: list | None = None, local: list | None = None,
                 warnings: list[Warning] | None = None, exact: bool = False):
        self.values = values
        self.grads = grads  # None for nodes that depend on no input
        self.local = local  # per node, ∂node/∂input per input (None: not needed)
        self.warnings = [] if warnings is None else warnings
        self.exact = exact  # computed in rationals (--exact); a float value there is approximate


def _quiet(function):
    """Run a pass inside `xp.quiet()`: numpy's warnings off for its duration only."""
    @wraps(function)
    def run_quietly(graph, data, xp, *rest):
        with xp.quiet():
            return function(graph, data, xp, *rest)
    return run_quietly


@collector.paused
@_quiet
def forward(graph: Graph, inputs: dict, xp) -> Pass:
    """Values of every node. `inputs` maps each input name to its value in `xp`'s numbers."""
    nodes = graph.nodes
    values = [None] * len(nodes)
    warnings: list[Warning] = []
    isfinite = xp.isfinite
    exact, is_exact = xp.name == "exact", xp.is_exact
    for node in nodes:
        kind = node.kind
        if kind == INPUT:
            values[node.id] = inputs[node.name]
            continue
        if kind == CONST:
            values[node.id] = xp.number(node.text)
            continue
        ins = node.inputs
        op = node.op
        if kind == GATE:
            value, inner = run_gate(op, [values[i] for i in ins], xp)
            warnings.extend((node.id, f"inside {op.name}: {m}") for _, m in inner)
        else:
            # One or two arguments go by position: a call through *args costs several
            # times as much as the op itself.
            arity = len(ins)
            if arity == 1:
                a = values[ins[0]]
            elif arity == 2:
                a, b = values[ins[0]], values[ins[1]]
            else:
                args = [values[i] for i in ins]
            if op.domain is not None:
                problem = op.domain(xp, a) if arity == 1 else op.domain(xp, a, b) \
                    if arity == 2 else op.domain(xp, *args)
                if problem is not None:
                    raise _domain_error(graph, xp, node, [values[i] for i in ins], *problem)
            try:
                value = op.forward(xp, a) if arity == 1 else op.forward(xp, a, b) \
                    if arity == 2 else op.forward(xp, *args)
            except ExactSizeError as exc:
                raise LimitError(f"{exc} in {graph.label(node)}", graph.source, node.span,
                                 hint="drop --exact to compute it in floating point") from None
            except ValueError as exc:  # numpy: shapes that do not broadcast
                raise _shape_error(graph, node, [values[i] for i in ins], exc) from None
        values[node.id] = value
        if exact and not is_exact(value) and all(is_exact(values[i]) for i in ins):
            warnings.append((node.id, f"{op.name} cannot stay rational here; "
                                      "computed in floating point (≈)"))
        if not isfinite(value) and all(isfinite(values[i]) for i in ins):
            warnings.append((node.id, f"{op.name} overflowed to {xp.show(value)} "
                                      "(values past ±1.8e308 are not representable)"))
    return Pass(values, warnings=warnings, exact=exact)


@collector.paused
@_quiet
def backward(graph: Graph, run: Pass, xp, upstream=1.0) -> Pass:
    """∂output/∂node for every node that depends on an input, by the chain rule backwards.

    A node's gradient is the sum over the nodes it feeds of (their gradient × the local
    gradient of that edge). An edge whose upstream gradient is exactly 0 contributes 0,
    even where its local gradient is inf (sqrt at 0 behind a max that did not choose it).
    """
    nodes = graph.nodes
    values = run.values
    zero, is_all = xp.zero, xp.all
    # None marks the nodes that depend on no input: no gradient flows to them.
    grads = [zero(value) if node.needs_grad else None for node, value in zip(nodes, values)]
    grads[graph.output] = upstream
    local = [None] * len(nodes)
    warnings = run.warnings
    arrays = xp.name == "array"
    for node in reversed(nodes):
        if not node.needs_grad:
            continue
        ins = node.inputs
        arity = len(ins)
        if not arity:  # an input
            continue
        op = node.op
        out = values[node.id]
        upstream_grad = grads[node.id]
        silent = is_all(upstream_grad == 0)
        if node.kind == OP and op.vjp is None and not arrays and arity <= 2:
            # Scalars through a local gradient per edge, nearly every node: the arguments
            # by position, as in forward. The general case below does the same work.
            if arity == 1:
                (a,) = ins
                (slope_a,) = slopes = op.local(xp, out, values[a])
                if op.kink is not None:
                    _note(warnings, node, op.kink(xp, out, values[a]))
                if grads[a] is None:
                    slopes = (None,)
                elif not silent:
                    grads[a] = grads[a] + upstream_grad * slope_a
            else:
                a, b = ins
                slope_a, slope_b = slopes = op.local(xp, out, values[a], values[b])
                if op.kink is not None:
                    _note(warnings, node, op.kink(xp, out, values[a], values[b]))
                grad_a, grad_b = grads[a], grads[b]
                if grad_a is None or grad_b is None:
                    slopes = (None if grad_a is None else slope_a,
                              None if grad_b is None else slope_b)
                if not silent and grad_a is not None:
                    grads[a] = grad_a + upstream_grad * slope_a
                if not silent and grad_b is not None:  # read again: x*x has a == b
                    grads[b] = grads[b] + upstream_grad * slope_b
            local[node.id] = slopes
            continue
        args = [values[i] for i in ins]
        # Either local gradients (a factor per edge), or, for array ops and gates on
        # arrays, the contributions ∂f/∂arg straight from a vector-Jacobian product.
        slopes = contributions = None
        if node.kind == GATE:
            if arrays:
                contributions, inner = (None, []) if silent else \
                    gate_vjp(op, args, upstream_grad, xp)
            else:
                slopes, inner = gate_local(op, args, xp)
            warnings.extend((node.id, f"inside {op.name}: {m}") for _, m in inner)
        else:
            if op.vjp is None:
                slopes = op.local(xp, out, *args)
            elif not silent:
                contributions = op.vjp(xp, upstream_grad, out, *args)
            if op.kink is not None:
                _note(warnings, node, op.kink(xp, out, *args))
        if slopes is not None:
            slopes = tuple(None if grads[i] is None else s for i, s in zip(ins, slopes))
            local[node.id] = slopes
        if silent:
            continue
        if contributions is None:
            contributions = [None if s is None else upstream_grad * s for s in slopes]
            if arrays:
                contributions = [c if c is None else xp.unbroadcast(c, a)
                                 for c, a in zip(contributions, args)]
        for i, contribution in zip(ins, contributions):
            if contribution is not None and grads[i] is not None:
                grads[i] = grads[i] + contribution
    run.grads = grads
    run.local = local
    return run


def _note(warnings: list, node, message: str | None) -> None:
    if message is not None:
        warnings.append((node.id, message))


def jacobian(graph: Graph, run: Pass, xp) -> Pass:
    """Gradients of a non-scalar output with no upstream given: one backward pass per
    output element, stacked so that each node's gradient has shape out.shape + node.shape."""
    import numpy as np  # only array outputs get here

    out = run.values[graph.output]
    passes = []
    for flat in range(out.size):
        seed = np.zeros(out.size)
        seed[flat] = 1.0
        passes.append(backward(graph, Pass(run.values), xp, seed.reshape(out.shape)))
    run.grads = [None if grad is None else
                 np.stack([p.grads[i] for p in passes]).reshape(out.shape + np.shape(grad))
                 for i, grad in enumerate(passes[0].grads)]
    run.local = passes[0].local
    run.warnings += passes[0].warnings
    return run


def run_gate(gate, args, xp):
    """A collapsed user gate's value: the forward pass of its body."""
    inner = forward(gate.body, dict(zip(gate.params, args)), xp)
    return inner.values[gate.body.output], inner.warnings


def gate_vjp(gate, args, upstream, xp):
    """A collapsed gate on arrays: ∂f/∂param by backprop through its body from `upstream`."""
    inner = forward(gate.body, dict(zip(gate.params, args)), xp)
    seen = len(inner.warnings)
    backward(gate.body, inner, xp, upstream)
    grads = tuple(inner.grads[gate.body.inputs[p]] for p in gate.params)
    return grads, inner.warnings[seen:]


def gate_local(gate, args, xp):
    """A collapsed gate's local gradients: backprop through its body with upstream 1,
    and the kink warnings met there (its forward warnings were reported already)."""
    inner = forward(gate.body, dict(zip(gate.params, args)), xp)
    seen = len(inner.warnings)
    backward(gate.body, inner, xp)
    slopes = tuple(inner.grads[gate.body.inputs[p]] for p in gate.params)
    return slopes, inner.warnings[seen:]


def _domain_error(graph: Graph, xp, node, args, problem: str, culprit: int) -> DomainError:
    arg_node = graph.nodes[node.inputs[culprit]]
    label = graph.label(arg_node)
    value = args[culprit]
    where = graph.label(node)
    shown = xp.show(value)
    message = f"{problem} in {where}" if label == shown else \
        f"{problem}: in {where}, {label} = {shown}"
    return DomainError(message, graph.source,
                       arg_node.span, hint=_domain_hint(node.op.name))


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
    }.get(op_name)
