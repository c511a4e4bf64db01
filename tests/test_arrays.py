"""Vectors and matrices: the lecture's vectorized example, Jacobians, --upstream, an affine
layer against its closed-form gradients, and shape errors (numpy staying out of scalar runs:
test_startup.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcalc

W = [[0.1, 0.5], [-0.3, 0.8]]
X = [0.2, 0.4]


@pytest.mark.parametrize("source", ["sum((W@x)^2)", "norm(W@x)^2", "q = W@x; f = sum(q*q)"])
def test_lecture_vectorized_example(source):
    r = gradcalc.evaluate(source, W=W, x=X)
    assert r.value == pytest.approx(0.116, rel=1e-12)
    np.testing.assert_allclose(r.gradients["W"], [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(r.gradients["x"], [-0.112, 0.636], rtol=1e-12)


def test_upstream_on_a_vector_output_gives_w_transpose_dout():
    dout = np.array([1.5, -2.0])
    r = gradcalc.evaluate("W@x", W=W, x=X, upstream=dout.tolist())
    np.testing.assert_allclose(r.gradients["x"], np.array(W).T @ dout)
    np.testing.assert_allclose(r.gradients["W"], np.outer(dout, X))


def test_vector_output_without_upstream_gives_jacobians():
    r = gradcalc.evaluate("W@x", W=W, x=X)
    assert np.shape(r.gradients["W"]) == (2, 2, 2) and np.shape(r.gradients["x"]) == (2, 2)
    np.testing.assert_allclose(r.gradients["x"], W)  # ∂(Wx)/∂x = W


def test_broadcasting_gradients_reduce_to_the_input_shape():
    r = gradcalc.evaluate("sum(M + b) + sum(M * s)", M=[[1, 2, 3], [4, 5, 6]], b=[1, 1, 1], s=2)
    np.testing.assert_allclose(r.gradients["b"], [2, 2, 2])  # a row added to two rows
    assert r.gradients["s"] == pytest.approx(21)  # a scalar times every element
    np.testing.assert_allclose(r.gradients["M"], np.full((2, 3), 3.0))


def test_indexing_scatters_the_gradient_back():
    r = gradcalc.evaluate("M[1, 0] * v[-1] + max(v)", M=[[1, 2], [3, 4]], v=[5, 9, 7])
    assert r.value == 3 * 7 + 9
    np.testing.assert_allclose(r.gradients["M"], [[0, 0], [7, 0]])
    np.testing.assert_allclose(r.gradients["v"], [0, 1, 3])


def test_literals_and_max_tie_over_a_vector():
    r = gradcalc.evaluate("max([x, y, x])", x=2, y=1)
    assert r.value == 2 and r.gradients == {"x": 1.0, "y": 0.0}  # split 1/2 + 1/2
    assert any("tie" in m for _, m in r.warnings)
    first = gradcalc.evaluate("max(v)", v=[2, 2, 1], ties="first")
    np.testing.assert_allclose(first.gradients["v"], [1, 0, 0])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_affine_relu_layer_matches_closed_form(n, d, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)
    r = gradcalc.evaluate("sum(relu(x@W + b))", x=x, W=w, b=b)
    mask = (x @ w + b > 0).astype(float)  # dL/dh for L = Σ relu(h)
    np.testing.assert_allclose(r.value, np.maximum(x @ w + b, 0).sum())
    np.testing.assert_allclose(r.gradients["x"], mask @ w.T, atol=1e-12)
    np.testing.assert_allclose(r.gradients["W"], x.T @ mask, atol=1e-12)
    np.testing.assert_allclose(r.gradients["b"], mask.sum(axis=0), atol=1e-12)


def test_json_carries_nested_lists(gradcalc_cli):
    doc = gradcalc_cli("eval", "sum((W@x)^2)", "W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]",
                       "--json").json()
    assert doc["gradients"]["x"] == pytest.approx([-0.112, 0.636])
    assert doc["nodes"][0]["value"] == W


def test_table_shows_shapes_and_matrix_rules(gradcalc_cli):
    out = gradcalc_cli("eval", "q = W@x; f = sum(q^2)", "W=[[0.1,0.5],[-0.3,0.8]]",
                       "x=[0.2,0.4]", "--steps").stdout
    assert "shape" in out and "2×2" in out
    assert "∂f/∂W = ∂f/∂q · xᵀ" in out and "∂f/∂x = Wᵀ · ∂f/∂q" in out


@pytest.mark.parametrize("args,message", [
    (["x@W + b", "W=[[1,2],[3,4]]", "x=[1,1]", "b=[1,2,3]"], "the shapes 2 and 3 do not fit"),
    (["W@x", "W=[[1,2],[3,4]]", "x=[1,2,3]"], "shapes 2×2 and 3 do not fit"),
    (["v[3]", "v=[1,2]"], "out of range"),
    (["v[0, 1]", "v=[1,2]"], "2 indices for a value of shape 2"),
    (["x", "x=[[1,2],[3]]"], "ragged"),
    (["x*2", "x=[1,2]", "--exact"], "scalars only"),
    (["[x, [x, x]]", "x=1"], "same shape"),
    (["sum(x)", "x=[1, [2, 3]]"], "ragged"),
])
def test_shape_errors(gradcalc_cli, args, message):
    ran = gradcalc_cli("eval", *args)
    assert ran.code == 2 and message in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr
