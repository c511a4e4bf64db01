"""The CS231n assignments' own layers, typed as the assignments type them, against reference
solutions in plain numpy written the way the assignments write them (loops where they have
loops). Each gradient must agree to 1e-9.

gradcalc is run as a student runs it, on the command line with `--json`, the arrays in a
bindings file; the references never call gradcalc.
"""
import json

import numpy as np
import pytest
from cs231n_naive import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                          max_pool_forward_naive)

RTOL = 1e-9


@pytest.fixture
def run(gradcalc_cli, tmp_path):
    """run(EXPR, bindings, upstream=None, wrt=None) → (value, {name: gradient}) as arrays."""
    def run(source, bindings, upstream=None, wrt=None):
        path = tmp_path / "bindings.json"
        path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in bindings.items()}))
        args = ["eval", source, "--bindings", str(path), "--json"]
        if upstream is not None:
            args += ["--upstream", json.dumps(np.asarray(upstream).tolist())]
        if wrt is not None:
            args += ["--wrt", ",".join(wrt)]
        ran = gradcalc_cli(*args)
        assert ran.code == 0, ran.stderr
        document = ran.json()
        return np.asarray(document["value"]), {
            name: None if grad is None else np.asarray(grad, dtype=float)
            for name, grad in document["gradients"].items()}
    return run


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-12)


@pytest.fixture
def data():
    """CS231n's dev-set shapes, scaled down: N points of D features, C classes."""
    rng = np.random.default_rng(231)
    N, D, C = 7, 5, 4
    return {"X": rng.normal(size=(N, D)), "W": 0.1 * rng.normal(size=(D, C)),
            "y": rng.integers(0, C, size=N), "reg": 0.05, "N": N, "C": C, "rng": rng}


# -- assignment 1: the linear classifiers -------------------------------------------------

def svm_loss_naive(W, X, y, reg):
    """cs231n/classifiers/linear_svm.py, with the gradient filled in inside the loops."""
    dW = np.zeros(W.shape)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1  # note delta = 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return loss, dW


SVM_SPELLINGS = [
    # svm_loss_vectorized: margins, with the correct class masked out
    "S = X @ W; correct = S[arange(N), y]; "
    "margins = maximum(0, S - correct[:, None] + 1) * (1 - one_hot(y, C)); "
    "sum(margins) / N + reg * sum(W * W)",
    # the correct class's margin is exactly 1 and passes no gradient: subtract it
    "S = X.dot(W); margins = np.maximum(0, S - S[arange(N), y][:, None] + 1); "
    "(np.sum(margins) - N) / N + reg * np.sum(W * W)",
]


@pytest.mark.parametrize("source", SVM_SPELLINGS)
def test_svm_loss_and_dW(run, data, source):
    X, W, y, reg = data["X"], data["W"], data["y"], data["reg"]
    loss, dW = svm_loss_naive(W, X, y, reg)
    value, grads = run(source, {k: data[k] for k in ("X", "W", "y", "reg", "N", "C")},
                       wrt=["W"])
    close(value, loss)
    close(grads["W"], dW)


def softmax_loss_naive(W, X, y, reg):
    """cs231n/classifiers/softmax.py: loops over the points and the classes."""
    loss = 0.0
    dW = np.zeros_like(W)
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)  # numeric stability
        probs = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(probs[y[i]])
        for j in range(num_classes):
            dW[:, j] += (probs[j] - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW


SOFTMAX_SPELLINGS = [
    "cross_entropy(X @ W, y) + reg * sum(W * W)",
    "S = X @ W; mean(logsumexp(S, axis=1) - S[arange(N), y]) + reg * sum(W * W)",
    "S = X @ W\n"
    "P = exp(S - max(S, axis=1, keepdims=True))\n"
    "P = P / sum(P, axis=1, keepdims=True)\n"
    "-mean(log(P[arange(N), y])) + reg * sum(W * W)",
]


@pytest.mark.parametrize("source", SOFTMAX_SPELLINGS)
def test_softmax_loss_and_dW(run, data, source):
    X, W, y, reg = data["X"], data["W"], data["y"], data["reg"]
    loss, dW = softmax_loss_naive(W, X, y, reg)
    value, grads = run(source, {k: data[k] for k in ("X", "W", "y", "reg", "N")}, wrt=["W"])
    close(value, loss)
    close(grads["W"], dW)


def test_two_layer_net(run, data):
    """cs231n/classifiers/neural_net.py (assignment 1): affine - relu - affine - softmax."""
    rng = data["rng"]
    X, y, reg = data["X"], data["y"], data["reg"]
    N, D, H, C = X.shape[0], X.shape[1], 6, 3
    y = y % C
    W1, b1 = 0.3 * rng.normal(size=(D, H)), 0.1 * rng.normal(size=H)
    W2, b2 = 0.3 * rng.normal(size=(H, C)), 0.1 * rng.normal(size=C)
    # forward
    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).mean() + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    # backward, as the assignment writes it
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dW2 = hidden.T.dot(dscores) + 2 * reg * W2
    db2 = dscores.sum(axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    dW1 = X.T.dot(dhidden) + 2 * reg * W1
    db1 = dhidden.sum(axis=0)
    source = ("h = relu(X @ W1 + b1); scores = h @ W2 + b2\n"
              "cross_entropy(scores, y) + reg * (sum(W1 * W1) + sum(W2 * W2))")
    value, grads = run(source, dict(X=X, y=y, reg=reg, W1=W1, b1=b1, W2=W2, b2=b2),
                       wrt=["W1", "b1", "W2", "b2"])
    close(value, loss)
    for name, expected in dict(W1=dW1, b1=db1, W2=dW2, b2=db2).items():
        close(grads[name], expected)


# -- assignment 2: layers, each given its upstream dout ---------------------------------------

def test_affine_forward_and_backward_with_a_3d_input(run):
    """layers.py affine_forward/affine_backward: x of shape (N, d1, d2) is reshaped to rows."""
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 4, 3)), rng.normal(size=(12, 5)), rng.normal(size=5)
    dout = rng.normal(size=(2, 5))
    out = x.reshape(x.shape[0], -1).dot(w) + b
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    for source in ("reshape(x, (2, -1)) @ w + b", "x.reshape(2, -1).dot(w) + b"):
        value, grads = run(source, dict(x=x, w=w, b=b), upstream=dout)
        close(value, out)
        close(grads["x"], dx)
        close(grads["w"], dw)
        close(grads["b"], db)


def batchnorm_forward_backward(x, gamma, beta, eps, dout):
    """layers.py batchnorm_forward (train) and batchnorm_backward, staged as the
    assignment's computational graph."""
    N = x.shape[0]
    mu = 1.0 / N * np.sum(x, axis=0)
    xmu = x - mu
    sq = xmu ** 2
    var = 1.0 / N * np.sum(sq, axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
    dsq = 1.0 / N * np.ones(x.shape) * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx2 = 1.0 / N * np.ones(x.shape) * dmu
    return out, dx1 + dx2, dgamma, dbeta


def test_batchnorm_with_upstream(run):
    rng = np.random.default_rng(3)
    x = 5 * rng.normal(size=(6, 4)) + 12
    gamma, beta, eps = rng.normal(size=4), rng.normal(size=4), 1e-5
    dout = rng.normal(size=(6, 4))
    out, dx, dgamma, dbeta = batchnorm_forward_backward(x, gamma, beta, eps, dout)
    source = ("mu = mean(x, axis=0); var = mean((x - mu)^2, axis=0)\n"
              "xhat = (x - mu) / sqrt(var + eps)\n"
              "gamma * xhat + beta")
    value, grads = run(source, dict(x=x, gamma=gamma, beta=beta, eps=eps), upstream=dout,
                       wrt=["x", "gamma", "beta"])
    close(value, out)
    close(grads["x"], dx)
    close(grads["gamma"], dgamma)
    close(grads["beta"], dbeta)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_at_the_assignment_sizes(run, stride):
    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=(4, 3, 5, 5)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2)
    out, cache = conv_forward_naive(x, w, b, {"stride": stride, "pad": 1})
    dout = rng.normal(size=out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)
    value, grads = run(f"conv2d(x, w, b, stride={stride}, pad=1)", dict(x=x, w=w, b=b),
                       upstream=dout)
    close(value, out)
    close(grads["x"], dx)
    close(grads["w"], dw)
    close(grads["b"], db)


def test_max_pool_at_the_assignment_sizes(run):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 2, 8, 8))
    out, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dout = rng.normal(size=out.shape)
    value, grads = run("max_pool2d(x, size=2, stride=2)", dict(x=x), upstream=dout)
    close(value, out)
    close(grads["x"], max_pool_backward_naive(dout, cache))


# -- assignment 3: the recurrent networks' pieces --------------------------------------------

def test_word_embedding_with_repeated_indices(run):
    """rnn_layers.py word_embedding_forward/backward: out = W[x]; dW by np.add.at."""
    rng = np.random.default_rng(6)
    V, D = 5, 3
    W = rng.normal(size=(V, D))
    x = np.array([[0, 3, 1], [3, 3, 4]])  # word 3 three times
    dout = rng.normal(size=(2, 3, D))
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    value, grads = run("W[x]", dict(W=W, x=x), upstream=dout, wrt=["W"])
    close(value, W[x])
    close(grads["W"], dW)
    assert dW[3].tolist() != [0.0, 0.0, 0.0]


def test_lstm_step_gate_slices(run):
    """rnn_layers.py lstm_step_forward/backward: the four gates are slices of one product."""
    rng = np.random.default_rng(7)
    N, D, H = 3, 4, 5
    x, prev_h, prev_c = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    dnext_h, dnext_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))

    def sigmoid(t):
        return 1 / (1 + np.exp(-t))

    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i, f = sigmoid(a[:, 0:H]), sigmoid(a[:, H:2 * H])
    o, g = sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:4 * H])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    # backward, as the assignment writes it
    dc = dnext_c + dnext_h * o * (1 - np.tanh(next_c) ** 2)
    di, df, do, dg = dc * g, dc * prev_c, dnext_h * np.tanh(next_c), dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
    dx, dprev_h, dWx, dWh = da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da)
    dprev_c, db = dc * f, da.sum(axis=0)
    source = ("a = x @ Wx + prev_h @ Wh + b\n"
              "i = sigmoid(a[:, 0:H]); f = sigmoid(a[:, H:2*H])\n"
              "o = sigmoid(a[:, 2*H:3*H]); g = tanh(a[:, 3*H:4*H])\n"
              "next_c = f * prev_c + i * g\n"
              "next_h = o * tanh(next_c)\n"
              "sum(next_h * dnext_h) + sum(next_c * dnext_c)")
    value, grads = run(source, dict(x=x, prev_h=prev_h, prev_c=prev_c, Wx=Wx, Wh=Wh, b=b, H=H,
                                    dnext_h=dnext_h, dnext_c=dnext_c),
                       wrt=["x", "prev_h", "prev_c", "Wx", "Wh", "b"])
    close(value, np.sum(next_h * dnext_h) + np.sum(next_c * dnext_c))
    for name, expected in dict(x=dx, prev_h=dprev_h, prev_c=dprev_c, Wx=dWx, Wh=dWh,
                               b=db).items():
        close(grads[name], expected)


def test_an_input_used_only_as_an_index_takes_no_gradient(run):
    value, grads = run("sum(v[i]^2)", dict(v=[1.0, 2.0, 3.0], i=[0, 2]))
    assert value == 10
    close(grads["v"], [2.0, 0.0, 6.0])
    assert grads["i"] is None
