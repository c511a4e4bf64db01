"""Spellings a student copies from the assignments: the ones gradcalc reads as numpy does,
and the ones it refuses with a hint whose fix, applied, gives numpy's answer.

Oracles: the same lines run in numpy.
"""
import json
import re

import numpy as np
import pytest


def _value(ran):
    assert ran.code == 0, ran.stderr
    document = ran.json()
    return np.asarray(document["value"]), {
        name: np.asarray(grad) for name, grad in document["gradients"].items()
        if grad is not None}


def _error(ran):
    assert ran.code == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    return ran.json()["error"]


@pytest.fixture
def svm():
    rng = np.random.default_rng(7)
    N, D, C = 5, 4, 3
    return dict(X=rng.normal(size=(N, D)), W=rng.normal(size=(D, C)),
                y=rng.integers(0, C, size=N), N=N, C=C)


def _bind(data):
    return [f"{k}={json.dumps(np.asarray(v).tolist())}" for k, v in data.items()]


def svm_loss_vectorized(X, W, y, N, C):
    """cs231n/classifiers/linear_svm.py, as students vectorize it (loss and dW)."""
    scores = X.dot(W)
    correct = scores[np.arange(N), y]
    margins = np.maximum(0, scores - correct[:, np.newaxis] + 1)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    binary = (margins > 0).astype(float)
    binary[np.arange(N), y] = -np.sum(binary, axis=1)
    return loss, X.T.dot(binary) / N


def test_np_newaxis_is_a_new_axis(gradcalc_cli, svm):
    """`correct[:, np.newaxis]`, as the SVM is vectorized; the in-place zeroing of the
    correct class is the mask its refusal suggests (below)."""
    loss, dW = svm_loss_vectorized(**svm)
    source = ("scores = X.dot(W); correct = scores[np.arange(N), y]\n"
              "margins = np.maximum(0, scores - correct[:, np.newaxis] + 1)\n"
              "margins = margins * (1 - one_hot(y, C))\n"
              "np.sum(margins) / N")
    value, grads = _value(gradcalc_cli("eval", source, *_bind(svm), "--json"))
    np.testing.assert_allclose(value, loss, rtol=1e-12)
    np.testing.assert_allclose(grads["W"], dW, rtol=1e-9, atol=1e-12)


def test_np_constants_are_read(gradcalc_cli):
    value, _ = _value(gradcalc_cli("eval", "np.pi * x", "x=2", "--json"))
    assert value == pytest.approx(2 * np.pi, rel=1e-15)


def test_assignment_into_an_index_is_refused_with_the_mask_that_replaces_it(gradcalc_cli,
                                                                           svm):
    error = _error(gradcalc_cli("eval", "scores = X.dot(W); margins = scores + 1\n"
                                "margins[np.arange(N), y] = 0; np.sum(margins)",
                                *_bind(svm), "--json"))
    assert error["message"].startswith("the left side of '=' must be a name")
    hint = error["hint"]
    assert "margins = margins * (1 - one_hot(y, C))" in hint
    # the hint, applied, is numpy's in-place zeroing
    margins = svm["X"].dot(svm["W"]) + 1
    margins[np.arange(svm["N"]), svm["y"]] = 0
    value, _ = _value(gradcalc_cli("eval", "scores = X.dot(W); margins = scores + 1\n"
                                   "margins = margins * (1 - one_hot(y, C)); np.sum(margins)",
                                   *_bind(svm), "--json"))
    np.testing.assert_allclose(value, margins.sum(), rtol=1e-12)


@pytest.mark.parametrize("source, name", [
    ("loss = sum(x); loss += 2; loss", "loss"),
    ("dx = x; dx /= 4; sum(dx)", "dx"),
])
def test_augmented_assignment_is_refused_with_the_spelling_that_works(gradcalc_cli, source,
                                                                       name):
    error = _error(gradcalc_cli("eval", source, "x=[1, 2]", "--json"))
    operator = source[source.index("=", source.index(";")) - 1]
    assert error["message"] == f"'{operator}=' is not an operator here"
    assert error["hint"].startswith(f"write {name} = {name} {operator} ...")
    fixed = source.replace(f"{name} {operator}= ", f"{name} = {name} {operator} ")
    value, _ = _value(gradcalc_cli("eval", fixed, "x=[1, 2]", "--json"))
    x = np.array([1.0, 2.0])
    expected = {"loss": x.sum() + 2, "dx": (x / 4).sum()}[name]
    assert value == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("source", ["X.shape[0]", "np.sum(X) / X.shape[0]", "X.size"])
def test_shape_attributes_say_to_bind_the_size(gradcalc_cli, source):
    error = _error(gradcalc_cli("eval", source, "X=[[1, 2]]", "--json"))
    assert error["message"].startswith("unknown attribute")
    assert "bind the size as an input (N=500)" in error["hint"]
    assert "(...)" not in error["hint"]  # no function of that name to suggest


@pytest.mark.parametrize("source, fixed", [
    ("sum(x[x > 1])", "sum(x * (x > 1))"),
    ("m = x > 1; sum(x[m])", "sum(x * (x > 1))"),
    ("sum(dS[S > 0])", "sum(dS * (S > 0))"),
])
def test_a_comparison_as_an_index_is_refused_not_read_as_indices(gradcalc_cli, source,
                                                                 fixed):
    """numpy's x[x > 1] picks the elements where the mask holds; gradcalc's masks are
    1.0/0.0, which as indices would silently pick elements 0 and 1."""
    bindings = ["x=[5, 0.5, 3]", "S=[-1, 2, 3]", "dS=[10, 20, 30]"]
    error = _error(gradcalc_cli("eval", source, *bindings, "--json"))
    assert error["message"].startswith("a comparison as an index")
    assert error["hint"].startswith("multiply by the mask instead: ")
    x, S, dS = np.array([5, 0.5, 3]), np.array([-1, 2, 3.0]), np.array([10, 20, 30.0])
    expected = np.sum(dS[S > 0]) if "dS" in source else np.sum(x[x > 1])
    value, _ = _value(gradcalc_cli("eval", fixed, *bindings, "--json"))
    assert value == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("call, reference", [
    ("np.var(x, axis=0)", lambda x: np.var(x, axis=0)),
    ("x.std()", lambda x: np.std(x)),
    ("np.var(x - 1, axis=1, keepdims=True)", lambda x: np.var(x - 1, axis=1, keepdims=True)),
])
def test_var_and_std_hints_write_them_with_mean(gradcalc_cli, call, reference):
    """batchnorm_forward's np.var: the hint's spelling, pasted in, is numpy's (ddof=0)."""
    x = np.random.default_rng(4).normal(size=(4, 3))
    binding = f"x={json.dumps(x.tolist())}"
    error = _error(gradcalc_cli("eval", call, binding, "--json"))
    assert error["span"] == [0, len(call)]
    written = error["hint"].split("`")[1]
    value, _ = _value(gradcalc_cli("eval", written, binding, "--upstream",
                                   json.dumps(np.ones_like(reference(x)).tolist()), "--json"))
    np.testing.assert_allclose(value, reference(x), rtol=1e-12)


S = [[1.0, -2.0], [3.0, 0.5]]


@pytest.mark.parametrize("source, reference", [
    ("np.zeros_like(S) + S", lambda S: np.zeros_like(S) + S),
    ("np.ones_like(S) * S", lambda S: np.ones_like(S) * S),
    ("np.clip(S, 0, 1)", lambda S: np.clip(S, 0, 1)),
    ("S.flatten()", lambda S: S.flatten()),
    ("S.ravel()", lambda S: S.ravel()),
    ("np.multiply(S + 1, S)", lambda S: np.multiply(S + 1, S)),
    ("np.add(S, 1)", lambda S: np.add(S, 1)),
    ("np.subtract(1, S)", lambda S: np.subtract(1, S)),
    ("np.divide(S, 2)", lambda S: np.divide(S, 2)),
    ("np.power(S, 2)", lambda S: np.power(S, 2)),
    ("(S > 0).astype(float)", lambda S: (S > 0).astype(float)),
    ("S.copy()", lambda S: S.copy()),
    ("np.hstack([S, S])", lambda S: np.hstack([S, S])),
    ("np.vstack([S, S])", lambda S: np.vstack([S, S])),
])
def test_numpy_functions_spelt_otherwise_have_a_hint_that_works(gradcalc_cli, source,
                                                                reference):
    """The hint replaces the whole call (the caret's span); pasted in, it is numpy's value.
    hstack is not stack (a typo's suggestion would be a function of another meaning)."""
    binding = f"S={json.dumps(S)}"
    error = _error(gradcalc_cli("eval", source, binding, "--json"))
    start, stop = error["span"]
    fixed = source[:start] + error["hint"].split("`")[1] + source[stop:]
    expected = reference(np.array(S))
    value, _ = _value(gradcalc_cli("eval", fixed, binding, "--upstream",
                                   json.dumps(np.ones_like(expected).tolist()), "--json"))
    np.testing.assert_allclose(value, expected, rtol=1e-15)


def test_np_linalg_norm_is_norm(gradcalc_cli):
    """The Frobenius norm of a matrix, numpy's default; its gradient S / ‖S‖."""
    x = np.array(S)
    value, grads = _value(gradcalc_cli("eval", "np.linalg.norm(S)", f"S={json.dumps(S)}",
                                       "--json"))
    assert value == pytest.approx(np.linalg.norm(x), rel=1e-15)
    np.testing.assert_allclose(grads["S"], x / np.linalg.norm(x), rtol=1e-15)


@pytest.mark.parametrize("source, reference", [
    ("concatenate([S, S], 1)", lambda S: np.concatenate([S, S], 1)),
    ("stack([S, S], -1)", lambda S: np.stack([S, S], -1)),
    ("concatenate(S, S, axis=1)", lambda S: np.concatenate([S, S], axis=1)),
    ("softmax(S, dim=1)", lambda S: np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)),
    ("S.sum(dim=0)", lambda S: S.sum(axis=0)),
    ("S.mean(axis=0, keepdim=True)", lambda S: S.mean(axis=0, keepdims=True)),
])
def test_an_axis_written_otherwise_gets_the_call_that_works(gradcalc_cli, source, reference):
    """A positional axis of concatenate and stack (the old hint said axis=0 whatever was
    written), and PyTorch's dim= and keepdim=: the hint, applied, is numpy's value."""
    binding = f"S={json.dumps(S)}"
    error = _error(gradcalc_cli("eval", source, binding, "--json"))
    hint = error["hint"]
    if "PyTorch" in hint:  # the keyword (`dim=1` at the caret), renamed in place
        written = re.match(r"\w+=[^,)]*", source[error["span"][0]:]).group()
        fixed = source.replace(written, hint.split(" ")[1], 1)
    else:  # the whole call
        fixed = hint.split(" ", 1)[1].split(":")[0]
    expected = reference(np.array(S))
    value, _ = _value(gradcalc_cli("eval", fixed, binding, "--upstream",
                                   json.dumps(np.ones_like(expected).tolist()), "--json"))
    np.testing.assert_allclose(value, expected, rtol=1e-14)
