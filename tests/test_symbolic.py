"""`eval --symbolic`: formulas from the op table run in SymPy's numbers, against SymPy's
own derivatives of the same expressions (random ones, gates, reassignment, kinks)."""
import jsonschema
import pytest
import sympy
from hypothesis import given, settings
from test_oracles import _names, expressions, points
from test_hessian import ARGS, SCALAR_OPS, SYMPY, _close, _exact, _smooth_points, _source
from test_schemas import schema

import gradcalc.symbolic
from gradcalc.lower import lower
from gradcalc.parse import parse
from gradcalc.symbolic import formulas, plain

REAL = {name: sympy.Symbol(name, real=True) for name in "xyzwb"}


def _formulas(source):
    return formulas(lower(parse(source), expand=True))


def _real(expression):
    return expression.subs({sympy.Symbol(n): s for n, s in REAL.items()})


@settings(max_examples=25, deadline=None)
@given(expressions, points)
def test_random_gradients_are_sympys_derivatives(expression, point):
    text, symbolic = expression
    result = _formulas(text)
    exact = _real(symbolic)
    at = {REAL[n]: sympy.Rational(str(v)) for n, v in point.items()}
    assert float((plain(result.value) - exact).evalf(30, subs=at)) == pytest.approx(0, abs=1e-9)
    for name in _names(text):
        ours = plain(result.gradients[name])
        theirs = sympy.diff(exact, REAL[name])
        difference = float((ours - theirs).evalf(30, subs=at))
        assert abs(difference) <= 1e-9 * max(1.0, abs(float(theirs.evalf(30, subs=at)))), \
            (text, name, ours, theirs)


@pytest.mark.parametrize("source,expected", [
    ("(x+y)*z", (REAL["x"] + REAL["y"]) * REAL["z"]),
    ("sigmoid(w*x + b)", 1 / (1 + sympy.exp(-(REAL["w"] * REAL["x"] + REAL["b"])))),
    ("sig(t) = 1/(1+exp(-t)); sig(w*x + b) * sig(x)",
     1 / (1 + sympy.exp(-(REAL["w"] * REAL["x"] + REAL["b"]))) / (1 + sympy.exp(-REAL["x"]))),
    ("q = x * y; q = q + sin(z); q = q * q; q", (REAL["x"] * REAL["y"] + sympy.sin(REAL["z"])) ** 2),
    ("log(x) + x^y - softplus(y)", sympy.log(REAL["x"]) + REAL["x"] ** REAL["y"]
     - sympy.log(1 + sympy.exp(REAL["y"]))),
])
def test_formulas_equal_sympys_under_simplify(source, expected):
    result = _formulas(source)
    # where log(x) is defined: x > 0 (x^y's ∂/∂y is nan for x < 0, the table's convention)
    positive = {REAL["x"]: sympy.Symbol("x", positive=True)}

    def same(ours, theirs):
        return sympy.simplify((plain(ours) - theirs).subs(positive)) == 0

    assert same(result.value, expected)
    for name, grad in result.gradients.items():
        assert same(grad, sympy.diff(expected, REAL[name])), name


def test_no_bindings_gives_the_lectures_formulas(gradcalc_cli):
    ran = gradcalc_cli("eval", "(x+y)*z", "--symbolic")
    assert ran.code == 0
    assert "∂f/∂x = z" in ran.stdout.splitlines()
    assert "∂f/∂z = x + y" in ran.stdout.splitlines()


def test_json_formulas_read_back_with_sympify(gradcalc_cli):
    document = gradcalc_cli("eval", "sigmoid(w*x + b)", "--symbolic", "--json").json()
    w, x, b = sympy.symbols("w x b")
    neuron = 1 / (1 + sympy.exp(-(w * x + b)))
    for name, symbol in (("w", w), ("x", x), ("b", b)):
        read = sympy.sympify(document["symbolic"]["gradients"][name])
        assert sympy.simplify(read - sympy.diff(neuron, symbol)) == 0
    assert [node["formula"] for node in document["nodes"]][:3] == ["w", "x", "b"]
    assert document["nodes"][-1]["grad_formula"] == "1"


def test_the_neuron_is_written_with_sigmoid(gradcalc_cli):
    ran = gradcalc_cli("eval", "sigmoid(w*x + b)", "--symbolic")
    assert "∂f/∂w = x*(1 - sigmoid(b + w*x))*sigmoid(b + w*x)" in ran.stdout


def test_tanh_is_written_as_people_write_its_derivative(gradcalc_cli):
    ran = gradcalc_cli("eval", "tanh(w*x + b)", "--symbolic")
    assert "∂f/∂w = x*(1 - tanh(b + w*x)**2)" in ran.stdout


def test_with_bindings_each_formula_has_its_number(gradcalc_cli):
    args = ["log(x)*y + tanh(x*y)", "x=1.5", "y=-0.5"]
    document = gradcalc_cli("eval", *args, "--symbolic", "--json").json()
    at = {sympy.Symbol("x"): 1.5, sympy.Symbol("y"): -0.5}
    for name, formula in document["symbolic"]["gradients"].items():
        number = float(sympy.sympify(formula).evalf(30, subs=at))
        assert number == pytest.approx(document["gradients"][name], rel=1e-12)
    text = gradcalc_cli("eval", *args, "--symbolic").stdout
    assert "∂f/∂y = " in text and " = " + f"{document['gradients']['y']:.6g}" in text


def test_kinks_are_stated_with_their_convention():
    relu = _formulas("relu(x) * y")
    assert relu.gradients["x"] == sympy.Piecewise((REAL["y"], REAL["x"] > 0), (0, True))
    maximum = _formulas("max(z, w)")
    assert maximum.gradients["z"] == sympy.Heaviside(REAL["z"] - REAL["w"])
    assert maximum.gradients["z"].subs({REAL["z"]: 1, REAL["w"]: 1}) == sympy.Rational(1, 2)
    assert "split evenly" in maximum.notes[0]


def test_a_missing_sympy_is_one_clear_message(gradcalc_main, monkeypatch):
    monkeypatch.setattr(gradcalc.symbolic, "sympy", None)
    ran = gradcalc_main("eval", "(x+y)*z", "--symbolic")
    assert ran.code == 2
    assert 'pip install "gradcalc[symbolic]"' in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize("args,message", [
    (["x", "x=1", "--symbolic", "--exact"], "--exact"),
    (["x", "x=[1, 2]", "--symbolic"], "scalar expressions"),
])
def test_what_symbolic_does_not_do_is_refused(gradcalc_main, args, message):
    ran = gradcalc_main("eval", *args)
    assert ran.code == 2 and message in ran.stderr


@pytest.mark.parametrize("args", [["(x+y)*z"], ["max(z, w) * relu(x)"], ["sigmoid(w*x + b)"]])
def test_documents_match_the_schemas(gradcalc_cli, args):
    unbound = gradcalc_cli("eval", *args, "--symbolic", "--json").json()
    jsonschema.Draft202012Validator(schema("symbolic")).validate(unbound)
    names = [node["label"] for node in unbound["nodes"] if node["op"] == "input"]
    bound = gradcalc_cli("eval", *args, *(f"{n}=0.5" for n in names), "--symbolic",
                         "--json").json()
    jsonschema.Draft202012Validator(schema("eval")).validate(bound)
    assert bound["symbolic"] == unbound["symbolic"]
    assert [n["formula"] for n in bound["nodes"]] == [n["formula"] for n in unbound["nodes"]]


def test_steps_write_the_chain_rule_in_formulas(gradcalc_cli):
    # each step's factors multiply to its total, and an input's total is SymPy's derivative
    x, y, z = (REAL[n] for n in "xyz")
    f = sympy.sin(x * y) + x * y * z
    ran = gradcalc_cli("eval", "q = x*y; f = sin(q) + q*z", "--symbolic", "--steps")
    assert ran.code == 0
    steps = ran.stdout.split("Chain rule, backwards:\n")[1].splitlines()
    assert steps[0] == "  ∂f/∂f = 1   (the upstream gradient)"
    assert "(gradients add at branches: 2 edges)" in ran.stdout  # q feeds sin(q) and q*z
    totals = {}
    for line in steps[1:]:
        left, _, factors, total = line.split("   (")[0].strip().split(" = ")
        products = sympy.sympify(factors.replace("·", "*"), locals=REAL)
        assert sympy.simplify(products - sympy.sympify(total, locals=REAL)) == 0, line
        totals[left] = sympy.sympify(total, locals=REAL)
    for name in "xyz":
        assert sympy.simplify(totals[f"∂f/∂{name}"] - sympy.diff(f, REAL[name])) == 0


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_every_ops_formulas_are_sympys(op):
    # generated from the table: each scalar op's value and gradient formulas against
    # SymPy's own definition and derivatives, at points away from kinks
    symbols = ARGS[:len(_smooth_points(op, 1)[0])]
    definition = SYMPY[op.name]
    result = _formulas(_source(op))
    for args in _smooth_points(op, 4):
        assert _close(_exact(plain(result.value), symbols, args),
                      _exact(definition, symbols, args))
        for symbol in symbols:
            ours = result.gradients[str(symbol)]
            if ours is None:  # where's condition takes no gradient
                assert op.name == "where" and symbol == ARGS[0]
                continue
            assert _close(_exact(plain(ours), symbols, args),
                          _exact(sympy.diff(definition, symbol), symbols, args)), \
                (op.name, symbol, ours)


_A, _B, _C = ARGS
_WHERE = sympy.Piecewise((_B, sympy.Ne(_A, 0)), (_C, True))
_EQ = sympy.Piecewise((1, sympy.Eq(_A, _B)), (0, True))
_NE = sympy.Piecewise((1, sympy.Ne(_A, _B)), (0, True))


@pytest.mark.parametrize("source,definition,at", [
    ("where(a, b, c)", _WHERE, (0, 2, 3)), ("where(a, b, c)", _WHERE, (1, 2, 3)),
    ("a == b", _EQ, (2, 2)), ("a == b", _EQ, (1, 2)),
    ("a != b", _NE, (2, 2)), ("a != b", _NE, (1, 2)),
    ("where(a > b, a*b, b)", sympy.Piecewise((_A * _B, _A > _B), (_B, True)), (1, 2)),
    ("where(a > b, a*b, b)", sympy.Piecewise((_A * _B, _A > _B), (_B, True)), (3, 2)),
])
def test_equality_tests_are_formulas_not_text_comparisons(source, definition, at):
    # Python's == on formulas compares their text (a == b is False for symbols a, b): the
    # formulas must still hold where the condition switches, as SymPy's definitions do
    result = _formulas(source)
    point = dict(zip(ARGS, at))
    assert plain(result.value).subs(point) == definition.subs(point)
    for symbol in ARGS[:len(at)]:
        gradient = result.gradients[str(symbol)]
        if gradient is not None:  # where's condition takes none
            assert gradient.subs(point) == sympy.diff(definition, symbol).subs(point), \
                (source, symbol)


def test_formulas_that_double_at_each_step_are_refused_before_sympy_runs(gradcalc_cli):
    # q = q*q + q writes q twice: 25 steps would be 2^25 copies of x (this took minutes)
    source = "q = x; " + "q = q*q + q; " * 25 + "q"
    ran = gradcalc_cli("eval", source, "--symbolic", "--json")
    error = ran.json()["error"]
    assert ran.code == 2 and error["kind"] == "limit"
    assert "would have more than 5,000 symbols" in error["message"]
    assert error["hint"].startswith("drop --symbolic")
    assert gradcalc_cli("eval", source, "x=0.5").code == 0  # the hint works
    assert gradcalc_cli("eval", "q = x; " + "q = q*q + q; " * 3 + "q", "--symbolic").code == 0


def test_more_nodes_than_formulas_are_written_for_are_refused(gradcalc_cli):
    source = " + ".join(f"x{i}*y{i}" for i in range(300))
    ran = gradcalc_cli("eval", source, "--symbolic")
    assert ran.code == 2
    assert "--symbolic writes formulas for up to 500 nodes, and this expression has 1,199" \
        in ran.stderr
