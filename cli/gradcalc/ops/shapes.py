"""Indexing and shapes: the matrix product (batched, as numpy's matmul), transpose with
axes, reshape, concatenate and stack, indexing and list literals."""
from __future__ import annotations

import math

from .base import Op, register
from ..limits import MAX_DIMENSIONS
from .base import shape_text as _shape


def _matmul_vjp(xp, g, out, a, b, wanted=(True, True)):
    """The backward of a @ b, numpy's matmul: ∂f/∂a = g·bᵀ, ∂f/∂b = aᵀ·g per matrix of a
    stack, summed over the batch dimensions an operand was broadcast along; a vector
    operand counts as a row (left) or a column (right), as numpy's rule says. Only the
    `wanted` ones are computed (None for the others)."""
    import numpy as np

    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = np.asarray(g, dtype=np.float64)
    if b.ndim == 1:
        g2 = g2[..., None]
    if a.ndim == 1:
        g2 = g2[..., None, :]
    grad_a = xp.unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2).reshape(a.shape) \
        if wanted[0] else None
    grad_b = xp.unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2).reshape(b.shape) \
        if wanted[1] else None
    return grad_a, grad_b


def _matmul_domain(xp, a, b):
    """Vectors, matrices or stacks of matrices whose inner sizes agree and whose batch
    dimensions broadcast (numpy's matmul)."""
    import numpy as np

    if a.ndim == 0 or b.ndim == 0:
        return "@ needs vectors or matrices on both sides (use * for a scalar)", \
            0 if a.ndim == 0 else 1
    rows_of_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != rows_of_b:
        return f"shapes {_shape(a)} and {_shape(b)} do not fit: a @ b needs the columns " \
            "of a to equal the rows of b", 1
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return f"shapes {_shape(a)} and {_shape(b)} do not fit: the stacks of matrices " \
            f"have batch sizes {_batch(a)} and {_batch(b)}, which do " \
            "not broadcast (each size equal, or 1)", 1
    return None


def _batch(a) -> str:
    return "×".join(map(str, a.shape[:-2]))


def _dot_domain(xp, a, b):
    """As @, except that numpy's dot with a stack on the right is a different product."""
    if getattr(b, "ndim", 0) > 2:
        return f"dot(a, b) with b of shape {_shape(b)} is numpy's tensor dot, which " \
            "gradcalc does not compute; for stacks of matrices write a @ b", 1
    return _matmul_domain(xp, a, b)


# -- reshape and transpose -------------------------------------------------------------
def read_sizes(xp, args, offset: int):
    """The whole numbers a shape or a set of axes is written with: one tuple or number
    (`reshape(x, (2, -1))`, `zeros(3)`) or one number per argument (numpy's method
    spelling `x.reshape(2, -1)`). `offset` is the position of args[0] among the op's
    arguments. → (sizes, None), or (None, (problem, culprit position))."""
    import numpy as np

    if len(args) == 1 and np.ndim(args[0]) == 1:
        values, positions = np.asarray(args[0]), [offset] * np.size(args[0])
    else:
        for k, arg in enumerate(args):
            if np.ndim(arg) != 0:
                return None, ("a shape is one tuple such as (2, 3), or one whole number per "
                              f"size, and this is a value of shape {_shape(arg)}", offset + k)
        values, positions = np.asarray(args, dtype=np.float64), range(offset, offset + len(args))
    for value, position in zip(values, positions):
        if not (np.isfinite(value) and value == int(value)):
            return None, (f"a size or axis is a whole number, and {xp.show(value)} is not",
                          position)
    return tuple(int(value) for value in values), None


def read_shape(xp, args, offset: int):
    """read_sizes for a shape: at most MAX_DIMENSIONS sizes."""
    sizes, problem = read_sizes(xp, args, offset)
    if problem is None and len(sizes) > MAX_DIMENSIONS:
        return None, (f"a shape of {len(sizes)} sizes: values have at most {MAX_DIMENSIONS} "
                      "dimensions", offset)
    return sizes, problem


def _written(sizes) -> str:
    """A shape as numpy writes it: (2, -1), (6,)."""
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(map(str, sizes))})"


def _reshape_target(xp, a, shape_args):
    """The shape reshape(a, shape) makes, its -1 worked out (numpy's rule).
    → (shape, None), or (None, (problem, culprit position))."""
    import numpy as np

    sizes, problem = read_shape(xp, shape_args, 1)
    if problem:
        return None, problem
    if sizes.count(-1) > 1 or any(size < -1 for size in sizes):
        return None, (f"the shape {_written(sizes)} has a negative size other than one -1 "
                      "(which stands for the size that makes it fit)", 1)
    count, known = np.size(a), math.prod(size for size in sizes if size != -1)
    if -1 in sizes and known and count % known == 0:
        return tuple(count // known if size == -1 else size for size in sizes), None
    if -1 not in sizes and known == count:
        return sizes, None
    why = f"{count} is not a multiple of {known}" if -1 in sizes else f"it holds {known}"
    return None, (f"cannot reshape a value of shape {_shape(a)} ({count} elements) into shape "
                  f"{_written(sizes)}: {why}; a shape that fits is, e.g., "
                  f"{_written(_fitting(count, sizes, np.shape(a)))}", 1)


def _fitting(count, sizes, shape):
    """A shape holding `count` elements close to the one asked for: its first size that
    divides `count` followed by -1, else the value's own first size and -1."""
    for size in sizes:
        if size > 0 and count % size == 0 and size != count:
            return size, -1
    return (shape[0], -1) if shape and shape[0] and count else (-1,)


def _reshape_domain(xp, a, *shape):
    return _reshape_target(xp, a, shape)[1]


def _reshape_forward(xp, a, *shape):
    import numpy as np

    return np.reshape(a, _reshape_target(xp, a, shape)[0])


def _reshape_vjp(xp, g, out, a, *shape):
    import numpy as np

    return (np.reshape(g, np.shape(a)),) + (None,) * len(shape)


def _permutation(xp, a, positional, axes):
    """The axes of transpose(a, ...) as numpy reads them, each in 0..ndim-1: from the
    keyword `axes=`, from positional arguments (`a.transpose(1, 0, 2)`), or reversed
    when neither is given (a.T). → (axes, None), or (None, (problem, culprit))."""
    ndim = getattr(a, "ndim", 0)
    if positional and axes is not None:
        return None, ("the axes are given twice, by position and as axes=", "axes")
    if not positional and axes is None:
        return tuple(reversed(range(ndim))), None
    culprit = 1 if positional else "axes"
    given = positional if positional else (axes if isinstance(axes, tuple) else (axes,))
    sizes, problem = read_sizes(xp, given, 1)
    if problem:
        return None, (problem[0], culprit if isinstance(culprit, str) else problem[1])
    if len(sizes) != ndim:
        return None, (f"the axes {_written(sizes)} name {len(sizes)} "
                      f"ax{'i' if len(sizes) == 1 else 'e'}s, and a value of "
                      f"shape {_shape(a)} has {ndim}: give each axis once", culprit)
    for axis in sizes:
        if problem := axis_problem(axis, ndim):
            return None, (problem, culprit)
    normal = tuple(axis % ndim for axis in sizes)
    if len(set(normal)) != ndim:
        repeated = next(axis for axis in normal if normal.count(axis) > 1)
        return None, (f"the axes {_written(sizes)} name axis {repeated} twice: give each "
                      "axis once", culprit)
    return normal, None


def axis_problem(axis, ndim: int) -> str | None:
    """Why `axis` is not an axis of a value with `ndim` dimensions (negative counts from
    the end, as in numpy), or None."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        return f"an axis is a whole number, and {axis!r} is not"
    if -ndim <= axis < ndim:
        return None
    if ndim == 0:
        return f"axis {axis} is out of range: a single number has no axes"
    return f"axis {axis} is out of range for a value with {ndim} dimension" \
        f"{'s' * (ndim != 1)} (axes run 0 to {ndim - 1}; -1 is the last)"


def _transpose_domain(xp, a, *positional, axes):
    return _permutation(xp, a, positional, axes)[1]


def _transpose_forward(xp, a, *positional, axes):
    import numpy as np

    return a if np.ndim(a) == 0 else np.transpose(a, _permutation(xp, a, positional, axes)[0])


def _transpose_vjp(xp, g, out, a, *positional, axes):
    import numpy as np

    order = _permutation(xp, a, positional, axes)[0]
    g = np.asarray(g, dtype=np.float64)
    return (np.transpose(g, np.argsort(order)) if order else g,) + (None,) * len(positional)


# -- shapes from shapes alone, for the element limit (gradcalc.elements) ----------------
def _matmul_shape(a: tuple, b: tuple) -> tuple | None:
    """numpy's matmul on shapes: a vector is a row on the left, a column on the right (its
    dimension dropped from the result), and the batch dimensions broadcast."""
    if not a or not b:
        return None
    a2, b2 = (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))
    if a2[-1] != b2[-2]:
        return None  # refused by the domain check, with its own message
    batch_a, batch_b = a2[:-2], b2[:-2]
    batch = []
    for k in range(-max(len(batch_a), len(batch_b)), 0):
        sizes = {shape[k] for shape in (batch_a, batch_b) if len(shape) >= -k} - {1}
        if len(sizes) > 1:
            return None
        batch.append(sizes.pop() if sizes else 1)
    return tuple(batch) + a2[-2:-1] * (len(a) > 1) + b2[-1:] * (len(b) > 1)


def _transpose_shape(a: tuple, *positional, axes) -> tuple:
    """As many elements as a (the order of its axes does not change the count)."""
    return a[::-1]


def _reshape_shape(a: tuple, *shape) -> tuple:
    """As many elements as a."""
    return (math.prod(a),)


def _index_shape(a: tuple, *indices, spec) -> tuple | None:
    """At most the elements an index can take: each integer array's broadcast shape, and
    each sliced axis whole (an upper bound: a slice takes at most its axis)."""
    given = iter(indices)
    axis, kept, picked = 0, [], []
    for item in spec:
        if item == "n":
            kept.append(1)
            continue
        if axis >= len(a):
            return None
        if item == "i":
            index = next(given)
            picked.append(math.prod(index))
        else:
            kept.append(a[axis])
            for _ in range(sum(item[1:])):
                next(given)
        axis += 1
    arrays = max(picked, default=1)
    return (arrays, *kept, *a[axis:])


# -- joining arrays: concatenate and stack -----------------------------------------------
def _concatenate_domain(xp, *items, axis):
    """Arrays with the same number of dimensions and equal sizes off `axis` (numpy's
    concatenate); axis=None flattens them first."""
    if axis is None:
        return None
    for k, item in enumerate(items):
        if getattr(item, "ndim", 0) == 0:
            return "concatenate joins arrays along an axis, and this is a single number; " \
                "a list [a, b] makes a vector of numbers", k
    first = items[0]
    if problem := axis_problem(axis, first.ndim):
        return problem, "axis"
    axis %= first.ndim
    for k, item in enumerate(items[1:], start=1):
        if item.ndim != first.ndim:
            return f"concatenate needs arrays with as many dimensions as each other, and " \
                f"shapes {_shape(first)} and {_shape(item)} differ (reshape adds an axis: " \
                "reshape(b, (1, -1)) makes a row)", k
        differ = [d for d in range(first.ndim) if d != axis and item.shape[d] != first.shape[d]]
        if differ:
            return f"concatenate along axis {axis} needs the other sizes equal, and shapes " \
                f"{_shape(first)} and {_shape(item)} differ on axis {differ[0]}", k
    return None


def _concatenate_forward(xp, *items, axis):
    import numpy as np

    return np.concatenate(items, axis=axis)


def _concatenate_vjp(xp, g, out, *items, axis):
    """∂f/∂item k: the slice of g where item k was put."""
    import numpy as np

    g = np.asarray(g, dtype=np.float64)
    if axis is None:
        ends = np.cumsum([np.size(item) for item in items])[:-1]
        return tuple(part.reshape(np.shape(item))
                     for part, item in zip(np.split(g, ends), items))
    ends = np.cumsum([item.shape[axis] for item in items])[:-1]
    return tuple(np.split(g, ends, axis=axis))


def _concatenate_shape(*shapes, axis) -> tuple | None:
    """numpy's concatenate on shapes; None where they do not join (the domain says so)."""
    if axis is None:
        return (sum(map(math.prod, shapes)),)
    first = shapes[0]
    if not first or not isinstance(axis, int) or not -len(first) <= axis < len(first):
        return None
    axis %= len(first)
    if any(len(s) != len(first) or s[:axis] + s[axis + 1:] != first[:axis] + first[axis + 1:]
           for s in shapes):
        return None
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]


def _stack_shape(*shapes, axis) -> tuple | None:
    """numpy's stack on shapes: one new axis of len(shapes) at `axis`."""
    first = shapes[0]
    if any(s != first for s in shapes) or not isinstance(axis, int) \
            or not -len(first) - 1 <= axis <= len(first):
        return None
    axis %= len(first) + 1
    return first[:axis] + (len(shapes),) + first[axis:]


def _stack_domain(xp, *items, axis):
    """Values of one shape, stacked along a new axis (numpy's stack)."""
    first = items[0]
    ndim = getattr(first, "ndim", 0)
    if ndim + 1 > MAX_DIMENSIONS:
        return f"stacking values of {ndim} dimensions: values have at most {MAX_DIMENSIONS}", 0
    for k, item in enumerate(items[1:], start=1):
        if getattr(item, "shape", ()) != getattr(first, "shape", ()):
            return f"stack needs values of one shape, and {_shape(first)} and " \
                f"{_shape(item)} differ; concatenate joins arrays along an axis they have", k
    if problem := axis_problem(axis, ndim + 1):
        return f"{problem}: the stack has one more dimension than its parts", "axis"
    return None


def _stack_vjp(xp, g, out, *items, axis):
    """∂f/∂item k: g's slice k along the new axis."""
    import numpy as np

    parts = np.moveaxis(np.asarray(g, dtype=np.float64), axis, 0)
    return tuple(parts[k] for k in range(len(items)))


def _key(spec, indices):
    """numpy's key for `a[...]` from the index's spec (gradcalc.lower._index_spec) and the
    values of its arguments: integers, integer arrays, slice bounds."""
    import numpy as np  # indexing runs on arrays only

    given = iter(indices)
    key = []
    for item in spec:
        if item == "n":
            key.append(None)
        elif item == "i":
            index = next(given)
            key.append(int(index) if np.ndim(index) == 0 else np.asarray(index).astype(np.intp))
        else:
            key.append(slice(*(int(next(given)) if present else None for present in item[1:])))
    return tuple(key)


def _index_domain(xp, a, *indices, spec):
    """Each index an integer (or integer array) within its axis, slices with integer
    bounds and a step other than 0, and no more indices than the value has axes."""
    import numpy as np

    used = sum(item != "n" for item in spec)
    if used > np.ndim(a):
        return f"{used} ind{'ex' if used == 1 else 'ices'} for a value of shape " \
            f"{_shape(a)}", 0
    given = iter(enumerate(indices, start=1))
    axis, arrays = 0, []
    for item in spec:
        if item == "n":
            continue
        length = a.shape[axis]
        axis += 1
        roles = ["index"] if item == "i" else \
            [role for role, present in zip(("start", "stop", "step"), item[1:]) if present]
        for role in roles:
            position, index = next(given)
            values = np.asarray(index)
            if role != "index" and values.ndim:
                return "a slice's bounds are single integers, not arrays", position
            whole = np.isfinite(values) & (np.mod(values, 1) == 0)
            if not np.all(whole):
                bad = values.flat[int(np.argmax(~whole))]
                return f"an index must be a whole number, and {xp.show(bad)} is not", position
            if role == "step" and values == 0:
                return "a slice's step cannot be 0", position
            if role == "index":
                outside = (values < -length) | (values >= length)
                if np.any(outside):
                    bad = values.flat[int(np.argmax(outside))]
                    return f"index {xp.show(bad)} is out of range for axis {axis - 1} of " \
                        f"length {length} (indices start at 0; -1 is the last)", position
                if values.ndim:
                    arrays.append(values.shape)
    try:
        np.broadcast_shapes(*arrays)
    except ValueError:
        shapes = " and ".join("×".join(map(str, shape)) for shape in arrays)
        return f"the index arrays have shapes {shapes}, which do not broadcast together", 1
    return None


def _index_forward(xp, a, *indices, spec):
    return a[_key(spec, indices)]


def _index_vjp(xp, g, out, a, *indices, spec):
    """∂f/∂a: g scattered back to where the elements were taken, a repeated index adding
    up its gradients (numpy's add.at)."""
    import numpy as np

    grad = np.zeros(np.shape(a))
    np.add.at(grad, _key(spec, indices), g)
    return (grad,) + (None,) * len(indices)


def _array_domain(xp, *items):
    shapes = [getattr(item, "shape", ()) for item in items]
    if len(shapes[0]) >= MAX_DIMENSIONS:
        return f"a list nested more than {MAX_DIMENSIONS} deep: values have at most " \
            f"{MAX_DIMENSIONS} dimensions", 0
    for k, shape in enumerate(shapes):
        if shape != shapes[0]:
            return "the elements of a list must all have the same shape, and this list is " \
                "ragged", k
    return None


register(
    Op("matmul", "@", 2, lambda xp, a, b: xp.matmul(a, b), None,
       "∂f/∂a = ∂f/∂out · bᵀ, ∂f/∂b = aᵀ · ∂f/∂out (per matrix of a stack, summed over "
       "broadcast batch dimensions)", domain=_matmul_domain,
       vjp=_matmul_vjp, vjp_wanted=True, matrix_rule=("{g} · {b}ᵀ", "{a}ᵀ · {g}"),
       shape=_matmul_shape,
       sample=lambda rng: (rng.normal(size=(2, 1, 2, 3)), rng.normal(size=(4, 3, 2))),
       functions=("matmul",)),
    Op("dot", "dot", 2, lambda xp, a, b: xp.matmul(a, b), None,
       "∂f/∂a = ∂f/∂out · bᵀ, ∂f/∂b = aᵀ · ∂f/∂out", domain=_dot_domain,
       vjp=_matmul_vjp, vjp_wanted=True, matrix_rule=("{g} · {b}ᵀ", "{a}ᵀ · {g}"),
       shape=_matmul_shape, sample=lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=3)),
       functions=("dot",)),
    Op("transpose", "ᵀ", None, _transpose_forward, None,
       "∂f/∂a = (∂f/∂out)ᵀ: its axes put back in their order (the inverse permutation)",
       domain=_transpose_domain, vjp=_transpose_vjp, matrix_rule=("{g}ᵀ",),
       keywords={"axes": None}, constant_args=tuple(range(1, MAX_DIMENSIONS + 1)),
       sample=lambda rng: (rng.normal(size=(2, 3, 4)), 2.0, 0.0, 1.0),
       functions=("transpose",), structural=True, shape=_transpose_shape,
       written=("transpose(a, axes=None)", "a.T", "a.transpose(1, 0, 2)")),
    Op("reshape", "reshape", None, _reshape_forward, None,
       "∂f/∂a = ∂f/∂out reshaped back to the shape of a", domain=_reshape_domain,
       vjp=_reshape_vjp, matrix_rule=("{g} reshaped to the shape of {a}",), min_arity=2,
       constant_args=tuple(range(1, MAX_DIMENSIONS + 1)),
       sample=lambda rng: (rng.normal(size=(2, 3, 2)), rng.permutation([3.0, -1.0])),
       functions=("reshape",), structural=True, shape=_reshape_shape, written=("reshape(a, (N, -1))", "a.reshape(N, -1)")),
    Op("concatenate", "concatenate", None, _concatenate_forward, None,
       "∂f/∂(part k) = the slice of ∂f/∂out where part k was put", domain=_concatenate_domain,
       vjp=_concatenate_vjp, matrix_rule=("{g}'s slice {k} along the axis",),
       keywords={"axis": 0}, sequence=True, structural=True, shape=_concatenate_shape,
       sample=lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=(1, 3))),
       functions=("concatenate",)),
    Op("stack", "stack", None, lambda xp, *items, axis: xp.stack(items, axis=axis), None,
       "∂f/∂(part k) = ∂f/∂out's slice k along the new axis", domain=_stack_domain,
       vjp=_stack_vjp, matrix_rule=("{g}'s slice {k} along the new axis",),
       keywords={"axis": 0}, sequence=True, structural=True, shape=_stack_shape,
       sample=lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=(2, 3))),
       functions=("stack",)),
    Op("index", "[]", None, _index_forward, None,
       "∂/∂a = 1 at each element taken (summed where an index repeats), 0 elsewhere",
       domain=_index_domain, vjp=_index_vjp, matrix_rule=("{g} scattered to the index",),
       min_arity=1, keywords={"spec": ("i", "i")}, structural=True, shape=_index_shape,
       constant_args=tuple(range(1, 33)),
       sample=lambda rng: (rng.normal(size=(2, 3)), 1.0, -1.0)),
    Op("array", "[ ]", None, lambda xp, *items: xp.stack(items), None,
       "∂/∂(element k) = ∂f/∂out[k]", domain=_array_domain,
       vjp=lambda xp, g, out, *items: tuple(g[k] for k in range(len(items))),
       matrix_rule=("{g}[k]",), shape=lambda *items: (len(items),) + items[0],
       sample=lambda rng: (rng.normal(size=2), rng.normal(size=2)), structural=True),
)
