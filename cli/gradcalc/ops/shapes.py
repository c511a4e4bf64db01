"""Indexing and shapes: the matrix product, transpose, indexing and list literals."""
from __future__ import annotations

from .base import Op, register
from ..limits import MAX_DIMENSIONS
from .base import shape_text as _shape


def _matmul_vjp(xp, g, out, a, b):
    """The backward of a @ b for matrices and vectors: ∂f/∂a = g·bᵀ, ∂f/∂b = aᵀ·g, with
    numpy's rule that a vector operand counts as a row (left) or a column (right)."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = xp.convert(g).reshape(a2.shape[0], b2.shape[1])
    return (g2 @ b2.T).reshape(a.shape), (a2.T @ g2).reshape(b.shape)


def _matmul_domain(xp, a, b):
    if a.ndim == 0 or b.ndim == 0:
        return "@ needs vectors or matrices on both sides (use * for a scalar)", \
            0 if a.ndim == 0 else 1
    if a.ndim > 2 or b.ndim > 2:
        return "@ is defined here for vectors and matrices only", 0 if a.ndim > 2 else 1
    if a.shape[-1] != b.shape[0]:
        return f"shapes {_shape(a)} and {_shape(b)} do not fit: a @ b needs the columns " \
            "of a to equal the rows of b", 1
    return None


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
       "∂f/∂a = ∂f/∂out · bᵀ, ∂f/∂b = aᵀ · ∂f/∂out", domain=_matmul_domain,
       vjp=_matmul_vjp, matrix_rule=("{g} · {b}ᵀ", "{a}ᵀ · {g}"),
       sample=lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=3)),
       functions=('dot',)),
    Op("transpose", "ᵀ", 1, lambda xp, a: a.T, None, "∂f/∂a = (∂f/∂out)ᵀ",
       vjp=lambda xp, g, out, a: (xp.convert(g).T,), matrix_rule=("{g}ᵀ",),
       sample=lambda rng: (rng.normal(size=(2, 3)),),
       functions=('transpose',)),
    Op("index", "[]", None, _index_forward, None,
       "∂/∂a = 1 at each element taken (summed where an index repeats), 0 elsewhere",
       domain=_index_domain, vjp=_index_vjp, matrix_rule=("{g} scattered to the index",),
       min_arity=1, keywords={"spec": ("i", "i")},
       constant_args=tuple(range(1, 33)),
       sample=lambda rng: (rng.normal(size=(2, 3)), 1.0, -1.0)),
    Op("array", "[ ]", None, lambda xp, *items: xp.stack(items), None,
       "∂/∂(element k) = ∂f/∂out[k]", domain=_array_domain,
       vjp=lambda xp, g, out, *items: tuple(g[k] for k in range(len(items))),
       matrix_rule=("{g}[k]",), sample=lambda rng: (rng.normal(size=2), rng.normal(size=2))),
)
