"""The homework toolkit: --steps, user gates, --exact, --upstream and `gradcalc functions`.

Expected numbers come from the lecture notes, micrograd's documentation, or are computed
here independently (math.exp for σ, fractions by hand)."""
import math
import time
from fractions import Fraction

import pytest

import gradcalc
from gradcalc import ops

POINT = dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
LECTURE_GRADS = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
GATE = "sig(t) = 1/(1+exp(-t))\nf = sig(w0*x0 + w1*x1 + w2)"


@pytest.mark.parametrize("source,expand", [
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", False),
    ("sigmoid(w0*x0+w1*x1+w2)", False),
    (GATE, False),
    (GATE, True),
])
def test_sigmoid_neuron_four_ways(source, expand):
    r = gradcalc.evaluate(source, expand=expand, **POINT)
    assert {k: round(v, 2) for k, v in r.gradients.items()} == LECTURE_GRADS
    reference = gradcalc.evaluate("sigmoid(w0*x0+w1*x1+w2)", **POINT).gradients
    assert r.gradients == pytest.approx(reference, rel=1e-12)


def test_collapsed_gate_is_one_node_with_local_gradient_sigma_times_one_minus_sigma():
    r = gradcalc.evaluate(GATE, **POINT)
    gate = next(row for row in r.nodes if row["op"] == "sig")
    assert gate["label"] == "f"
    t = POINT["w0"] * POINT["x0"] + POINT["w1"] * POINT["x1"] + POINT["w2"]
    sigma = 1 / (1 + math.exp(-t))
    assert gate["local"] == [pytest.approx(sigma * (1 - sigma), rel=1e-15)]
    expanded = gradcalc.evaluate(GATE, expand=True, **POINT)
    assert len(expanded.nodes) > len(r.nodes)
    assert {row["op"] for row in expanded.nodes} >= {"exp", "neg", "div"}


def test_expanded_nodes_say_which_gate_they_come_from():
    """The body's text names the gate's parameters (a, b, t), not the caller's inputs: a
    student reading `a*b` in a table of x and y needs the gate's name beside it."""
    source = "f(a,b) = a*b + a\ng(t) = f(t, 2*t) + 1\nq = g(x) * y"
    r = gradcalc.evaluate(source, x=1, y=2, expand=True)
    labels = [row["label"] for row in r.nodes]
    assert labels == ["x", "y", "g: 2", "g: 2*t", "f: a*b", "f: a*b + a", "g: 1",
                      "g: f(t, 2*t) + 1", "q"]
    assert r.gradients == {"x": 2 * (2 * 2 * 1 + 1), "y": 4}  # q = (2x² + x + 1)·y


def test_gates_calling_earlier_gates_and_builtins():
    source = "sq(a) = a*a\nnorm2(a, b) = sqrt(sq(a) + sq(b))\nnorm2(x, y)"
    r = gradcalc.evaluate(source, x=3, y=4)
    assert r.value == 5 and r.gradients == pytest.approx({"x": 0.6, "y": 0.8})
    assert gradcalc.evaluate(source, x=3, y=4, expand=True).gradients == r.gradients


def test_kink_inside_a_gate_is_reported_on_the_gate_node():
    r = gradcalc.evaluate("g(a, b) = max(a, b)\ng(x, y)", x=1, y=1)
    assert r.gradients == {"x": 0.5, "y": 0.5}
    assert any("inside g" in message and "tie" in message for _, message in r.warnings)


STEPS = ["eval", "q = x + y; f = q * z", "x=-2", "y=5", "z=-4", "--steps"]


def test_steps_write_every_edge_with_the_lecture_numbers(gradcalc_cli):
    out = gradcalc_cli(*STEPS).stdout
    for line in ("∂f/∂q = ∂f/∂f · ∂f/∂q = 1 · (-4) = -4",
                 "∂f/∂z = ∂f/∂f · ∂f/∂z = 1 · 3 = 3",
                 "∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4",
                 "∂f/∂y = ∂f/∂q · ∂q/∂y = -4 · 1 = -4"):
        assert line in out, line
    # backward order: q's step comes before x's
    steps = out[out.index("Chain rule"):]
    assert steps.index("∂f/∂q =") < steps.index("∂f/∂x =")


def test_steps_write_the_sum_where_a_node_feeds_several(gradcalc_cli):
    out = gradcalc_cli("eval", "a = x*y; b = x + a; b * x", "x=3", "y=2", "--steps").stdout
    # f = (x + xy)·x: ∂f/∂x = b + x·(1 + y) = 9 + 9 = 18, through three edges
    line = next(l for l in out.splitlines() if l.strip().startswith("∂f/∂x ="))
    assert line.count("+") >= 2 and "gradients add at branches: 3 edges" in line
    assert "= 18" in line


def test_steps_in_markdown(gradcalc_cli):
    out = gradcalc_cli(*STEPS, "--format", "markdown").stdout
    assert "- ∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4" in out


def test_exact_rationals():
    r = gradcalc.evaluate("x/3 + y", x=1, y="1/6", exact=True)
    assert r.value == Fraction(1, 2)
    assert r.gradients == {"x": Fraction(1, 3), "y": 1}
    doc = r.to_dict()
    assert doc["value"] == "1/2" and doc["gradients"] == {"x": "1/3", "y": "1"}


def test_exact_micrograd_program():
    from test_lecture import MICROGRAD
    r = gradcalc.evaluate(MICROGRAD, a=-4, b=2, exact=True)
    assert r.value == Fraction(2421, 98)
    assert r.gradients == {"a": Fraction(47620, 343), "b": Fraction(221433, 343)}


def test_exact_decimal_is_the_decimal():
    r = gradcalc.evaluate("x * 3", x=0.1, exact=True)
    assert r.value == Fraction(3, 10)


def test_exact_falls_back_to_float_and_says_so(gradcalc_cli):
    ran = gradcalc_cli("eval", "exp(x) + sqrt(y)", "x=0", "y=9/4", "--exact")
    assert ran.code == 0
    assert "≈1" in ran.stdout  # exp(0) computed in floating point
    assert "3/2" in ran.stdout  # sqrt of a square stays rational
    assert "exp cannot stay rational" in ran.stderr
    assert "sqrt cannot" not in ran.stderr


def test_exact_size_guard_is_immediate(gradcalc_cli):
    start = time.monotonic()
    ran = gradcalc_cli("eval", "2^10^10", "--exact")
    assert time.monotonic() - start < 2
    assert ran.code == 2 and "digits" in ran.stderr and "drop --exact" in ran.stderr


def test_upstream_scales_every_gradient(gradcalc_cli):
    doc = gradcalc_cli("eval", "(x+y)*z", "x=-2", "y=5", "z=-4", "--upstream", "-1/2",
                       "--json").json()
    assert doc["gradients"] == {"x": 2.0, "y": 2.0, "z": -1.5}
    assert doc["nodes"][doc["output"]]["grad"] == -0.5


def test_functions_lists_every_op_of_the_table(gradcalc_cli):
    doc = gradcalc_cli("functions", "--json").json()
    assert [row["op"] for row in doc["functions"]] == [op.name for op in ops.OPS]
    table = gradcalc_cli("functions").stdout
    for name in ops.FUNCTIONS:
        assert f"{name}(" in table, name
