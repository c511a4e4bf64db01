"""The published worked examples: CS231n's backprop circuits and micrograd's README program.

Each number here is the one printed in the lecture notes or in micrograd's documentation.
"""
import pytest

import gradcalc

SIGMOID_POINT = dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
SIGMOID_GRADS = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}


def test_add_mul_circuit():
    r = gradcalc.evaluate("(x+y)*z", x=-2, y=5, z=-4)
    assert r.value == -12
    assert r.gradients == {"x": -4, "y": -4, "z": 3}


def test_named_intermediates_as_in_the_notes():
    r = gradcalc.evaluate("q = x + y; f = q * z", x=-2, y=5, z=-4)
    assert r.value == -12
    assert r.gradients == {"x": -4, "y": -4, "z": 3}
    q = next(row for row in r.nodes if row["label"] == "q")
    assert q["value"] == 3 and q["grad"] == -4  # ∂f/∂q = z


@pytest.mark.parametrize("source", [
    "1/(1+exp(-(w0*x0+w1*x1+w2)))",
    "sigmoid(w0*x0+w1*x1+w2)",
])
def test_sigmoid_neuron(source):
    r = gradcalc.evaluate(source, **SIGMOID_POINT)
    assert round(r.value, 2) == 0.73
    assert {k: round(v, 2) for k, v in r.gradients.items()} == SIGMOID_GRADS


def test_sigmoid_neuron_expanded_and_builtin_agree_to_the_last_digit():
    a = gradcalc.evaluate("1/(1+exp(-(w0*x0+w1*x1+w2)))", **SIGMOID_POINT).gradients
    b = gradcalc.evaluate("sigmoid(w0*x0+w1*x1+w2)", **SIGMOID_POINT).gradients
    assert a == pytest.approx(b, rel=1e-15)


def test_gate_patterns_circuit():
    # The notes' "patterns in backward flow" figure: add distributes, max routes, mul swaps.
    r = gradcalc.evaluate("2*(x*y+max(z,w))", x=3, y=-4, z=2, w=-1)
    assert r.value == -20
    assert r.gradients == {"x": -8, "y": 6, "z": 2, "w": 0}


MICROGRAD = """
c = a + b
d = a * b + b^3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + relu(b + a)
d = d + 3 * d + relu(b - a)
e = c - d
f = e^2
g = f / 2
g = g + 10 / f
"""


def test_micrograd_readme_program():
    r = gradcalc.evaluate(MICROGRAD, a=-4, b=2)
    assert round(r.value, 4) == 24.7041
    assert round(r.gradients["a"], 4) == 138.8338
    assert round(r.gradients["b"], 4) == 645.5773


def test_reassignment_labels_keep_versions_apart():
    labels = [row["label"] for row in gradcalc.evaluate(MICROGRAD, a=-4, b=2).nodes]
    for name in ("c", "c#2", "c#3", "d", "d#2", "d#3", "g", "g#2"):
        assert labels.count(name) == 1, name
