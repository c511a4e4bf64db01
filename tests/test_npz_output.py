"""`gradcalc eval --bindings FILE.npz -o FILE.npz` on the softmax classifier of CS231n
assignment 1, as a student runs it on the dev set (at a small size: benchmarks/npz.py
times the real one); what the command prints when the numbers go to a file; and the
--json document of arrays, number for number.

Oracles: the assignment's softmax_loss_vectorized in plain numpy (the loss and dW), and
for the JSON the rule the README states (every number as Python writes a float, the
shortest text that reads back to it; inf and nan as strings), applied to numpy's arrays.
"""
import json
import math

import numpy as np
import pytest

from gradcalc.api import prepare, run_graph
from test_check_tensor_exercises import softmax_loss_vectorized

SOFTMAX = "cross_entropy(X@W, y) + 0.5*sum(W*W)"  # reg = 0.5, as the assignment writes it


@pytest.fixture
def dev_set(tmp_path, monkeypatch):
    """The assignment's dev set in miniature: rows of pixels with a bias column of ones,
    small random weights (0.0001 × randn), labels of 10 classes; saved as one .npz."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(231)
    N, D, C = 40, 31, 10
    X = np.hstack([rng.normal(scale=60.0, size=(N, D - 1)), np.ones((N, 1))])
    arrays = {"X": X, "W": 0.0001 * rng.normal(size=(D, C)), "y": rng.integers(0, C, N)}
    np.savez("dev.npz", **arrays)
    return arrays


def test_grads_npz_holds_the_assignments_loss_and_dW(dev_set, gradcalc_main):
    loss, dW = softmax_loss_vectorized(dev_set["W"], dev_set["X"], dev_set["y"], 0.5)
    ran = gradcalc_main("eval", SOFTMAX, "--bindings", "dev.npz", "--wrt", "W",
                        "-o", "grads.npz")
    assert (ran.code, ran.stderr) == (0, "")
    with np.load("grads.npz", allow_pickle=False) as grads:
        assert sorted(grads.files) == ["W", "value"]  # --wrt W: no array for X
        assert grads["value"] == pytest.approx(loss, rel=1e-9)
        np.testing.assert_allclose(grads["W"], dW, rtol=1e-9, atol=1e-9 * np.abs(dW).max())
    # the numbers went to the file: standard output is the summary line, not the table
    assert ran.stdout.split()[:4] == ["f", "=", f"{loss:.6g}", "∂f/∂W"]
    assert "(input)" not in ran.stdout and "∂f/∂X" not in ran.stdout


def test_only_the_gradients_asked_for_are_computed(dev_set):
    """What -o FILE.npz --wrt W runs: W's gradient alone (the assignment's dW), and none for
    X, whose ∂f/∂X = dscores·Wᵀ would be a product as large as X that nobody reads."""
    loss, dW = softmax_loss_vectorized(dev_set["W"], dev_set["X"], dev_set["y"], 0.5)
    graph, xp, values, _ = prepare(SOFTMAX, dev_set)
    result = run_graph(graph, values, xp=xp, wrt=["W"], every_node=False)
    np.testing.assert_allclose(result.gradients["W"], dW, rtol=1e-9,
                               atol=1e-9 * np.abs(dW).max())
    assert result.value == pytest.approx(loss, rel=1e-9)
    assert result.run.grads[graph.inputs["X"]] is None
    inputs = [node for node in graph.nodes if node.kind == "input"]
    assert {node.name: node.needs_grad for node in inputs} == {"X": False, "W": True,
                                                               "y": False}


@pytest.mark.parametrize("option", [["--format", "table"], ["--format", "markdown"],
                                    ["--steps"], ["--all"], ["--full"]])
def test_an_option_of_the_table_prints_it_beside_the_file(dev_set, gradcalc_cli, option):
    ran = gradcalc_cli("eval", "sum(W*W)", "W=[[1, 2]]", "-o", "g.npz", *option)
    assert ran.code == 0
    assert "(input)" in ran.stdout and "f = 5" in ran.stdout  # the table and its summary
    with np.load("g.npz") as out:
        assert out["W"].tolist() == [[2.0, 4.0]]


def _as_json(array) -> list:
    """The README's rule for a number in JSON, on each element of `array` (a float's
    shortest round-trip text, "inf", "-inf" or "nan"), through the json module."""
    def number(value):
        value = float(value)
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return np.vectorize(number, otypes=[object])(array).tolist()


def test_json_arrays_are_written_number_for_number(tmp_path, gradcalc_main):
    """Finite matrices, one with inf and nan, integer labels (as floats, as every number
    is), -0.0 and a subnormal: the document's text for each node is json.dumps of the
    rule applied element by element."""
    rng = np.random.default_rng(7)
    v = rng.normal(size=(3, 4)) * 10.0 ** rng.integers(-12, 12, size=(3, 4))
    v[0, :3] = [1000.0, -0.0, 5e-320]  # exp(1000) overflows: inf, and inf - inf is nan
    np.savez(tmp_path / "v.npz", v=v, y=np.array([3, 0, 1]))
    ran = gradcalc_main("eval", "s = exp(v); f = sum(s - s) + sum(v[[0, 1, 2], y])",
                        "--bindings", str(tmp_path / "v.npz"), "--json")
    labels = [row["label"] for row in json.loads(ran.stdout)["nodes"]]
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.exp(v)
        expected = {"v": v, "y": np.array([3, 0, 1]), "s": s, "s - s": s - s}
    for label, array in expected.items():
        assert label in labels
        assert f'"value": {json.dumps(_as_json(array), allow_nan=False)}' in ran.stdout, label
    assert '"value": [[1000.0, -0.0, 5e-320, ' in ran.stdout
    assert '"value": [3.0, 0.0, 1.0]' in ran.stdout  # labels are numbers like any other
