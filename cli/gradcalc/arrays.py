"""The numpy number system: the op table's rules run on arrays of any shape.

Imported only when an expression or a binding has vectors or matrices, so a scalar
`gradcalc eval` never pays for numpy. The names mirror gradcalc.arith.FloatArith.
"""
from __future__ import annotations

from functools import reduce

import numpy as np

from .arith import SMALLEST_NORMAL, FloatArith
from .limits import MAX_DIMENSIONS


class ArrayArith(FloatArith):
    """float64 arrays with numpy broadcasting; IEEE results (inf, nan) without warnings
    from numpy, since gradcalc reports overflow itself, once, on the node."""

    name = "array"

    @staticmethod
    def quiet():
        """numpy's own floating-point warnings, silenced for one run (not process-wide:
        an API user's numpy settings stay theirs); gradcalc reports overflow itself."""
        return np.errstate(all="ignore")

    @staticmethod
    def number(text: str):
        return np.float64(text)

    @staticmethod
    def convert(value):
        """A number or a nested list → float64 array; a ragged or empty list is an error."""
        try:
            array = np.asarray(value, dtype=np.float64)
        except ValueError:
            raise ValueError("the nested lists are ragged: every row needs the same length, "
                             f"and at most {MAX_DIMENSIONS} levels are allowed") from None
        if array.ndim > MAX_DIMENSIONS:
            raise ValueError(f"it has {array.ndim} dimensions; values have at most "
                             f"{MAX_DIMENSIONS}")
        if array.size == 0:  # as a literal [] is refused: its mean, max, ... do not exist
            raise ValueError("it is empty: a vector or matrix needs at least one element")
        return array if array.ndim else np.float64(array)

    @staticmethod
    def zero(like):
        return np.zeros_like(like, dtype=np.float64) if np.ndim(like) else np.float64(0)

    @staticmethod
    def show(value) -> str:
        """A value for a message, on one line: a warning or an error is one line each."""
        if np.ndim(value) == 0:
            return FloatArith.show(float(value))
        text = np.array2string(np.asarray(value), separator=", ", threshold=12, edgeitems=2,
                               formatter={"float_kind": lambda v: FloatArith.show(float(v))})
        return " ".join(text.split())

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log10 = staticmethod(np.log10)
    log2 = staticmethod(np.log2)
    sqrt = staticmethod(np.sqrt)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tan = staticmethod(np.tan)
    tanh = staticmethod(np.tanh)
    sign = staticmethod(np.sign)
    where = staticmethod(np.where)
    power = staticmethod(np.power)
    divide = staticmethod(np.divide)
    matmul = staticmethod(np.matmul)

    @staticmethod
    def sigmoid(a):
        # The two stable forms of FloatArith.sigmoid, chosen per element.
        z = np.exp(-np.abs(a))
        return np.where(a >= 0, 1 / (1 + z), z / (1 + z))

    # FloatArith's choices of form, elementwise.
    @staticmethod
    def sigmoid_slope(out, a):
        z = np.exp(-np.abs(a))
        return np.where(out <= 0.5, out * (1.0 - out), z / ((1.0 + z) * (1.0 + z)))

    @staticmethod
    def tanh_slope(out, a):
        z = np.exp(-2.0 * np.abs(a))
        return np.where(np.abs(out) < 0.5, 1.0 - out * out, 4.0 * z / ((1.0 + z) * (1.0 + z)))

    @staticmethod
    def power_slope(out, a, b):
        # FloatArith.power_slope's choice, elementwise.
        direct = b * np.power(a, b - 1)
        direct = np.where(np.isinf(direct) & (a != 0), np.divide(b * out, a), direct)
        via_out = b * np.divide(out, a)
        usable = (np.abs(out) >= SMALLEST_NORMAL) & np.isfinite(via_out) & (a != 0)
        return np.where(usable, via_out, direct)

    @staticmethod
    def softplus(a):
        return np.logaddexp(0.0, a)

    @staticmethod
    def max(args):
        return _signed_zero_tie(reduce(np.maximum, args), args, positive=True)

    @staticmethod
    def min(args):
        return _signed_zero_tie(reduce(np.minimum, args), args, positive=False)

    @staticmethod
    def all(condition) -> bool:
        return bool(np.all(condition))

    @staticmethod
    def isfinite(a) -> bool:
        return bool(np.all(np.isfinite(a)))

    @staticmethod
    def is_integer(a):
        return np.equal(np.mod(a, 1), 0)

    stack = staticmethod(np.stack)

    @staticmethod
    def unbroadcast(grad, like):
        """Sum a gradient back to the shape of the input it belongs to (the backward of
        numpy broadcasting: a bias added to every row gets the sum over rows)."""
        shape = np.shape(like)
        grad = np.asarray(grad)
        if grad.shape == shape:
            return grad
        grad = np.broadcast_to(grad, np.broadcast_shapes(grad.shape, shape))
        extra = grad.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
        reduced = grad.sum(axis=axes, keepdims=True) if axes else grad
        return reduced.reshape(shape) if shape else np.float64(reduced.sum())


def _signed_zero_tie(winner, args, *, positive: bool):
    """IEEE 754-2019's maximum (minimum) at a tie of zeros: +0 (-0) if any tied argument is
    +0 (-0). numpy's maximum returns whichever zero came second, and the scalar path
    (gradcalc.arith) must give the same sign."""
    winner = np.asarray(winner)
    if winner.dtype.kind != "f" or not np.any(winner == 0):
        return winner
    wanted = reduce(np.logical_or, [(np.asarray(a) == 0) & (np.signbit(a) != positive)
                                    for a in args])
    return np.where((winner == 0) & wanted, 0.0 if positive else -0.0, winner)
