"""Layers of a convolutional net, in the layout of CS231n assignment 2: conv2d and max_pool2d.

Images are N×C×H×W (a batch of N images of C channels), filters F×C×HH×WW, as in the
assignment's `conv_forward_naive` and PyTorch's `conv2d` (which, like the assignment, is
a cross-correlation: the filter is not flipped). Each layer is one node with a
vector-Jacobian rule, vectorized with numpy: the input is seen as its windows (a strided
view, N×C×H'×W'×HH×WW, no copy), so the forward pass is one tensor product and the
backward adds each window's gradient back into place with one loop over the offsets
inside a window, never over pixels.
"""
from __future__ import annotations

from .base import Op, register
from .base import shape_text as _shape
from ..limits import MAX_UNFOLDED


def _pair(value) -> tuple[int, int]:
    """`stride=2` or `stride=(2, 1)` as (along H, along W), as PyTorch reads them."""
    return (value, value) if isinstance(value, int) else tuple(value)


def _pair_problem(value, name: str, least: int):
    """None, or (problem, keyword) when `value` is not a whole number ≥ least or a pair."""
    items = value if isinstance(value, tuple) and len(value) == 2 else (value,)
    if all(type(v) is int and v >= least for v in items):
        return None
    return f"{name}={value!r}: the {name} must be a whole number ≥ {least}, or a pair of " \
        "them (along H, along W),", name


def _windows(x, size: tuple[int, int], stride: tuple[int, int]):
    """The windows of x (N×C×H×W) as a view N×C×H'×W'×size, one every `stride` pixels;
    a window that would run past the edge is left out (H' = (H − HH) // stride + 1)."""
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(x, size, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]


def _fold(window_grads, shape, stride: tuple[int, int]):
    """The backward of `_windows`: each window's gradient added back where the window
    lies (where windows overlap, their gradients add up)."""
    import numpy as np

    grad = np.zeros(shape)
    *_, rows, cols, height, width = window_grads.shape
    for i in range(height):
        for j in range(width):
            grad[:, :, i:i + stride[0] * rows:stride[0], j:j + stride[1] * cols:stride[1]] \
                += window_grads[..., i, j]
    return grad


def _padded(x, pad: tuple[int, int]):
    import numpy as np

    return np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))


def _out_size(length: int, window: int, stride: int) -> int:
    return (length - window) // stride + 1


def _window_problem(shape, size, stride, what: str, culprit, fixes: tuple[str, str]):
    """None, or why windows of `size` do not fit an input of `shape` (N×C×H×W, padded
    already) or would unfold it into more numbers than gradcalc allocates; `fixes` says
    what to change in each case."""
    (height, width), (window_h, window_w) = shape[2:], size
    if window_h > height or window_w > width:
        return f"the {what} {window_h}×{window_w} is larger than the input's " \
            f"{height}×{width} ({fixes[0]})", culprit
    unfolded = shape[0] * shape[1] * window_h * window_w * \
        _out_size(height, window_h, stride[0]) * _out_size(width, window_w, stride[1])
    if unfolded > MAX_UNFOLDED:
        return f"this {what} would unfold the input into {unfolded:,} numbers " \
            f"(N·C·H'·W' times the window's size), more than the {MAX_UNFOLDED:,} gradcalc " \
            f"allocates ({fixes[1]})", culprit
    return None


def _four_dimensions(name: str, x):
    """None, or why x is not a batch of images N×C×H×W, with the indexing that makes it one."""
    if x.ndim == 4:
        return None
    missing = {3: "; for a single image (C×H×W) add the batch axis: [None]",
               2: "; for a single image of one channel (H×W) add both axes: [None, None]"}
    return f"{name} takes x as N×C×H×W (4 dimensions), and x is {_shape(x)}" \
        f"{missing.get(x.ndim, '')}", 0


# -- conv2d ---------------------------------------------------------------------------------
def _conv_domain(xp, x, w, b, *, stride, pad):
    """x N×C×H×W, w F×C×HH×WW, b of length F, the filter within the padded input."""
    problem = _pair_problem(stride, "stride", 1) or _pair_problem(pad, "pad", 0)
    if problem:
        return problem
    if problem := _four_dimensions("conv2d", x):
        return problem
    if w.ndim != 4:
        return f"conv2d takes w as F×C×HH×WW (4 dimensions: filters, channels, height, " \
            f"width), and w is {_shape(w)}", 1
    if w.shape[1] != x.shape[1]:
        return f"w is {_shape(w)}, filters over {w.shape[1]} channels, but x is {_shape(x)}, " \
            f"images of {x.shape[1]} channel{'s' * (x.shape[1] != 1)}: the second " \
            "dimensions must agree", 1
    if b.shape != w.shape[:1]:
        return f"b must hold one bias per filter (shape {w.shape[0]}, since w is " \
            f"{_shape(w)}), and b is {_shape(b)}", 2
    padded = (x.shape[2] + 2 * _pair(pad)[0], x.shape[3] + 2 * _pair(pad)[1])
    return _window_problem(x.shape[:2] + padded, w.shape[2:], _pair(stride), "filter", 1,
                           ("counting the padding; pad more or use a smaller filter",
                            "use less padding, a larger stride or fewer images"))


def _conv_forward(xp, x, w, b, *, stride, pad):
    import numpy as np

    windows = _windows(_padded(x, _pair(pad)), w.shape[2:], _pair(stride))
    out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))  # N×H'×W'×F
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) + b[:, None, None]


def _conv_vjp(xp, g, out, x, w, b, *, stride, pad):
    """∂f/∂x: each output's gradient times the filter, added back over the window it came
    from (the transposed convolution); ∂f/∂w: the windows weighted by the gradient of
    their outputs; ∂f/∂b: the gradient summed over images and positions."""
    import numpy as np

    stride, pad = _pair(stride), _pair(pad)
    g = np.asarray(g)
    padded = _padded(x, pad)
    windows = _windows(padded, w.shape[2:], stride)
    dw = np.tensordot(g, windows, axes=([0, 2, 3], [0, 2, 3]))  # F×C×HH×WW
    window_grads = np.tensordot(g, w, axes=([1], [0])).transpose(0, 3, 1, 2, 4, 5)
    dx = _fold(window_grads, padded.shape, stride)
    height, width = x.shape[2:]
    return dx[:, :, pad[0]:pad[0] + height, pad[1]:pad[1] + width], dw, g.sum(axis=(0, 2, 3))


# -- max_pool2d -----------------------------------------------------------------------------
def _pool_stride(size, stride) -> tuple[int, int]:
    """The stride in force: by default the window's size (no overlap), as PyTorch."""
    return _pair(size if stride is None else stride)


def _pool_domain(xp, x, *, size, stride):
    problem = _pair_problem(size, "size", 1) or \
        (None if stride is None else _pair_problem(stride, "stride", 1))
    if problem:
        return problem
    if problem := _four_dimensions("max_pool2d", x):
        return problem
    return _window_problem(x.shape, _pair(size), _pool_stride(size, stride),
                           "pooling window", 0,
                           ("use a smaller size=", "use a larger stride or fewer images"))


def _pool_forward(xp, x, *, size, stride):
    return _windows(x, _pair(size), _pool_stride(size, stride)).max(axis=(4, 5))


def _pool_winners(x, out, size, stride):
    """Per window, True where an element equals the window's max: N×C×H'×W'×size."""
    return _windows(x, _pair(size), _pool_stride(size, stride)) == out[..., None, None]


def _pool_vjp(xp, g, out, x, *, size, stride):
    """∂f/∂x: each window's gradient routed to its max; ties as --ties says."""
    import numpy as np

    winners = _pool_winners(x, out, size, stride)
    if xp.ties == "first":
        flat = winners.reshape(*winners.shape[:4], -1)
        routed = np.zeros(flat.shape)
        np.put_along_axis(routed, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
        routed = routed.reshape(winners.shape)
    else:
        routed = winners / winners.sum(axis=(4, 5), keepdims=True)
    return (_fold(routed * np.asarray(g)[..., None, None], x.shape,
                  _pool_stride(size, stride)),)


def _pool_tie(xp, out, x, *, size, stride):
    tied = int((_pool_winners(x, out, size, stride).sum(axis=(4, 5)) > 1).sum())
    if not tied:
        return None
    windows = f"{tied} pooling window{'s' * (tied > 1)} tie{'s' * (tied == 1)} for the max"
    if xp.ties == "first":
        return f"{windows}; the gradient goes to the first tied element in row-major " \
            "order (--ties first, as np.argmax in the assignment's naive backward)"
    return f"{windows}; the gradient is split evenly among the tied elements " \
        "(--ties first gives it to the first, as np.argmax in the assignment's naive backward)"


def _pool_pieces(xp, out, x, *, size, stride):
    """Which element wins each window: it changes exactly where the max switches."""
    winners = _pool_winners(x, out, size, stride)
    return (tuple(winners.reshape(*winners.shape[:4], -1).argmax(axis=-1).ravel().tolist()),)


def _windows_shape(x: tuple, channels: int, window: tuple, stride, pad) -> tuple | None:
    """N×channels×H'×W' for windows of `window` over x (N×C×H×W) padded by `pad`; None
    where the sizes are not valid (the domain check says why)."""
    if len(x) != 4 or _pair_problem(stride, "stride", 1) or _pair_problem(pad, "pad", 0):
        return None
    (stride_h, stride_w), (pad_h, pad_w) = _pair(stride), _pair(pad)
    height, width = x[2] + 2 * pad_h, x[3] + 2 * pad_w
    if window[0] > height or window[1] > width:
        return None
    return (x[0], channels, _out_size(height, window[0], stride_h),
            _out_size(width, window[1], stride_w))


def _conv_shape(x: tuple, w: tuple, b: tuple, *, stride, pad) -> tuple | None:
    return None if len(w) != 4 else _windows_shape(x, w[0], w[2:], stride, pad)


def _pool_shape(x: tuple, *, size, stride) -> tuple | None:
    if len(x) != 4 or _pair_problem(size, "size", 1) \
            or (stride is not None and _pair_problem(stride, "stride", 1)):
        return None
    return _windows_shape(x, x[1], _pair(size), _pool_stride(size, stride), 0)


register(
    Op("conv2d", "conv2d", 3, _conv_forward, None,
       "∂f/∂x = ∂f/∂out convolved back through w (the transposed convolution), "
       "∂f/∂w = Σ ∂f/∂out · windows of x, ∂f/∂b = Σ ∂f/∂out over N, H', W'",
       domain=_conv_domain, vjp=_conv_vjp,
       matrix_rule=("{g} convolved back through {b}", "Σ {g} · windows of {a}",
                    "Σ {g} over N, H', W'"),
       keywords={"stride": 1, "pad": 0}, functions=("conv2d",), shape=_conv_shape,
       sample=lambda rng: (rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(3, 2, 3, 2)),
                           rng.normal(size=3))),
    Op("max_pool2d", "maxpool", 1, _pool_forward, None,
       "∂/∂(largest element of each window) = 1, others 0 (ties: --ties)",
       domain=_pool_domain, vjp=_pool_vjp, kink=_pool_tie, branch=_pool_pieces,
       matrix_rule=("{g} routed to the largest element of each window of {a}",),
       pattern="routes", keywords={"size": 2, "stride": None}, functions=("max_pool2d",),
       structural=True, shape=_pool_shape,
       sample=lambda rng: (rng.normal(size=(2, 3, 4, 6)),)),
)
