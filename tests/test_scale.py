"""Deep nesting and huge expressions: every walk is iterative, so none of these can hit
Python's recursion limit (about 1,000 frames)."""
import sys

import gradcalc


def test_20000_nested_parentheses():
    r = gradcalc.evaluate("(" * 20000 + "x*y" + ")" * 20000, x=3, y=4)
    assert r.value == 12 and r.gradients == {"x": 4, "y": 3}


def test_5000_nested_unary_minus():
    r = gradcalc.evaluate("-" * 5000 + "x", x=2)
    assert r.value == 2 and r.gradients == {"x": 1}
    r = gradcalc.evaluate("-" * 5001 + "x", x=2)
    assert r.value == -2 and r.gradients == {"x": -1}


def test_deep_chain_of_functions():
    depth = 3 * sys.getrecursionlimit()
    r = gradcalc.evaluate("tanh(" * depth + "x" + ")" * depth, x=0.5)
    assert 0 < r.value < 0.5 and 0 < r.gradients["x"] < 1


def test_100000_term_sum():
    terms = 100_000
    source = "+".join(f"{i % 7}*x{i % 10}" for i in range(terms))
    values = {f"x{k}": k for k in range(10)}
    r = gradcalc.evaluate(source, **values)
    assert r.value == sum((i % 7) * (i % 10) for i in range(terms))
    for k in range(10):
        assert r.gradients[f"x{k}"] == sum(i % 7 for i in range(terms) if i % 10 == k)
    doc = r.to_dict()
    assert len(doc["nodes"]) == len(r.graph.nodes) and len(doc["nodes"][-1]["label"]) < 60


def test_deep_right_nested_power_chain():
    # x^(x^(x^...)) parses right-to-left: a deep right spine
    r = gradcalc.evaluate("x^" * 3000 + "x", x=1)
    assert r.value == 1.0 and r.gradients["x"] == 1.0
