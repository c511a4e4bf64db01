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


def _matmul_shape(a, b):
    """numpy's rule: a vector operand is a row on the left, a column on the right, and
    its dimension is dropped from the result."""
    if len(a) not in (1, 2) or len(b) not in (1, 2) or a[-1] != b[0]:
        return None  # refused by the domain check, with its own message
    return a[:-1] + b[1:]


def _index_domain(xp, a, *indices):
    if len(indices) != a.ndim:
        return f"{len(indices)} ind{'ex' if len(indices) == 1 else 'ices'} for a value of " \
            f"shape {_shape(a)}", 0
    for k, (i, n) in enumerate(zip(indices, a.shape)):
        if not float(i).is_integer() or not -n <= i < n:
            return f"index {xp.show(i)} is out of range for length {n} (indices start at 0)", \
                k + 1
    return None


def _at(indices):
    return tuple(int(i) for i in indices)


def _index_vjp(xp, g, out, a, *indices):
    grad = xp.zero(a)
    grad[_at(indices)] = g
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
       vjp=_matmul_vjp, matrix_rule=("{g} · {b}ᵀ", "{a}ᵀ · {g}"), shape=_matmul_shape,
       sample=lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=3)),
       functions=('dot',)),
    Op("transpose", "ᵀ", 1, lambda xp, a: a.T, None, "∂f/∂a = (∂f/∂out)ᵀ",
       vjp=lambda xp, g, out, a: (xp.convert(g).T,), matrix_rule=("{g}ᵀ",),
       shape=lambda a: a[::-1],
       sample=lambda rng: (rng.normal(size=(2, 3)),),
       functions=('transpose',)),
    Op("index", "[]", None, lambda xp, a, *indices: a[_at(indices)], None,
       "∂/∂a = 1 at the index, 0 elsewhere", domain=_index_domain, vjp=_index_vjp,
       matrix_rule=("{g} scattered to the index",), min_arity=2,
       shape=lambda a, *indices: (),
       sample=lambda rng: (rng.normal(size=(2, 3)), 1.0, -1.0)),
    Op("array", "[ ]", None, lambda xp, *items: xp.stack(items), None,
       "∂/∂(element k) = ∂f/∂out[k]", domain=_array_domain,
       vjp=lambda xp, g, out, *items: tuple(g[k] for k in range(len(items))),
       matrix_rule=("{g}[k]",), shape=lambda *items: (len(items),) + items[0],
       sample=lambda rng: (rng.normal(size=2), rng.normal(size=2))),
)
