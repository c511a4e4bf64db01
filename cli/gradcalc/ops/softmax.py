"""The softmax family: softmax, log_softmax, logsumexp and cross_entropy, numerically stable.

Every one subtracts the maximum of each slice before exponentiating (the max-shifted
formula of the CS231n notes, "Practical issues: Numeric stability", and of
scipy.special.logsumexp), so rows of scores near 1000 or -1000 neither overflow nor
divide 0 by 0. cross_entropy is PyTorch's default `F.cross_entropy(S, y)`: integer class
labels, the mean over the rows of −log softmax(S)[i, y_i].
"""
from __future__ import annotations

from .base import Op, register
from .reductions import axis_domain, axis_problem, reduced_shape, restore

LAST_AXIS = {"axis": -1}


def _peak(a, axis):
    """The maximum of each slice along `axis` (kept as a dimension), the shift that makes
    the largest exponent exp(0) = 1. A slice whose maximum is ±inf is not shifted, as in
    scipy's logsumexp, so that the result is ±inf rather than inf − inf."""
    import numpy as np

    peak = np.max(a, axis=axis, keepdims=True)
    return np.where(np.isfinite(peak), peak, 0.0)


def _shifted(a, axis):
    return a - _peak(a, axis)


def _logsumexp(a, axis, keepdims):
    import numpy as np

    peak = _peak(a, axis)
    total = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=True)) + peak
    return (total if keepdims else np.squeeze(total, axis=axis))[()]  # [()]: 0-d → a number


def _softmax(xp, a, *, axis):
    e = xp.exp(_shifted(a, axis))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(xp, a, *, axis):
    shifted = _shifted(a, axis)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _along_axis_domain(name):
    """softmax and log_softmax normalize along an axis: a single number has none."""
    def domain(xp, a, *, axis):
        if getattr(a, "ndim", 0) == 0:
            return f"{name} normalizes along an axis of a vector or matrix, and this is a " \
                "single number", 0, f"give {name} a vector, e.g. {name}([a, b, c])"
        return axis_problem(a, axis)
    return domain


def _softmax_vjp(xp, g, out, a, *, axis):
    """∂softmax/∂a applied to g: s ⊙ (g − Σ(g ⊙ s) along the axis)."""
    return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)


def _log_softmax_vjp(xp, g, out, a, *, axis):
    """g − softmax(a) ⊙ Σg along the axis; softmax(a) = exp(log_softmax(a))."""
    return (g - xp.exp(out) * xp.convert(g).sum(axis=axis, keepdims=True),)


def _logsumexp_vjp(xp, g, out, a, *, axis, keepdims):
    """∂logsumexp/∂a = softmax(a) along the axes, times g broadcast back."""
    return (restore(xp, g, a, axis) * xp.exp(a - restore(xp, out, a, axis)),)


# -- cross_entropy --------------------------------------------------------------------------
def _rows(scores, labels):
    """The scores as N×C and the labels as N integers: one example (a vector of C scores
    and one label) is a batch of one, as PyTorch's unbatched input."""
    import numpy as np

    return np.atleast_2d(scores), np.atleast_1d(labels).astype(np.intp)


def _cross_entropy(xp, scores, labels):
    import numpy as np

    rows, picked = _rows(scores, labels)
    log_p = _log_softmax(xp, rows, axis=-1)
    return -log_p[np.arange(len(picked)), picked].mean()


def _cross_entropy_vjp(xp, g, out, scores, labels):
    """∂L/∂S = g · (softmax(S) − onehot(y)) / N."""
    import numpy as np

    rows, picked = _rows(scores, labels)
    grad = _softmax(xp, rows, axis=-1)
    grad[np.arange(len(picked)), picked] -= 1.0
    return (g * grad.reshape(np.shape(scores)) / len(picked), None)


def _cross_entropy_domain(xp, scores, labels):
    """Scores N×C (or C), one whole-number label in 0 … C−1 per row."""
    import numpy as np

    ndim = np.ndim(scores)
    if ndim not in (1, 2):
        return "cross_entropy takes scores of shape N×C (a row per example) or C (one " \
            f"example), and these are {'×'.join(map(str, np.shape(scores))) or 'a single number'}", 0, \
            "reshape the scores to N×C"
    if np.size(scores) == 0:
        return "cross_entropy of no scores has no value", 0, "check the slice"
    wanted = np.shape(scores)[:-1]
    if np.shape(labels) != wanted:
        have = "×".join(map(str, np.shape(labels))) or "a single number"
        need = f"{wanted[0]} labels, one per row of the {scores.shape[0]}×{scores.shape[1]} " \
            "scores" if wanted else "one label for the vector of scores"
        hint = "for one-hot or probability rows Y write -mean(sum(Y * log_softmax(S), " \
            "axis=1))" if np.shape(labels) == np.shape(scores) else \
            "give the class index of each row, e.g. y=[0, 2]"
        return f"cross_entropy needs {need}, and the labels have shape {have}", 1, hint
    values = np.asarray(labels, dtype=np.float64)
    whole = np.isfinite(values) & (np.mod(values, 1) == 0)
    if not np.all(whole):
        bad = values.flat[int(np.argmax(~whole))]
        return f"a label is a class index, a whole number, and {xp.show(bad)} is not", 1, \
            "give the class index of each row, e.g. y=[0, 2]"
    classes = np.shape(scores)[-1]
    outside = (values < 0) | (values >= classes)
    if np.any(outside):
        bad = values.flat[int(np.argmax(outside))]
        return f"label {xp.show(bad)} is out of range for {classes} classes", 1, \
            f"labels run from 0 to {classes - 1}, one per column of the scores"
    return None


def _same_shape(a: tuple, *, axis) -> tuple:
    return a


register(
    Op("softmax", "softmax", 1, _softmax, None,
       "∂/∂a: s ⊙ (g − Σ(g ⊙ s)) along the axis, s = softmax(a)",
       domain=_along_axis_domain("softmax"), vjp=_softmax_vjp,
       matrix_rule=("s ⊙ ({g} − Σ({g} ⊙ s) along the axis), s = softmax({a})",),
       keywords=LAST_AXIS, sample=lambda rng: (3 * rng.normal(size=(2, 4)),),
       functions=("softmax",), shape=_same_shape),
    Op("log_softmax", "log_softmax", 1, _log_softmax, None,
       "∂/∂a: g − softmax(a) ⊙ Σg along the axis", domain=_along_axis_domain("log_softmax"),
       vjp=_log_softmax_vjp,
       matrix_rule=("{g} − softmax({a}) ⊙ Σ{g} along the axis",),
       keywords=LAST_AXIS, sample=lambda rng: (3 * rng.normal(size=(2, 4)),),
       functions=("log_softmax",), shape=_same_shape),
    Op("logsumexp", "logsumexp", 1,
       lambda xp, a, *, axis, keepdims: _logsumexp(a, axis, keepdims), None,
       "∂/∂a = softmax(a) along the axis", domain=axis_domain, vjp=_logsumexp_vjp,
       matrix_rule=("{g} · softmax({a})",), keywords={"axis": None, "keepdims": False},
       sample=lambda rng: (3 * rng.normal(size=(2, 4)),), functions=("logsumexp",),
       shape=reduced_shape),
    Op("cross_entropy", "cross_entropy", 2, _cross_entropy, None,
       "∂/∂a = (softmax(a) − onehot(b)) / N for N rows of scores a; the labels b take none",
       domain=_cross_entropy_domain, vjp=_cross_entropy_vjp,
       matrix_rule=("{g} · (softmax({a}) − onehot({b})) / N",), constant_args=(1,),
       sample=lambda rng: (3 * rng.normal(size=(4, 3)),
                           rng.integers(0, 3, size=4).astype(float)),
       functions=("cross_entropy",), shape=lambda scores, labels: ()),
)
