"""Underflow that matters: a value flushed to 0 where the answer still depends on it.

exp(-800) is 0 in floating point, though its true value is about 1e-348. Mostly that is
harmless (exp(-800) + 1 is 1 either way), but a large factor downstream brings the lost
value back into range: exp(-800)*1e300*y is about 3.6e-48·y, and it is computed as 0, with
∂f/∂y = 0. Such a 0 is found where it starts, at an op whose value is never 0 for finite
arguments that are not 0 (`nonzero` in the op table: exp, σ, softplus, a product, a
quotient, a power). Whether it matters is measured, not guessed: the pass is run again
with the smallest float (±5e-324, an upper bound of the lost value) in place of each such
0, and the output and the inputs' gradients compared. A change larger than rounding
(relative 2^-52) and than the subnormal range (2^-1022) is reported as a warning on the
node, with the figures.
"""
from __future__ import annotations

import math

from .errors import GradcalcError
from .lower import CONST, INPUT, OP, Graph

SMALLEST = 5e-324  # 2^-1074, the smallest positive float
NOTICEABLE = 2.0 ** -1022  # below this, a change is lost in the subnormal range anyway
ROUNDING = 2.0 ** -52


def underflow_warnings(graph: Graph, run, xp, upstream) -> list:
    """Warnings (node id, message) for the 0s from underflow that change the output or an
    input's gradient of a pass that went forward and backward with `upstream`; none in
    --exact (rationals do not underflow)."""
    if xp.name not in ("float", "array"):
        return []
    values = run.values
    origins = {node.id: mask for node in graph.nodes
               if node.kind == OP and node.op.nonzero
               and (mask := _underflowed(xp, values[node.id],
                                         [values[k] for k in node.inputs])) is not None}
    if not origins:
        return []
    from .run import Pass, backward

    try:
        again = Pass([])
        with xp.quiet():  # as gradcalc.run's passes: overflow is reported on the node
            again.values = _rerun(graph, values, xp, origins, again.inner)
        backward(graph, again, xp, upstream)
    except GradcalcError:  # the smallest float outside some op's domain: nothing to compare
        return []
    effects = []
    output = graph.output
    if (change := _change(xp, values[output], again.values[output])) is not None:
        effects.append(f"f by {change:.3g}")
    for name, i in graph.inputs.items():
        old, new = run.grads[i], again.grads[i]
        if old is not None and new is not None and (change := _change(xp, old, new)):
            effects.append(f"∂f/∂{name} by {change:.3g}")
    if not effects:
        return []
    return [(i, message(graph.nodes[i].op.name, f"putting the smallest float in its place "
                        f"changes {_and(effects)}, so "
                        f"{'this is' if len(effects) == 1 else 'these are'} not accurate"))
            for i in origins]


def message(op_name: str, effect: str) -> str:
    """The warning of an underflow at an `op_name` node that mattered, as `effect` says."""
    return (f"{op_name} underflowed to 0 (its true size is below 5e-324, the smallest "
            f"float), and the answer depends on it: {effect}. Keep the value in range: bring "
            "the large factor in first ((1e-200*1e300)*x), or combine exponents before "
            "exponentiating (exp(a + log(c)) for exp(a)*c)")


def _and(items: list) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _underflowed(xp, value, args):
    """Where `value` is a 0 made from finite arguments that are not 0: True for a scalar,
    a boolean mask for an array; None where there is none."""
    if xp.name == "float":
        return True if value == 0 and all(a != 0 and math.isfinite(a) for a in args) \
            else None
    mask = origin_mask(value, args)
    return mask if mask.any() else None


def origin_mask(value, args):
    """Where an array `value` is a 0 made from finite arguments that are not 0."""
    import numpy as np

    mask = np.asarray(value) == 0
    for a in args:
        mask = mask & (np.asarray(a) != 0) & np.isfinite(a)
    return mask


def _rerun(graph: Graph, values: list, xp, origins: dict, inner: dict) -> list:
    """The forward pass again from the first origin on, each origin's 0s replaced by the
    smallest float of the same sign (IEEE underflow keeps the sign: -1e-200 * 1e-200 is
    -0.0); gate bodies' passes go to `inner`, for the backward pass. The general path of
    gradcalc.run; a rare and short detour."""
    from .run import _forward_other

    values = list(values)
    first = min(origins)
    for node in graph.nodes[first:]:
        i = node.id
        if node.kind not in (INPUT, CONST):
            values[i] = _forward_other(graph, node, values, xp, [], inner)
        if i in origins:
            values[i] = _smallest_in_place(xp, values[i], origins[i])
    return values


def _smallest_in_place(xp, value, mask):
    if xp.name == "float":
        return math.copysign(SMALLEST, value)
    return smallest_where(value, mask)


def smallest_where(value, mask):
    """An array `value` with its 0s at `mask` replaced by the smallest float of their sign."""
    import numpy as np

    return np.where(mask, np.copysign(SMALLEST, value), value)


def _change(xp, old, new) -> float | None:
    """The largest change from `old` to `new`, if it is larger than rounding and the
    subnormal range; else None."""
    if xp.name == "float":
        change = abs(new - old)
        return change if change > max(ROUNDING * abs(old), NOTICEABLE) else None
    import numpy as np

    beyond = moved(old, new)
    with np.errstate(all="ignore"):
        return float(np.abs(np.subtract(new, old))[beyond].max()) if beyond.any() else None


def moved(old, new):
    """Where an array `new` differs from `old` by more than rounding and the subnormal
    range."""
    import numpy as np

    with np.errstate(all="ignore"):
        return np.abs(np.subtract(new, old)) > np.maximum(ROUNDING * np.abs(old), NOTICEABLE)
