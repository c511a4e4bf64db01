"""`eval --tangent x`: forward mode, every node's derivative with respect to one input,
from the forward pass in dual numbers; SymPy's derivative of each node's formula is the
oracle, and reverse mode must agree at the output."""
import pytest
import sympy
from hypothesis import given, settings
from test_oracles import _names, expressions, points

from gradcalc.api import prepare
from gradcalc.dual import forward_tangents
from gradcalc.lower import lower
from gradcalc.parse import parse
from gradcalc.symbolic import formulas


@settings(max_examples=30, deadline=None)
@given(expressions, points)
def test_every_nodes_tangent_is_sympys_derivative_of_its_formula(expression, point):
    text, _ = expression
    names = sorted(_names(text))
    if not names:
        return
    values = {n: point[n] for n in names}
    graph, _, bound, _ = prepare(text, values, expand=True)
    symbolic = formulas(lower(parse(text), expand=True), simplify=False)
    at = {sympy.Symbol(n, real=True): sympy.Rational(str(v)) for n, v in values.items()}
    for name in names:
        tangents = forward_tangents(graph, bound, name)
        wrt = sympy.Symbol(name, real=True)
        for node in graph.nodes:
            exact = float(sympy.diff(symbolic.values[node.id], wrt).evalf(30, subs=at))
            assert tangents[node.id] == pytest.approx(exact, rel=1e-9, abs=1e-9), \
                (text, name, node.id)


def test_forward_and_reverse_mode_agree_at_the_output(gradcalc_cli):
    args = ["q = x*y + sin(x); sig(t) = 1/(1+exp(-t)); sig(q) * max(x, y, 0.5)",
            "x=0.7", "y=-1.3"]
    document = gradcalc_cli("eval", *args, "--json").json()
    for name in ("x", "y"):
        forward = gradcalc_cli("eval", *args, "--tangent", name, "--json").json()
        assert forward["tangent"] == name
        output = forward["nodes"][forward["output"]]
        assert output["tangent"] == pytest.approx(document["gradients"][name], rel=1e-12)
        assert forward["nodes"][forward["output"]]["grad"] == 1.0


def test_the_table_has_the_forward_column(gradcalc_cli):
    ran = gradcalc_cli("eval", "(x+y)*z", "x=-2", "y=5", "z=-4", "--tangent", "x")
    assert ran.code == 0
    assert "∂node/∂x (forward)" in ran.stdout
    last = [line for line in ran.stdout.splitlines() if "(output)" in line][0]
    assert last.rstrip("│ ").endswith("-4")  # ∂f/∂x computed forwards


@pytest.mark.parametrize("args,message", [
    (["(x+y)*z", "x=1", "y=2", "z=3", "--tangent", "q"], "--tangent names q"),
    (["x*y", "x=[1, 2]", "y=1", "--tangent", "x"], "scalar expressions"),
    (["x*y", "x=1", "y=1", "--tangent", "x", "--exact"], "--exact"),
])
def test_bad_tangents_are_one_message(gradcalc_main, args, message):
    ran = gradcalc_main("eval", *args)
    assert ran.code == 2 and message in ran.stderr and "Traceback" not in ran.stderr


def test_tangent_with_a_file_still_prints_its_column(gradcalc_cli, tmp_path):
    # -o alone prints the summary line; --tangent asks for the table it adds a column to
    ran = gradcalc_cli("eval", "x*y", "x=1", "y=2", "--tangent", "x", "-o",
                       str(tmp_path / "out.json"))
    assert ran.code == 0 and "∂node/∂x (forward)" in ran.stdout
    assert (tmp_path / "out.json").exists()


def test_tangent_given_twice_is_one_error_whose_fix_runs(gradcalc_cli):
    """Click keeps the last of a repeated option; forward mode follows one input, so a
    second --tangent (the student asking for two columns) is refused, not dropped."""
    ran = gradcalc_cli("eval", "x*y", "x=3", "y=2", "--tangent", "x", "--tangent", "y")
    assert ran.code == 2 and "--tangent is given 2 times (x, y)" in ran.stderr
    fixed = gradcalc_cli("eval", "x*y", "x=3", "y=2", "--tangent", "x", "--json")
    assert fixed.code == 0
    assert [row["tangent"] for row in fixed.json()["nodes"]] == [1.0, 0.0, 2.0]  # y·1 + x·0
