"""`gradcalc check` on the tensor exercises of CS231n assignment 1, as a student runs it:
the softmax loss and the two-layer net typed in numpy's spelling, their dW answered from a
.npy file with one element planted wrong at a known index.

Oracles: the gradients of reference solutions in plain numpy, written as the assignments
write them (the staged backward pass); the planted index is the only element changed.
"""
import numpy as np
import pytest

import gradcalc

REG = 0.05


def softmax_loss_vectorized(W, X, y, reg):
    """cs231n/classifiers/softmax.py, vectorized: (loss, dW)."""
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train + reg * np.sum(W * W)
    dscores = probs.copy()
    dscores[np.arange(num_train), y] -= 1
    dW = X.T.dot(dscores) / num_train + 2 * reg * W
    return loss, dW


def two_layer_net_loss(X, y, W1, b1, W2, b2, reg):
    """cs231n/classifiers/neural_net.py TwoLayerNet.loss: (loss, {name: gradient})."""
    N = X.shape[0]
    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(N), y])) + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    return loss, {"W1": X.T.dot(dhidden) + 2 * reg * W1, "b1": dhidden.sum(axis=0),
                  "W2": hidden.T.dot(dscores) + 2 * reg * W2, "b2": dscores.sum(axis=0)}


SOFTMAX = ("scores = X.dot(W)\n"
           "probs = np.exp(scores - np.max(scores, axis=1, keepdims=True))\n"
           "probs = probs / np.sum(probs, axis=1, keepdims=True)\n"
           "-np.sum(np.log(probs[np.arange(N), y])) / N + reg * np.sum(W * W)")

TWO_LAYER = ("hidden = np.maximum(0, X.dot(W1) + b1); scores = hidden.dot(W2) + b2\n"
             "shifted = scores - np.max(scores, axis=1, keepdims=True)\n"
             "probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)\n"
             "-np.mean(np.log(probs[np.arange(N), y])) + reg * (np.sum(W1 * W1) + "
             "np.sum(W2 * W2))")


@pytest.fixture
def softmax_files(tmp_path):
    rng = np.random.default_rng(12)
    N, D, C = 6, 4, 3
    arrays = {"X": rng.normal(size=(N, D)), "W": 0.1 * rng.normal(size=(D, C)),
              "y": rng.integers(0, C, size=N)}
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    return tmp_path, arrays


def _bindings(folder, names):
    return [f"{name}=@{folder / (name + '.npy')}" for name in names]


def _planted(folder, name, right, index, by=0.01):
    wrong = right.copy()
    wrong[index] += by
    np.save(folder / f"d{name}.npy", wrong)
    return f"{name}=@{folder / ('d' + name + '.npy')}"


def _answer(document, name):
    (row,) = [row for row in document["answers"] if row["name"] == name]
    return row


def test_softmax_dW_with_one_planted_element_names_exactly_it(gradcalc_cli, softmax_files):
    folder, arrays = softmax_files
    loss, dW = softmax_loss_vectorized(arrays["W"], arrays["X"], arrays["y"], REG)
    args = ["check", SOFTMAX, *_bindings(folder, "XWy"), f"N={len(arrays['y'])}",
            f"reg={REG}", "--json"]
    ran = gradcalc_cli(*args, "--expect", _planted(folder, "W", dW, (2, 1)))
    assert ran.code == 1
    document = ran.json()
    assert document["value"] == pytest.approx(loss, rel=1e-12)
    row = _answer(document, "W")
    assert row["verdict"] == "fail"
    assert row["wrong"] == [{"index": [2, 1], "given": dW[2, 1] + 0.01,
                             "computed": pytest.approx(dW[2, 1], rel=1e-9)}]
    np.testing.assert_allclose(row["computed"], dW, rtol=1e-9)
    # the gradient check itself passes: the failure is the answer's, not the rule's
    # (N, a size, moves arange(N) past y's range under ± h, and is unreliable, not failed)
    verdicts = {g["input"]: g["verdict"] for g in document["gradient_check"]}
    assert verdicts == {"X": "pass", "W": "pass", "N": "unreliable", "reg": "pass"}
    # the reference's own dW passes
    right = gradcalc_cli(*args, "--expect", _planted(folder, "W", dW, (2, 1), by=0.0))
    assert right.code == 0 and _answer(right.json(), "W")["verdict"] == "pass"


@pytest.fixture
def net():
    """The two-layer net's data, with hidden unit 2 of point 0 exactly at relu's kink."""
    rng = np.random.default_rng(231)
    N, D, H, C = 4, 3, 5, 3
    X = rng.normal(size=(N, D))
    W1, b1 = 0.5 * rng.normal(size=(D, H)), 0.1 * rng.normal(size=H)
    W2, b2 = 0.5 * rng.normal(size=(H, C)), 0.1 * rng.normal(size=C)
    b1[2] = -(X[0] @ W1[:, 2])
    assert (X.dot(W1) + b1)[0, 2] == 0.0
    return dict(X=X, y=rng.integers(0, C, size=N), W1=W1, b1=b1, W2=W2, b2=b2)


def test_two_layer_net_planted_dW1_element(gradcalc_cli, net, tmp_path):
    loss, grads = two_layer_net_loss(**net, reg=REG)
    for name, array in net.items():
        np.save(tmp_path / f"{name}.npy", array)
    ran = gradcalc_cli("check", TWO_LAYER, *_bindings(tmp_path, net), "N=4", f"reg={REG}",
                       "--expect", _planted(tmp_path, "W1", grads["W1"], (1, 3)),
                       "--expect", _planted(tmp_path, "b2", grads["b2"], (0,), by=0.0),
                       "--ties", "first", "--json")  # the reference's relu'(0) = 0
    assert ran.code == 1
    document = ran.json()
    assert document["value"] == pytest.approx(loss, rel=1e-12)
    row = _answer(document, "W1")
    assert [wrong["index"] for wrong in row["wrong"]] == [[1, 3]]
    assert row["wrong"][0]["computed"] == pytest.approx(grads["W1"][1, 3], rel=1e-9)
    assert _answer(document, "b2")["verdict"] == "pass"


def test_two_layer_net_gradient_check_flags_relu_kinks_per_element(net):
    """No false FAIL; the elements whose ± h moves hidden unit (0, 2) across relu's kink
    are unreliable, each by its index, and every other element passes."""
    report = gradcalc.check(TWO_LAYER, {**net, "N": 4, "reg": REG})
    assert report.passed
    verdicts = {row.name: {e.index: e.verdict for e in row.elements} for row in report.gradients}
    assert all(v != "fail" for row in verdicts.values() for v in row.values())
    crossing = {"X": {(0, d) for d in range(3)}, "W1": {(d, 2) for d in range(3)},
                "b1": {(2,)}}
    for name, elements in verdicts.items():
        unreliable = {index for index, verdict in elements.items() if verdict == "unreliable"}
        assert unreliable == crossing.get(name, set()), name
    # and away from the kink (where the tie is split) every element is the reference's
    _, grads = two_layer_net_loss(**net, reg=REG)
    for row in report.gradients:
        if row.name in grads:
            away = np.ones(np.shape(grads[row.name]), dtype=bool)
            for index in crossing.get(row.name, ()):
                away[index] = False
            np.testing.assert_allclose(np.asarray(row.analytic)[away], grads[row.name][away],
                                       rtol=1e-9, atol=1e-12)


def test_the_assignments_answer_at_relu_kink_names_the_tie_policy(gradcalc_cli, net, tmp_path):
    """The reference takes relu'(0) = 0 (`dhidden[hidden <= 0] = 0`); gradcalc splits the
    tie. The reference's dW1 differs exactly at the three elements through the kink: the
    note says which --ties makes it right, and with that policy it passes."""
    _, grads = two_layer_net_loss(**net, reg=REG)
    for name, array in net.items():
        np.save(tmp_path / f"{name}.npy", array)
    args = ["check", TWO_LAYER, *_bindings(tmp_path, net), "N=4", f"reg={REG}", "--json",
            "--expect", _planted(tmp_path, "W1", grads["W1"], (0,), by=0.0),
            "--expect", _planted(tmp_path, "b1", grads["b1"], (0,), by=0.0)]
    ran = gradcalc_cli(*args)
    assert ran.code == 1
    rows = {row["name"]: row for row in ran.json()["answers"]}
    assert [w["index"] for w in rows["W1"]["wrong"]] == [[0, 2], [1, 2], [2, 2]]
    assert [w["index"] for w in rows["b1"]["wrong"]] == [[2]]
    for row in rows.values():
        assert row["note"].endswith("; at a tie or kink: right with --ties first")
    first = gradcalc_cli(*args, "--ties", "first")
    assert first.code == 0, first.stdout
    # an answer that is no subgradient at the kink gets no such note
    beyond = grads["b1"].copy()
    beyond[2] = 3 * np.asarray(rows["b1"]["computed"])[2]
    np.save(tmp_path / "db1.npy", beyond)
    wrong = gradcalc_cli(*args[:-2], "--expect", f"b1=@{tmp_path / 'db1.npy'}")
    assert "tie" not in _answer(wrong.json(), "b1")["note"]


def test_a_scalar_answer_between_the_two_tie_policies_is_called_a_subgradient(gradcalc_cli):
    """max(x, y) at x = y: ∂f/∂x is 0.5 split, 1 or 0 given to one side; 0.7 is a
    subgradient too (any value in [0, 1]), 2 is not."""
    def note(given):
        ran = gradcalc_cli("check", "max(x, y)", "x=1", "y=1", "--expect", f"x={given}",
                           "--json")
        assert ran.code == 1
        return ran.json()["answers"][0]["note"]
    assert note(1).endswith("at a tie or kink: right with --ties first")
    assert note(0.7).startswith("at a tie or kink, where any subgradient is right")
    assert note(2) == ""
