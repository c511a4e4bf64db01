"""Reductions over an axis and the softmax family, against independent oracles.

Oracles: central differences of the forward value (every op, attributes bound), numpy's own
reductions, the CS231n assignment 1 softmax classifier written as the assignment writes it
(softmax_loss_naive with its loops, softmax_loss_vectorized), mpmath at 50 digits for the
rows of very different scale, and the tie conventions of `max(a, b)` (--ties).
"""
import json
from importlib import resources

import jsonschema
import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gradcalc
from gradcalc import ops
from gradcalc.arrays import ArrayArith

H = 1e-6
# The issue's stability case: rows of very different scale.
WILD = [[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -999.0]]


def _numeric(forward, args, g, k):
    """∂(Σ g·forward(args))/∂args[k] by central differences."""
    grad = np.zeros(np.shape(args[k]))
    for index in np.ndindex(grad.shape):
        def loss(delta):
            moved = [np.array(a, dtype=float) for a in args]
            moved[k][index] += delta
            return float(np.sum(g * forward(*moved)))
        grad[index] = (loss(H) - loss(-H)) / (2 * H)
    return grad


BOUND = [
    ("sum", {"axis": 1}, (3, 4)), ("sum", {"axis": -1, "keepdims": True}, (3, 4)),
    ("sum", {"axis": (0, 2)}, (2, 3, 2)), ("mean", {"axis": 0}, (3, 4)),
    ("mean", {"axis": (1, 2), "keepdims": True}, (2, 3, 2)), ("norm", {"axis": 1}, (3, 4)),
    ("norm", {"axis": 0, "keepdims": True}, (3, 4)), ("max_of", {"axis": 1}, (3, 4)),
    ("max_of", {"axis": 0, "keepdims": True}, (3, 4)), ("min_of", {"axis": (0, 2)}, (2, 3, 2)),
    ("min_of", {"axis": -2}, (2, 3, 2)), ("softmax", {"axis": 0}, (3, 4)),
    ("softmax", {"axis": None}, (3, 4)), ("softmax", {}, (2, 3, 4)),
    ("log_softmax", {"axis": 1}, (2, 3, 4)), ("log_softmax", {}, (5,)),
    ("logsumexp", {"axis": 1}, (3, 4)), ("logsumexp", {"axis": 0, "keepdims": True}, (3, 4)),
    ("logsumexp", {}, (3, 4)),
]


@pytest.mark.parametrize("name,attrs,shape", BOUND, ids=[f"{n}-{a}" for n, a, _ in BOUND])
@pytest.mark.parametrize("ties", ["split", "first"])
def test_vjp_with_attributes_matches_central_differences(name, attrs, shape, ties):
    xp = ArrayArith(ties)
    op = ops.BY_NAME[name].bind(**attrs)
    rng = np.random.default_rng(len(shape) + len(attrs))
    for _ in range(3):
        a = rng.normal(size=shape) * 3
        assert op.domain(xp, a) is None
        out = op.forward(xp, a)
        assert op.kink(xp, out, a) is None if op.kink else True
        g = rng.normal(size=np.shape(out))
        (analytic,) = op.vjp(xp, g, out, a)
        assert np.shape(analytic) == shape
        numeric = _numeric(lambda v: op.forward(xp, v), [a], g, 0)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape,labels", [((4, 3), [0, 2, 1, 2]), ((3,), 1), ((1, 5), [4])])
def test_cross_entropy_vjp_matches_central_differences(shape, labels):
    xp = ArrayArith()
    op = ops.BY_NAME["cross_entropy"]
    rng = np.random.default_rng(7)
    scores, y = rng.normal(size=shape) * 2, np.asarray(labels, dtype=float)
    assert op.domain(xp, scores, y) is None
    analytic, none = op.vjp(xp, 1.5, op.forward(xp, scores, y), scores, y)
    assert none is None  # the labels take no gradient
    numeric = _numeric(lambda s: op.forward(xp, s, y), [scores], 1.5, 0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# -- numpy's reductions: the values and shapes of every axis/keepdims combination -------------
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (-1, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_give_numpys_values_and_shapes(name, axis, keepdims):
    S = np.arange(24.0).reshape(2, 3, 4) % 7 - 3.5 + np.linspace(0, 0.1, 24).reshape(2, 3, 4)
    source = f"{name}(S, axis={axis}, keepdims={keepdims})"
    r = gradcalc.evaluate(source, S=S.tolist(), upstream=None if axis is None and not keepdims
                          else np.ones(np.shape(getattr(np, name)(S, axis=axis,
                                                                 keepdims=keepdims))).tolist())
    expected = getattr(np, name)(S, axis=axis, keepdims=keepdims)
    assert np.shape(r.value) == np.shape(expected)
    np.testing.assert_allclose(r.value, expected, rtol=1e-15)


def test_method_spelling_and_numpy_prefix_are_the_same_reduction():
    S = [[1.0, 5.0, 2.0], [7.0, -1.0, 3.0]]
    plain = gradcalc.evaluate("sum(max(S, axis=1, keepdims=True) * S)", S=S)
    for source in ("sum(S.max(axis=1, keepdims=True) * S)",
                   "np.sum(np.max(S, axis=1, keepdims=True) * S)"):
        r = gradcalc.evaluate(source, S=S)
        assert r.value == plain.value
        np.testing.assert_array_equal(r.gradients["S"], plain.gradients["S"])


def test_max_with_a_second_positional_argument_stays_elementwise():
    """`max(S, 1)` is max(S, 1) elementwise (the lecture's max(0, x)), not numpy's axis=1."""
    S = [[0.5, 2.0], [3.0, -1.0]]
    r = gradcalc.evaluate("sum(max(S, 1))", S=S)
    assert r.value == np.sum(np.maximum(S, 1))
    np.testing.assert_array_equal(r.gradients["S"], [[0, 1], [1, 0]])


# -- ties: as max(a, b) and max(v) do, per slice -----------------------------------------------
TIED = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]


@pytest.mark.parametrize("ties,axis,expected", [
    ("split", 1, [[0, 0.5, 0.5], [0.5, 0.5, 0]]),
    ("first", 1, [[0, 1, 0], [1, 0, 0]]),
    ("split", 0, [[0, 1, 1], [1, 0, 0]]),
    ("first", (0, 1), [[0, 1, 0], [0, 0, 0]]),  # the first in reading order
    ("split", None, [[0, 0.5, 0.5], [0, 0, 0]]),
])
def test_max_over_an_axis_routes_ties_as_ties_says(ties, axis, expected):
    r = gradcalc.evaluate(f"sum(max(S, axis={axis}))", S=TIED, ties=ties)
    np.testing.assert_array_equal(r.gradients["S"], expected)
    warnings = [m for _, m in r.warnings]
    assert len(warnings) == (0 if axis == 0 else 1)
    assert all("tie" in m and ("first" in m if ties == "first" else "split" in m)
               for m in warnings)


def test_min_over_an_axis_routes_to_the_smallest_and_warns_on_ties():
    r = gradcalc.evaluate("sum(min(S, axis=0) * [1, 2, 3])", S=TIED)
    np.testing.assert_array_equal(r.gradients["S"], [[1, 0, 0], [0, 2, 3]])
    assert r.warnings == []
    tied = gradcalc.evaluate("sum(min(S, axis=1))", S=[[1.0, 1.0], [0.0, 4.0]])
    np.testing.assert_array_equal(tied.gradients["S"], [[0.5, 0.5], [1, 0]])
    assert any("along axis 1" in m for _, m in tied.warnings)


def test_norm_of_a_zero_row_takes_gradient_zero_and_warns():
    r = gradcalc.evaluate("sum(norm(S, axis=1))", S=[[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(r.gradients["S"], [[0.6, 0.8], [0, 0]])
    assert any("norm has no derivative at 0" in m for _, m in r.warnings)


# -- the softmax classifier of CS231n assignment 1, as the assignment writes it ----------------
def softmax_loss_naive(W, X, y, reg):
    """cs231n/classifiers/softmax.py, the loop version (with the notes' max shift)."""
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(p[y[i]])
        for j in range(num_classes):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    """The same, vectorized as the assignment's solution writes it."""
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(num_train), y]).sum() / num_train + reg * np.sum(W * W)
    dscores = probs.copy()
    dscores[np.arange(num_train), y] -= 1
    dW = X.T.dot(dscores) / num_train + 2 * reg * W
    return loss, dW


SPELLINGS = {
    "cross_entropy": "cross_entropy(X @ W, y) + reg * sum(W * W)",
    "logsumexp and label indexing":
        "S = X @ W; mean(logsumexp(S, axis=1) - S[r, y]) + reg * sum(W * W)",
    "softmax by hand": "S = X @ W; E = exp(S - max(S, axis=1, keepdims=True)); "
                       "P = E / sum(E, axis=1, keepdims=True); "
                       "-sum(log(P[r, y])) / 5 + reg * sum(W * W)",
    "softmax": "P = softmax(X @ W, axis=1); -mean(log(P[r, y])) + reg * sum(W * W)",
    "log_softmax": "-mean(log_softmax(X @ W)[r, y]) + reg * sum(W * W)",
}


@pytest.mark.parametrize("source", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_softmax_classifier_matches_the_assignments_reference(source):
    rng = np.random.default_rng(231)
    X, W = rng.normal(size=(5, 4)), 0.1 * rng.normal(size=(4, 3))
    y, reg = np.array([0, 2, 1, 1, 2]), 0.05
    loss, dW = softmax_loss_naive(W, X, y, reg)
    loss_v, dW_v = softmax_loss_vectorized(W, X, y, reg)
    assert loss == pytest.approx(loss_v, abs=1e-12)
    r = gradcalc.evaluate(source, X=X.tolist(), W=W.tolist(), y=y.tolist(), reg=reg,
                          **({"r": list(range(5))} if "[r, y]" in source else {}))
    assert r.value == pytest.approx(loss, abs=1e-9)
    np.testing.assert_allclose(r.gradients["W"], dW, atol=1e-9)
    np.testing.assert_allclose(r.gradients["X"], (softmax_grad_X(W, X, y)), atol=1e-9)
    assert r.gradients["y"] is None  # labels take no gradient
    assert r.warnings == []


def softmax_grad_X(W, X, y):
    """∂loss/∂X of the same loss: dscores · Wᵀ (the backward of scores = X·W)."""
    scores = X.dot(W)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    return probs.dot(W.T) / len(y)


# -- stability: the issue's rows of very different scale ----------------------------------------
def _mp_softmax_row(row):
    """softmax, logsumexp and log_softmax of one row at 50 digits, with no shift at all
    (mpmath's exponents do not overflow)."""
    with mpmath.workdps(50):
        e = [mpmath.exp(mpmath.mpf(v)) for v in row]
        total = mpmath.fsum(e)
        return ([float(v / total) for v in e], float(mpmath.log(total)),
                [float(mpmath.log(v / total)) for v in e])


def test_softmax_of_rows_of_very_different_scale_is_finite_and_exact():
    G = [[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]]
    r = gradcalc.evaluate("sum(softmax(S, axis=1) * G)", S=WILD, G=G)
    assert r.warnings == []  # no overflow, no 0/0
    S, G = np.array(WILD), np.array(G)
    shifted = np.exp(S - S.max(axis=1, keepdims=True))  # numpy's max-shifted formula
    P = shifted / shifted.sum(axis=1, keepdims=True)
    assert r.value == pytest.approx(np.sum(P * G), rel=1e-15)
    np.testing.assert_allclose(r.gradients["S"], P * (G - (P * G).sum(axis=1, keepdims=True)),
                               rtol=1e-14)
    exact = np.array([_mp_softmax_row(row)[0] for row in WILD])
    np.testing.assert_allclose(P, exact, rtol=1e-14)
    assert np.all(np.isfinite(r.gradients["S"]))


def test_logsumexp_log_softmax_and_cross_entropy_at_scale_match_mpmath():
    lse = [_mp_softmax_row(row)[1] for row in WILD]
    r = gradcalc.evaluate("logsumexp(S, axis=1)", S=WILD, upstream=[1.0, 1.0])
    np.testing.assert_allclose(r.value, lse, rtol=1e-15)
    log_p = gradcalc.evaluate("log_softmax(S, axis=1)", S=WILD, upstream=[[1.0] * 3] * 2)
    np.testing.assert_allclose(log_p.value, [_mp_softmax_row(row)[2] for row in WILD],
                               rtol=1e-15)
    ce = gradcalc.evaluate("cross_entropy(S, y)", S=WILD, y=[2, 0])
    assert ce.value == pytest.approx(((lse[0] - 998) + (lse[1] + 1000)) / 2, rel=1e-14)
    assert ce.warnings == [] and np.all(np.isfinite(ce.gradients["S"]))


def test_log_softmax_of_a_far_loser_stays_finite():
    r = gradcalc.evaluate("sum(log_softmax(s) * [0, 1])", s=[0.0, -1000.0])
    assert r.value == -1000.0  # not log(0) = -inf
    np.testing.assert_allclose(r.gradients["s"], [-1.0, 1.0])


def test_softmax_over_the_default_last_axis_sums_to_one_per_row():
    r = gradcalc.evaluate("sum(softmax(S), axis=1)", S=[[1.0, 2.0], [30.0, -4.0]],
                          upstream=[1.0, 1.0])
    np.testing.assert_allclose(r.value, [1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(r.gradients["S"], 0.0, atol=1e-15)  # a constant has none


def test_logsumexp_of_an_overflowed_score_is_inf_not_nan():
    r = gradcalc.evaluate("logsumexp([exp(x), 1])", x=1000)
    assert r.value == float("inf")
    assert any("overflowed" in m for _, m in r.warnings)


# -- the command line: --steps, --json, the picture, functions, --exact ----------------------
def test_steps_write_each_matrix_rule(gradcalc_cli):
    ran = gradcalc_cli("eval", "L = cross_entropy(S, y)", "S=[[1, 2, 0], [0, 1, 3]]", "y=[1, 2]",
                       "--steps")
    assert ran.code == 0, ran.stderr
    assert "∂L/∂S = ∂L/∂L · (softmax(S) − onehot(y)) / N = " in ran.stdout
    ran = gradcalc_cli("eval", "f = logsumexp(S)", "S=[1, 2]", "--steps")
    assert "∂f/∂S = ∂f/∂f · softmax(S) = [0.268941, 0.731059]" in ran.stdout


def test_json_of_the_new_ops_matches_the_schema(gradcalc_cli):
    ran = gradcalc_cli("eval", "cross_entropy(S, y) + sum(max(S, axis=1)) + "
                       "mean(logsumexp(log_softmax(softmax(S), axis=0), axis=1, keepdims=True))",
                       "S=[[1, 2, 0], [0, 1, 3]]", "y=[1, 2]", "--json")
    assert ran.code == 0, ran.stderr
    document = ran.json()
    schema = json.loads(resources.files("gradcalc").joinpath("schemas", "eval.schema.json")
                        .read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["gradients"]["y"] is None
    assert {"cross_entropy", "max_of", "log_softmax", "logsumexp", "softmax"} <= \
        {node["op"] for node in document["nodes"]}


def test_picture_and_functions_list_the_new_ops(gradcalc_cli):
    ran = gradcalc_cli("graph", "cross_entropy(S, y)", "S=[[1, 2], [0, 1]]", "y=[1, 0]",
                       "--format", "mermaid")
    assert ran.code == 0 and "cross_entropy" in ran.stdout
    listed = {spelling for entry in gradcalc_cli("functions", "--json").json()["functions"]
              for spelling in entry["written"]}
    assert {"softmax(a, axis=-1)", "log_softmax(a, axis=-1)", "cross_entropy(a, b)",
            "logsumexp(a, axis=None, keepdims=False)", "sum(a, axis=None, keepdims=False)",
            "max(v, axis=None, keepdims=False)", "max(a, b, ...)"} <= listed


def test_exact_refuses_the_softmax_family(gradcalc_main):
    ran = gradcalc_main("eval", "logsumexp([x, y])", "x=1", "y=2", "--exact")
    assert ran.code == 2 and "scalars only" in ran.stderr


def test_the_one_hot_hint_of_cross_entropy_computes_the_same_loss(gradcalc_main):
    S, Y, y = [[1.0, 2.0, 0.5], [4.0, 5.0, -1.0]], [[0, 1, 0], [1, 0, 0]], [1, 0]
    refused = gradcalc_main("eval", "cross_entropy(S, Y)", f"S={S}", f"Y={Y}")
    assert refused.code == 2
    hint = refused.stderr.split("hint: for one-hot or probability rows Y write ")[1].strip()
    by_hint = gradcalc.evaluate(hint, S=S, Y=Y)
    by_labels = gradcalc.evaluate("cross_entropy(S, y)", S=S, y=y)
    assert by_hint.value == pytest.approx(by_labels.value, rel=1e-15)
    np.testing.assert_allclose(by_hint.gradients["S"], by_labels.gradients["S"], rtol=1e-14)


def test_softmax_jacobian_is_diag_s_minus_s_s_transposed():
    """Without --upstream a vector output gets its Jacobian: the closed form of the notes."""
    v = [0.5, -1.0, 2.0]
    r = gradcalc.evaluate("softmax(v)", v=v)
    s = np.exp(v) / np.sum(np.exp(v))
    np.testing.assert_allclose(r.gradients["v"], np.diag(s) - np.outer(s, s), atol=1e-15)
    log_r = gradcalc.evaluate("log_softmax(v)", v=v)
    np.testing.assert_allclose(log_r.gradients["v"], np.eye(3) - s[None, :], atol=1e-15)


def test_reductions_over_no_elements():
    """max and mean of nothing have no value; an empty result has an empty Jacobian."""
    for source in ("max(v[3:])", "mean(v[3:])", "min(S[:, 5:], axis=1)"):
        with pytest.raises(gradcalc.DomainError, match="over no elements has no value"):
            gradcalc.evaluate(source, v=[1.0, 2.0], S=[[1.0, 2.0], [3.0, 4.0]])
    assert gradcalc.evaluate("sum(v[3:])", v=[1.0, 2.0]).value == 0  # numpy's empty sum
    r = gradcalc.evaluate("max(S[:, 5:], axis=0)", S=[[1.0, 2.0], [3.0, 4.0]])
    assert np.shape(r.value) == (0,) and np.shape(r.gradients["S"]) == (0, 2, 2)


REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min,
          "norm": lambda a, axis, keepdims: np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)),
          "logsumexp": lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis,
                                                               keepdims=keepdims))}


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(REDUCE)), shape=st.lists(st.integers(1, 3), min_size=1,
                                                             max_size=3),
       picked=st.lists(st.booleans(), min_size=3, max_size=3), negative=st.booleans(),
       keepdims=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_any_axes_and_keepdims_against_numpy_and_central_differences(
        name, shape, picked, negative, keepdims, seed):
    """Random shapes, axes (a tuple, negative or not) and keepdims: the value is numpy's
    (logsumexp unshifted, safe at these sizes), the gradient the central difference."""
    assume(any(picked[:len(shape)]))  # the language has no empty tuple: axis=() is numpy's
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    axes = tuple(k - len(shape) if negative else k for k in range(len(shape)) if picked[k])
    expected = REDUCE[name](a, axis=axes, keepdims=keepdims)
    g = rng.normal(size=np.shape(expected))
    r = gradcalc.evaluate(f"sum({name}(a, axis={axes}, keepdims={keepdims}) * g)",
                          a=a.tolist(), g=g.tolist() if np.ndim(g) else float(g))
    assert r.value == pytest.approx(float(np.sum(expected * g)), rel=1e-12, abs=1e-12)
    op = ops.FUNCTIONS[name] if name not in ops.REDUCERS else ops.REDUCERS[name]
    bound = op.bind(axis=axes, keepdims=keepdims)
    numeric = _numeric(lambda v: bound.forward(ArrayArith(), v), [a], g, 0)
    np.testing.assert_allclose(r.gradients["a"], numeric, rtol=1e-5, atol=1e-7)


def test_branch_of_max_over_an_axis_changes_exactly_with_a_winner():
    """`gradcalc check` compares an op's branch at x−h, x, x+h: for max over an axis it is
    which element wins each slice."""
    xp = ArrayArith()
    op = ops.REDUCERS["max"].bind(axis=1)
    pieces = [op.branch(xp, op.forward(xp, a), a) for a in
              (np.array([[1.0, 2.0], [5.0, 3.0]]), np.array([[1.5, 2.0], [5.0, 4.0]]),
               np.array([[2.5, 2.0], [5.0, 4.0]]))]
    assert pieces[0] == pieces[1] == ((1, 0),) and pieces[2] == ((0, 0),)
