"""Reductions: sum, mean, norm, and max/min of one array, over all of it or over an axis.

Each takes numpy's `axis=` (an integer, negative counting from the end, or a tuple of
them; None: every axis) and `keepdims=`. The backward of a reduction broadcasts the
upstream gradient back over the reduced axes; max and min route it to the winner of each
slice, ties as `--ties` says.
"""
from __future__ import annotations

from .base import Op, register, shape_text
from .scalar import _tie_policy

AXIS = {"axis": None, "keepdims": False}


def reduced_axes(a, axis) -> tuple[int, ...]:
    """numpy's `axis` as sorted non-negative axes of `a`: None is every axis."""
    ndim = getattr(a, "ndim", 0)
    if axis is None:
        return tuple(range(ndim))
    given = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(k % ndim for k in given))


def kept_shape(a, axes) -> tuple[int, ...]:
    """The shape of a reduction of `a` over `axes` with keepdims=True (each reduced axis 1)."""
    return tuple(1 if k in axes else n for k, n in enumerate(getattr(a, "shape", ())))


def restore(xp, g, a, axis):
    """An upstream gradient of a reduction's shape (keepdims or not), broadcast back to the
    shape of its argument `a`: the backward of summing over `axis`."""
    import numpy as np  # reductions over an axis run on arrays only

    return xp.zero(a) + np.reshape(g, kept_shape(a, reduced_axes(a, axis)))


def axis_problem(a, axis, keepdims=False):
    """(problem, "axis"|"keepdims", hint) if the attributes do not fit `a`, else None."""
    if keepdims not in (True, False):  # 0 and 1 are accepted, as numpy does
        return "keepdims is True or False", "keepdims", "write keepdims=True"
    if axis is None:
        return None
    given = axis if isinstance(axis, tuple) else (axis,)
    if any(isinstance(k, bool) or not isinstance(k, int) for k in given):
        return "an axis is a whole number or a tuple of them", "axis", \
            "write axis=1, axis=-1 or axis=(0, 1)"
    ndim = getattr(a, "ndim", 0)
    for k in given:
        if not -ndim <= k < ndim:
            if ndim == 0:
                return f"axis {k} is out of range: a single number has no axes", "axis", \
                    "drop axis=, or reduce a vector or matrix"
            return f"axis {k} is out of range for a value with {ndim} " \
                f"dimension{'s' * (ndim != 1)} (shape {shape_text(a)})", "axis", \
                f"axes run from 0 to {ndim - 1}, or from -1 to -{ndim} counting from the end"
    if len(set(reduced_axes(a, axis))) < len(given):
        return f"axis={axis} names an axis twice", "axis", "name each axis once"
    return None


def axis_domain(xp, a, *, axis, keepdims):
    """The domain of a reduction defined for any axes: only the attributes can be wrong."""
    return axis_problem(a, axis, keepdims)


def _mean_domain(xp, a, *, axis, keepdims):
    return axis_problem(a, axis, keepdims) or _empty_problem("mean", a, axis)


def _empty_problem(name, a, axis):
    """A reduction with no elements to reduce: max and mean have no value there."""
    if all(a.shape[k] for k in reduced_axes(a, axis)):
        return None
    return f"{name} over no elements has no value (shape {shape_text(a)})", 0, \
        "check the slice or the axis"


def _extreme_domain(name):
    def domain(xp, a, *, axis, keepdims):
        if getattr(a, "ndim", 0) == 0 and axis is None:
            return f"{name}(v) of one argument reduces over a vector or matrix, and this is " \
                f"a single number; for two numbers write {name}(a, b)", 0
        return axis_problem(a, axis, keepdims) or _empty_problem(name, a, axis)
    return domain


def _winners(a, out, axis):
    """1.0 where an element equals its slice's extreme `out`, else 0.0 (shape of `a`)."""
    import numpy as np

    return np.where(a == np.reshape(out, kept_shape(a, reduced_axes(a, axis))), 1.0, 0.0)


def _slices_last(a, axes):
    """`a` with the reduced axes moved last and merged into one: one row per slice, its
    elements in numpy's (C) order, so that argmax finds the first in reading order.
    Also the shape before merging, to undo it."""
    import numpy as np

    moved = np.moveaxis(np.asarray(a), axes, tuple(range(-len(axes), 0)))
    return moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,)), moved.shape


def _first_only(hits, axes):
    """Of the winners of each slice, only the first in reading order (--ties first)."""
    import numpy as np

    rows, moved_shape = _slices_last(hits, axes)
    first = np.zeros_like(rows)
    np.put_along_axis(first, rows.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return np.moveaxis(first.reshape(moved_shape), tuple(range(-len(axes), 0)), axes)


def _extreme_vjp(xp, g, out, a, *, axis, keepdims):
    """∂max/∂a: g goes to the extreme element of each slice; ties as for max(a, b)."""
    axes = reduced_axes(a, axis)
    hits = _winners(a, out, axis)
    if xp.ties == "first":
        hits = _first_only(hits, axes)
    else:
        hits = hits / hits.sum(axis=axes, keepdims=True)
    return (restore(xp, g, a, axis) * hits,)


def _extreme_tie(xp, out, a, *, axis, keepdims):
    tied = _winners(a, out, axis).sum(axis=reduced_axes(a, axis))
    if xp.all(tied < 2):
        return None
    where = "" if axis is None else f" along axis {axis}"
    return f"elements tie for the winner{where}; the gradient is {_tie_policy(xp)}"


def _extreme_branch(name):
    """Which element wins each slice: changes exactly where max or min switches winner."""
    def branch(xp, out, a, *, axis, keepdims):
        import numpy as np

        rows, _ = _slices_last(a, reduced_axes(a, axis))
        return (tuple(np.ravel(getattr(rows, f"arg{name}")(axis=-1)).tolist()),)
    return branch


def _norm(xp, a, *, axis, keepdims):
    return xp.sqrt((a * a).sum(axis=axis, keepdims=keepdims))


def _norm_vjp(xp, g, out, a, *, axis, keepdims):
    """∂‖a‖/∂a = a/‖a‖ per slice, and 0 for a slice that is all zeros (its kink)."""
    import numpy as np

    norms = restore(xp, out, a, axis)
    safe = np.where(norms == 0, 1.0, norms)
    return (np.where(norms == 0, 0.0, restore(xp, g, a, axis) * a / safe),)


def _norm_branch(xp, out, a, *, axis, keepdims):
    """Which slices have norm 0 (its kink)."""
    import numpy as np

    return (tuple(np.ravel(out == 0).tolist()),)


def _norm_kink(xp, out, a, *, axis, keepdims):
    return None if xp.all(out != 0) else "norm has no derivative at 0; local gradient taken as 0"


def _count(a, axis) -> int:
    """How many elements each mean averages."""
    count = 1
    for k in reduced_axes(a, axis):
        count *= a.shape[k]
    return count


def reduced_shape(shape: tuple, *, axis, keepdims) -> tuple | None:
    """The shape a reduction over `axis` leaves (the element limit's count, from the
    shapes alone); None where the axis is not one of the shape's (the domain says so)."""
    ndim = len(shape)
    axes = range(ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(k, int) and -ndim <= k < ndim for k in axes):
        return None
    axes = {k % ndim for k in axes}
    if keepdims:
        return tuple(1 if k in axes else n for k, n in enumerate(shape))
    return tuple(n for k, n in enumerate(shape) if k not in axes)


def _extreme(name, where):
    """max(v) or min(v), over all of v or an axis: numpy's a.max / a.min."""
    return Op(f"{name}_of", name, 1,
              lambda xp, a, *, axis, keepdims: getattr(a, name)(axis=axis, keepdims=keepdims),
              None, f"∂/∂({where} element) = 1, others 0 (ties: --ties)",
              kink=_extreme_tie, domain=_extreme_domain(name), branch=_extreme_branch(name),
              vjp=_extreme_vjp, matrix_rule=(f"{{g}} at the {where} element of {{a}}",),
              pattern="routes", keywords=AXIS, structural=True, shape=reduced_shape,
              sample=lambda rng: (rng.normal(size=(3, 4)),))


register(
    Op("sum", "Σ", 1, lambda xp, a, *, axis, keepdims: a.sum(axis=axis, keepdims=keepdims),
       None, "∂/∂a = 1 for every element", domain=axis_domain,
       vjp=lambda xp, g, out, a, *, axis, keepdims: (restore(xp, g, a, axis),),
       matrix_rule=("{g} · 1",), keywords=AXIS, structural=True, shape=reduced_shape,
       sample=lambda rng: (rng.normal(size=(2, 3)),), functions=('sum',)),
    Op("mean", "mean", 1, lambda xp, a, *, axis, keepdims: a.mean(axis=axis, keepdims=keepdims),
       None, "∂/∂a = 1/n for every element (n: how many are averaged)", domain=_mean_domain,
       vjp=lambda xp, g, out, a, *, axis, keepdims: (restore(xp, g, a, axis) / _count(a, axis),),
       matrix_rule=("{g} · 1/n",), keywords=AXIS, structural=True, shape=reduced_shape,
       sample=lambda rng: (rng.normal(size=(2, 3)),), functions=('mean',)),
    Op("norm", "‖·‖", 1, _norm, None, "∂/∂a = a / ‖a‖ (0 at a = 0)", kink=_norm_kink,
       domain=axis_domain, branch=_norm_branch, vjp=_norm_vjp, matrix_rule=("{g} · {a} / ‖{a}‖",), keywords=AXIS,
       shape=reduced_shape,
       sample=lambda rng: (rng.normal(size=3),), functions=('norm',)),
    _extreme("max", "largest"),
    _extreme("min", "smallest"),
)
