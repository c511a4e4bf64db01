"""Constants made from sizes: arange, zeros, ones, eye, one_hot (numpy's and PyTorch's).

Their arguments are sizes and labels, not values to differentiate: every argument is a
constant argument, so an input used only there has no gradient (—), and the result is a
constant of the graph. Each is refused past MAX_ELEMENTS elements, so that a size typed
by mistake is an error and not a memory exhaustion.
"""
from __future__ import annotations

import math

from ..limits import MAX_DIMENSIONS, MAX_ELEMENTS
from .base import Op, register
from .base import shape_text as _shape
from .shapes import read_shape, read_sizes

_ALL = tuple(range(MAX_DIMENSIONS + 1))  # every argument is a constant argument
_CONSTANT_RULE = "no gradient: its arguments are sizes or labels, not values"


def _no_gradient(xp, g, out, *args):
    return (None,) * len(args)


def _too_big(count: float, what: str) -> str | None:
    if count <= MAX_ELEMENTS:
        return None
    shown = f"{count:,.0f}" if count < 1e15 else f"{count:.3g}"
    return f"{what} would have {shown} elements, more than the {MAX_ELEMENTS:,} " \
        "gradcalc makes at once"


def _shape_problem(xp, args, name: str):
    """The shape of zeros(shape) / ones(shape): one tuple or number (numpy's zeros((2, 3)),
    zeros(3)) or one number per size (PyTorch's zeros(2, 3)).
    → (shape, None) or (None, (problem, culprit))."""
    sizes, problem = read_shape(xp, args, 0)
    if problem:
        return None, problem
    if any(size < 0 for size in sizes):
        return None, (f"the shape {sizes} has a negative size", 0)
    if problem := _too_big(math.prod(sizes), name):
        return None, (problem, 0)
    return sizes, None


def _filled(name: str, fill: float) -> Op:
    def forward(xp, *shape):
        import numpy as np

        return np.full(_shape_problem(xp, shape, name)[0], fill)

    return Op(name, name, None, forward, None, _CONSTANT_RULE,
              domain=lambda xp, *shape: _shape_problem(xp, shape, name)[1],
              vjp=_no_gradient, constant_args=_ALL, functions=(name,),
              sample=lambda rng: ((2.0, 3.0),),
              written=(f"{name}(n)", f"{name}((n, m))", f"{name}(n, m)"))


def _arange_problem(xp, *args):
    """numpy's arange(stop), arange(start, stop) and arange(start, stop, step)."""
    import numpy as np

    if len(args) > 3:
        return "arange takes at most three arguments: arange(start, stop, step)", 3
    for k, arg in enumerate(args):
        if np.ndim(arg) != 0 or not np.isfinite(arg):
            return f"arange's arguments are finite single numbers, and this is " \
                f"{xp.show(arg) if np.ndim(arg) == 0 else 'of shape ' + _shape(arg)}", k
    start, stop, step = (0.0, args[0], 1.0) if len(args) == 1 else (*args[:2], 1.0) \
        if len(args) == 2 else args
    if step == 0:
        return "arange's step cannot be 0", 2
    count = max(0.0, float(np.ceil((stop - start) / step)))  # inf past the float range
    if problem := _too_big(count, "arange"):
        return problem, min(1, len(args) - 1)
    return None


def _arange_forward(xp, *args):
    import numpy as np

    return np.arange(*args, dtype=np.float64)


def _eye_problem(xp, *args):
    """numpy's eye(n) and eye(n, m)."""
    if len(args) > 2:
        return "eye takes one or two sizes: eye(n), eye(n, m)", 2
    sizes, problem = read_sizes(xp, args, 0)
    if problem:
        return problem
    for k, size in enumerate(sizes):
        if size < 0:
            return f"a size cannot be negative, and this is {size}", k
    problem = _too_big(sizes[0] * sizes[-1], "eye")
    return None if problem is None else (problem, 0)


def _eye_forward(xp, *args):
    import numpy as np

    return np.eye(*(int(size) for size in args))


def _one_hot_problem(xp, labels, classes):
    """Labels are whole numbers in 0..C-1 (PyTorch's one_hot(y, num_classes))."""
    import numpy as np

    sizes, problem = read_sizes(xp, (classes,), 1)
    if problem:
        return problem
    count = sizes[0]
    if count < 1:
        return f"the number of classes must be at least 1, and it is {count}", 1
    values = np.asarray(labels)
    whole = np.isfinite(values) & (np.mod(values, 1) == 0)
    if not np.all(whole):
        bad = values.flat[int(np.argmax(~whole))]
        return f"a label must be a whole number, and {xp.show(bad)} is not", 0
    outside = (values < 0) | (values >= count)
    if np.any(outside):
        bad = values.flat[int(np.argmax(outside))]
        return f"label {xp.show(bad)} is out of range for {count} classes (labels run 0 " \
            f"to {count - 1})", 0
    if values.ndim + 1 > MAX_DIMENSIONS:
        return f"labels of {values.ndim} dimensions: values have at most {MAX_DIMENSIONS}", 0
    problem = _too_big(values.size * count, "one_hot")
    return None if problem is None else (problem, 1)


def _one_hot_forward(xp, labels, classes):
    import numpy as np

    return np.eye(int(classes))[np.asarray(labels).astype(np.intp)]


register(
    Op("arange", "arange", None, _arange_forward, None, _CONSTANT_RULE,
       domain=_arange_problem, vjp=_no_gradient, constant_args=_ALL, functions=("arange",),
       sample=lambda rng: (1.0, 7.0, 2.0),
       written=("arange(stop)", "arange(start, stop)", "arange(start, stop, step)")),
    _filled("zeros", 0.0),
    _filled("ones", 1.0),
    Op("eye", "eye", None, _eye_forward, None, _CONSTANT_RULE, domain=_eye_problem,
       vjp=_no_gradient, constant_args=_ALL, functions=("eye",), sample=lambda rng: (3.0,),
       written=("eye(n)", "eye(n, m)")),
    Op("one_hot", "one_hot", 2, _one_hot_forward, None, _CONSTANT_RULE,
       domain=_one_hot_problem, vjp=_no_gradient, constant_args=(0, 1),
       functions=("one_hot",), sample=lambda rng: (rng.integers(0, 3, size=4) + 0.0, 3.0),
       written=("one_hot(y, C)",)),
)
