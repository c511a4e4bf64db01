"""`gradcalc hessian`: second derivatives by forward over reverse, against SymPy.

Every scalar op of the table gets a second-derivative test generated from the table (as
tests/test_ops.py does for first derivatives), with SymPy's symbolic Hessian of the op's
definition as the oracle; random expressions, gates and reassignment are checked the same
way. Kinks and domain errors behave as in the gradient.
"""
import json
import math
import random

import jsonschema
import pytest
import sympy
from hypothesis import assume, given, settings
from test_oracles import SYMBOLS, _names, expressions, points
from test_schemas import schema

from gradcalc import ops
from gradcalc.api import prepare
from gradcalc.arith import FloatArith
from gradcalc.dual import Dual, DualArith
from gradcalc.hessian import second_order

XP = FloatArith()
ARGS = sympy.symbols("a b c", real=True)
A, B, C = ARGS


def _piecewise(holds):
    return sympy.Piecewise((1, holds), (0, True))


# Each scalar op's definition in SymPy: the oracle differentiates it, our rules are not used.
SYMPY = {
    "add": A + B, "sub": A - B, "mul": A * B, "div": A / B, "neg": -A, "pow": A ** B,
    "exp": sympy.exp(A), "log": sympy.log(A), "log10": sympy.log(A, 10),
    "log2": sympy.log(A, 2), "sqrt": sympy.sqrt(A), "abs": sympy.Abs(A),
    "sign": sympy.sign(A), "sin": sympy.sin(A), "cos": sympy.cos(A), "tan": sympy.tan(A),
    "tanh": sympy.tanh(A), "sigmoid": 1 / (1 + sympy.exp(-A)), "relu": sympy.Max(A, 0),
    "softplus": sympy.log(1 + sympy.exp(A)), "max": sympy.Max(A, B, C),
    "min": sympy.Min(A, B, C),
    "less": _piecewise(A < B), "less_equal": _piecewise(A <= B),
    "greater": _piecewise(A > B), "greater_equal": _piecewise(A >= B),
    "equal": _piecewise(sympy.Eq(A, B)), "not_equal": _piecewise(sympy.Ne(A, B)),
    "where": sympy.Piecewise((B, sympy.Ne(A, 0)), (C, True)),
}
# detach passes no gradient by design (PyTorch's convention), so no oracle agrees with it.
SCALAR_OPS = [op for op in ops.OPS if op.vjp is None and op.name != "detach"]


def _arity(op):
    return op.arity if op.arity is not None else 3


def _source(op):
    """The op applied to inputs a, b, c, as the language writes it (from the table)."""
    return ops.spellings(op)[0].replace(", ...", ", c")


def _smooth_points(op, count=8):
    rng = random.Random(f"hessian-{op.name}")
    found = []
    while len(found) < count:
        args = [rng.uniform(-3, 3) for _ in range(_arity(op))]
        if op.domain is not None and op.domain(XP, *args) is not None:
            continue
        if op.kink is not None and op.kink(XP, op.forward(XP, *args), *args) is not None:
            continue
        found.append(args)
    return found


def _hessian(source, **values):
    graph, xp, bound, _ = prepare(source, values)
    return graph, second_order(graph, bound, xp)


def _exact(expression, symbols, values):
    subs = {s: sympy.Float(v, 30) for s, v in zip(symbols, values)}
    return float(expression.evalf(30, subs=subs))


def _close(ours, exact, tolerance=1e-9):
    return abs(ours - exact) <= tolerance * max(1.0, abs(exact))


def test_every_scalar_op_has_an_oracle():
    assert {op.name for op in SCALAR_OPS} == set(SYMPY)


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_second_derivatives_of_every_op_match_sympy(op):
    symbols = ARGS[:_arity(op)]
    definition = SYMPY[op.name]
    exact = sympy.hessian(definition, symbols)
    source = _source(op)
    for args in _smooth_points(op):
        graph, second = _hessian(source, **{str(s): v for s, v in zip(symbols, args)})
        assert second.inputs == [str(s) for s in symbols]
        assert _close(second.value, _exact(definition, symbols, args))
        for i, row in enumerate(second.matrix):
            for j, entry in enumerate(row):
                if second.gradients[second.inputs[i]] is None or \
                        second.gradients[second.inputs[j]] is None:
                    assert entry is None  # where's condition takes no gradient
                    continue
                assert _close(entry, _exact(exact[i, j], symbols, args)), \
                    (op.name, args, i, j, entry)
        assert second.warnings == []


def test_detach_has_no_second_derivative_either():
    _, second = _hessian("detach(a)^2 + a^2", a=3.0)
    assert second.matrix == [[2.0]]  # only a^2 is differentiated


@settings(max_examples=100, deadline=None)
@given(expressions, points)
def test_random_expressions_match_sympys_hessian(expression, point):
    text, symbolic = expression
    names = sorted(_names(text))
    assume(names)
    values = {n: point[n] for n in names}
    graph, second = _hessian(text, **values)
    # as in test_oracles: moderate intermediate values, where 1e-9 is a fair demand
    symbols = [SYMBOLS[n] for n in second.inputs]
    exact = sympy.hessian(symbolic, symbols)
    assume(abs(second.value) < 1e3)
    for i, row in enumerate(second.matrix):
        for j, entry in enumerate(row):
            expected = _exact(exact[i, j], symbols, [values[n] for n in second.inputs])
            assert _close(entry, expected), (text, values, i, j)


X, Y, Z = sympy.symbols("x y z", real=True)


@pytest.mark.parametrize("source,expected", [
    # a gate, called twice, and reassignment
    ("sig(t) = 1/(1+exp(-t)); sig(x*y) * sig(y - z)",
     1 / (1 + sympy.exp(-X * Y)) / (1 + sympy.exp(Z - Y))),
    ("q = x * y; q = q + sin(z); q = q * q; q", (X * Y + sympy.sin(Z)) ** 2),
    ("sq(u) = u*u; cube(u) = sq(u) * u; cube(x + y) - sq(z*x)",
     (X + Y) ** 3 - (Z * X) ** 2),
    ("x * max(y, z, 2)", X * sympy.Max(Y, Z, 2)),  # three arguments: the general backward step
])
def test_gates_and_reassignment_match_sympy(source, expected):
    values = {"x": 0.0, "y": 3.0, "z": -1.5}  # x = 0: an upstream of value 0 that still moves
    graph, second = _hessian(source, **values)
    symbols = [{"x": X, "y": Y, "z": Z}[n] for n in second.inputs]
    exact = sympy.hessian(expected, symbols)
    point = [values[n] for n in second.inputs]
    for i, row in enumerate(second.matrix):
        for j, entry in enumerate(row):
            assert _close(entry, _exact(exact[i, j], symbols, point)), (source, i, j)


def test_hvp_is_the_hessian_times_the_vector(gradcalc_cli):
    source, point = "x^2*y + exp(x*y) - y^3/3", ["x=0.5", "y=-1.25"]
    matrix = gradcalc_cli("hessian", source, *point, "--json").json()["hessian"]
    direction = [0.25, -2.0]
    ran = gradcalc_cli("hessian", source, *point, "--hvp", "0.25,-2", "--json")
    document = ran.json()
    assert document["direction"] == direction
    expected = [sum(h * v for h, v in zip(row, direction)) for row in matrix]
    assert document["hvp"] == pytest.approx(expected, rel=1e-12)


def test_table_names_rows_and_columns(gradcalc_cli):
    ran = gradcalc_cli("hessian", "x^2*y + y^3", "x=1", "y=2")
    assert ran.code == 0
    assert ran.stdout.splitlines() == [
        "f = 10", "∇f: ∂f/∂x = 4, ∂f/∂y = 13", "Hessian, ∂²f/∂row∂column:",
        "     x   y", "  x  4   2", "  y  2  12"]


@pytest.mark.parametrize("source,point,convention", [
    ("relu(x)^2 + x*y", ["x=0", "y=1"], "relu has no derivative at 0"),
    ("abs(x) * y", ["x=0", "y=2"], "abs has no derivative at 0"),
    ("max(x, y)^2", ["x=1", "y=1"], "arguments tie"),
])
def test_a_kink_warns_and_states_the_convention(gradcalc_cli, source, point, convention):
    document = gradcalc_cli("hessian", source, *point, "--json").json()
    messages = [w["message"] for w in document["warnings"]]
    assert any(convention in m and "second derivatives through it do not exist" in m
               and "same convention" in m for m in messages), messages


def test_the_tie_convention_holds_in_the_hessian_too(gradcalc_cli):
    # max(x, y)^2 at x = y: the gradient splits 2m evenly, (1, 1); the Hessian differentiates
    # that split: ∂/∂x of m·1 with m's tangent the mean of the tied ones, ½.
    split = gradcalc_cli("hessian", "max(x, y)^2", "x=1", "y=1", "--json").json()
    assert split["gradients"] == {"x": 1.0, "y": 1.0}
    assert split["hessian"] == [[0.5, 0.5], [0.5, 0.5]]
    first = gradcalc_cli("hessian", "max(x, y)^2", "x=1", "y=1", "--ties", "first",
                         "--json").json()
    assert first["gradients"] == {"x": 2.0, "y": 0.0}
    assert first["hessian"] == [[2.0, 0.0], [0.0, 0.0]]  # x's piece, as the gradient


def test_sqrt_at_zero_is_inf_with_a_warning(gradcalc_cli):
    document = gradcalc_cli("hessian", "sqrt(x) + x*y", "x=0", "y=1", "--json").json()
    assert document["hessian"][0][0] == "-inf"  # -1/4 x^(-3/2) from the right
    assert any("∂²f/∂x² is -inf" in w["message"] for w in document["warnings"])


def test_a_second_derivative_only_kink_is_not_finite_and_warned(gradcalc_cli):
    # x^1.5 has a finite slope at 0 and an infinite curvature
    document = gradcalc_cli("hessian", "x^1.5", "x=0", "--json").json()
    assert document["gradients"] == {"x": 0.0}
    assert document["hessian"] == [["inf"]]
    assert document["warnings"]


def test_domain_errors_are_the_gradients(gradcalc_cli):
    hessian = gradcalc_cli("hessian", "log(x)", "x=-1")
    evaluated = gradcalc_cli("eval", "log(x)", "x=-1")
    assert hessian.code == evaluated.code == 2
    assert hessian.stderr == evaluated.stderr


@pytest.mark.parametrize("args,message", [
    (["x*y", "x=1", "y=2", "--hvp", "1"], "--hvp has 1 number and the expression 2 inputs"),
    (["x*y", "x=1", "y=2", "--hvp", "1,a"], "'a' is not one"),
    (["x*y", "x=1", "y=2", "--hvp", "[[1,2]]"], "one flat list of numbers"),
    (["x*y", "x=1", "y=2", "--hvp", "[1,[2]]"], "one flat list of numbers"),
    (["x*y", "x=1", "y=2", "--hvp", "[1,2"], "a bracket is unclosed"),
    (["3", "--hvp", "1"], "drop --hvp"),
    (["x*y", "x=1", "y=2", "--hvp", "1,nan"], "finite numbers"),
    (["sum(x)", "x=[1,2]"], "x is bound to a vector of shape 2"),
])
def test_bad_input_is_one_message(gradcalc_main, args, message):
    ran = gradcalc_main("hessian", *args)
    assert ran.code == 2
    assert message in ran.stderr and "Traceback" not in ran.stderr


def test_where_condition_takes_no_second_derivative(gradcalc_cli):
    document = gradcalc_cli("hessian", "where(c, x^2, x^3)", "c=1", "x=2", "--json").json()
    assert document["inputs"] == ["c", "x"]
    assert document["hessian"] == [[None, None], [None, 2.0]]


@pytest.mark.parametrize("args", [
    ["x^2*y", "x=1", "y=2"],
    ["x^2*y", "x=1", "y=2", "--hvp", "1,0"],
    ["sqrt(x) + x*y", "x=0", "y=1"],
    ["where(c, x^2, x^3)", "c=1", "x=2"],
])
def test_documents_match_the_schema(gradcalc_cli, args):
    document = gradcalc_cli("hessian", *args, "--json").json()
    jsonschema.Draft202012Validator(schema("hessian")).validate(document)
    both = {**document, "hessian": [[1.0]], "hvp": [1.0], "direction": [1.0]}
    assert not jsonschema.Draft202012Validator(schema("hessian")).is_valid(both)


def test_dual_numbers_follow_the_chain_rule():
    xp = DualArith()
    x = Dual(0.3, 1.0)
    for name, derivative in [("exp", math.exp), ("sin", math.cos),
                             ("tanh", lambda v: 1 - math.tanh(v) ** 2),
                             ("sigmoid", lambda v: math.exp(-v) / (1 + math.exp(-v)) ** 2),
                             ("softplus", lambda v: 1 / (1 + math.exp(-v))),
                             ("log", lambda v: 1 / v), ("sqrt", lambda v: 0.5 / math.sqrt(v))]:
        assert getattr(xp, name)(x).tangent == pytest.approx(derivative(0.3), rel=1e-14)
    # a tangent of 0 stays 0 through an infinite slope (sqrt at 0 along another direction)
    assert xp.sqrt(Dual(0.0, 0.0)).tangent == 0.0


# -- check --order 2 -----------------------------------------------------------------------
def test_check_order_2_passes_on_smooth_expressions(gradcalc_cli):
    ran = gradcalc_cli("check", "x^2*y + exp(x*y) - tanh(y/x)", "x=0.5", "y=-1.25",
                       "--order", "2", "--json")
    document = ran.json()
    assert ran.code == 0 and document["passed"] is True
    assert [(e["row"], e["column"]) for e in document["entries"]] == \
        [("x", "x"), ("y", "x"), ("x", "y"), ("y", "y")]


@pytest.fixture
def wrong_tanh_second_derivative(monkeypatch):
    """tanh's slope in dual numbers with its tangent doubled: the gradient stays right, the
    Hessian does not."""
    from gradcalc import dual

    slope = dual.DualArith.tanh_slope

    def wrong(out, a):
        right = slope(out, a)
        return Dual(right.value, 2 * right.tangent)

    monkeypatch.setattr(dual.DualArith, "tanh_slope", staticmethod(wrong))


def test_check_order_2_catches_a_wrong_second_derivative(gradcalc_cli,
                                                          wrong_tanh_second_derivative):
    ran = gradcalc_cli("check", "tanh(x) * y", "x=0.3", "y=2", "--order", "2", "--json")
    document = ran.json()
    assert ran.code == 1 and document["passed"] is False
    failed = [(e["row"], e["column"]) for e in document["entries"] if not e["passed"]]
    assert ("x", "x") in failed


def test_check_order_2_at_a_kink_fails_with_the_warning(gradcalc_cli):
    ran = gradcalc_cli("check", "relu(x)^2 + x*y", "x=0", "y=1", "--order", "2")
    assert ran.code == 1
    assert "FAIL" in ran.stdout and "second derivatives through it do not exist" in ran.stderr


def test_check_order_2_refuses_answers(gradcalc_main):
    ran = gradcalc_main("check", "x*y", "x=1", "y=2", "--order", "2", "--expect", "x=2")
    assert ran.code == 2 and "--order 2 does not combine with --expect" in ran.stderr


def test_no_inputs_is_said(gradcalc_cli):
    ran = gradcalc_cli("hessian", "2*3")
    assert ran.code == 0
    assert ran.stdout.splitlines() == ["f = 6", "no inputs: there is nothing to differentiate"]
    assert gradcalc_cli("hessian", "2*3", "--json").json()["hessian"] == []


@pytest.mark.parametrize("x", [2.0, 0.5, 3.0])
def test_an_exponent_of_exactly_0_keeps_the_mixed_second_derivative(x):
    # ∂(x^y)/∂x = y·x^(y-1) is 0 at y = 0, but its change with y, x^(y-1), is not: the
    # rule computes it there rather than taking a constant 0, so ∂²/∂x∂y = 1/x survives
    X_, Y_ = sympy.symbols("x y", positive=True)
    exact = sympy.hessian(X_ ** Y_, (X_, Y_))
    _, second = _hessian("x^y", x=x, y=0.0)
    for i in range(2):
        for j in range(2):
            assert _close(second.matrix[i][j], _exact(exact[i, j], (X_, Y_), (x, 0.0)))
    assert second.matrix[0][1] == second.matrix[1][0] == pytest.approx(1 / x)
    assert second.warnings == []


# One expression per array operation of the table, in scalar inputs x and y. The dual and
# SymPy numbers are scalars, so hessian, check --order 2, --symbolic and --tangent refuse
# every one of them alike, while eval (what the hints offer) computes them.
ARRAY_EXAMPLES = {
    "matmul": "[x, y] @ [y, x]", "dot": "dot([x, y], [y, x])",
    "transpose": "sum(transpose([[x, y]]))", "reshape": "sum(reshape([x, y], (2, 1)))",
    "concatenate": "sum(concatenate([[x], [y]]))", "stack": "sum(stack([[x], [y]]))",
    "index": "[x, y][0]", "array": "[x, y] @ [x, y]", "arange": "x * sum(arange(3))",
    "zeros": "x + sum(zeros(2))", "ones": "x * sum(ones(2))", "eye": "x * sum(eye(2))",
    "one_hot": "x * sum(one_hot([0, 1], 2))",
    "conv2d": "sum(conv2d([[[[x, y], [y, x]]]], [[[[x]]]], [y]))",
    "max_pool2d": "sum(max_pool2d([[[[x, y], [y, x]]]]))",
    "sum": "sum([x, y])", "mean": "mean([x, y])", "norm": "norm([x, y])",
    "max_of": "max([x, y])", "min_of": "min([x, y])", "softmax": "softmax([x, y])[0]",
    "log_softmax": "log_softmax([x, y])[0]", "logsumexp": "logsumexp([x, y])",
    "cross_entropy": "cross_entropy([[x, y]], [1])",
}
POINT = ("x=1.5", "y=-0.5")
SECOND_ORDER_COMMANDS = {
    "hessian": (["hessian"], "write each element as an input of its own"),
    "check --order 2": (["check", "--order", "2"], "write each element as an input of its own"),
    "--symbolic": (["eval", "--symbolic"], "drop --symbolic"),
    "--tangent": (["eval", "--tangent", "x"], "drop --tangent"),
}


def test_every_array_op_has_an_example():
    assert set(ARRAY_EXAMPLES) == {op.name for op in ops.ARRAY_OPS}


@pytest.mark.parametrize("command", SECOND_ORDER_COMMANDS)
@pytest.mark.parametrize("name", sorted(ARRAY_EXAMPLES))
def test_every_array_op_is_refused_with_one_message(gradcalc_cli, name, command):
    source = ARRAY_EXAMPLES[name]
    graph = prepare(source, dict(x=1.5, y=-0.5))[0]
    assert name in {node.op.base.name for _, node in graph.walk() if node.op is not None}
    args, hint = SECOND_ORDER_COMMANDS[command]
    ran = gradcalc_cli(args[0], source, *POINT, *args[1:])
    assert ran.code == 2
    lines = ran.stderr.splitlines()
    assert lines[0].startswith(f"error: {command} works on scalar expressions, and ")
    assert "is an array operation" in lines[0]
    assert lines[1] == f"  | {source}" and set(lines[2][4:].strip()) == {"^"}
    assert lines[3].startswith(f"hint: {hint}")
    assert gradcalc_cli("eval", source, *POINT).code == 0  # dropping the option works


@pytest.mark.parametrize("command", SECOND_ORDER_COMMANDS)
def test_a_vector_input_is_refused_with_the_caret_under_it(gradcalc_cli, command):
    args, _ = SECOND_ORDER_COMMANDS[command]
    ran = gradcalc_cli(args[0], "x * y", "x=1.5", "y=[1, 2]", *args[1:], "--json")
    error = ran.json()["error"]
    assert ran.code == 2 and error["kind"] == "shape"
    assert error["message"] == f"{command} works on scalar expressions, and y is bound " \
                               "to a vector of shape 2"
    assert error["span"] == [4, 5]


@pytest.mark.parametrize("name,x", [("sigmoid", 40.0), ("sigmoid", -40.0), ("sigmoid", 25.0),
                                    ("tanh", 20.0), ("tanh", -19.5), ("tanh", 0.3)])
def test_second_derivatives_keep_their_digits_in_the_tails(name, x):
    # σ'' and tanh'' far out, where 1 - σ and 1 - tanh² have cancelled to 0 in floats:
    # against SymPy's at 30 digits, to 1e-9 relative
    definition = SYMPY[name]
    exact = _exact(sympy.diff(definition, A, 2), (A,), (x,))
    _, second = _hessian(f"{name}(a)", a=x)
    assert exact != 0 and abs(second.matrix[0][0] - exact) <= 1e-9 * abs(exact)


def test_a_hessian_past_the_work_limit_is_refused_and_hvp_offered(gradcalc_cli, tmp_path):
    # 3,200 inputs: 3,200 backward passes over 9,599 nodes, refused before any is run
    names = [f"x{i}" for i in range(3200)]
    bindings = tmp_path / "point.json"
    bindings.write_text(json.dumps({name: 0.5 for name in names}))
    source = " + ".join(f"{name}^2" for name in names)
    ran = gradcalc_cli("hessian", source, "--bindings", str(bindings))
    assert ran.code == 2 and "past the 10,000,000 node visits" in ran.stderr
    assert "hint: --hvp v gives H·v in one pass" in ran.stderr
    direction = ",".join(["1"] * len(names))
    product = gradcalc_cli("hessian", source, "--bindings", str(bindings), "--hvp", direction,
                           "--json").json()["hvp"]
    assert product == [2.0] * len(names)  # ∂²(Σx²)/∂x_i² = 2, the rest 0


def test_a_gradient_that_is_not_a_number_has_no_second_derivative():
    # ∂(x^y)/∂y = x^y·ln x is not real at x < 0: every entry involving y is nan (as SymPy's
    # is not real), never the 0 a zero tangent times a nan slope would give; ∂²/∂x² is 6x
    x, y = sympy.symbols("x y", real=True)
    exact = sympy.hessian(x ** y, (x, y)).subs({x: -2, y: 3}).evalf(30)
    _, second = _hessian("x^y", x=-2.0, y=3.0)
    for i, row in enumerate(second.matrix):
        for j, entry in enumerate(row):
            if exact[i, j].is_real:
                assert _close(entry, float(exact[i, j]))
            else:
                assert math.isnan(entry), (i, j, entry)
    assert not exact[1, 0].is_real and not exact[1, 1].is_real


def test_check_order_2_where_a_step_leaves_the_domain_is_unreliable(gradcalc_cli):
    # log(x)*y at x = 1e-6: x - h is negative, so column x cannot be differenced (as
    # --order 1 says, not a failure); column y can, and agrees with SymPy's Hessian
    x, y = sympy.symbols("x y", positive=True)
    exact = sympy.hessian(sympy.log(x) * y, (x, y)).subs({x: sympy.Rational(1, 10 ** 6),
                                                        y: 2})
    ran = gradcalc_cli("check", "log(x)*y", "x=1e-6", "y=2", "--order", "2", "--json")
    document = ran.json()
    assert ran.code == 0 and document["passed"] is True
    index = {"x": 0, "y": 1}
    for entry in document["entries"]:
        assert _close(entry["hessian"], float(exact[index[entry["row"]],
                                                    index[entry["column"]]]))
        if entry["column"] == "x":
            assert entry["verdict"] == "unreliable" and entry["numerical"] is None
            assert entry["note"].startswith("at x − h = -9e-06: log is defined only")
        else:
            assert entry["verdict"] == "pass" and entry["note"] is None
    text = gradcalc_cli("check", "log(x)*y", "x=1e-6", "y=2", "--order", "2")
    assert "unreliable" in text.stdout and "note: at x − h = -9e-06" in text.stdout


def test_the_hint_for_a_wrong_length_hvp_works(gradcalc_main):
    # the suggested --hvp, run as given, is H·e_0: column x of SymPy's Hessian
    ran = gradcalc_main("hessian", "x^2*y + y^3", "x=1", "y=2", "--hvp", "1,0,0", "--json")
    assert ran.code == 2
    hint = json.loads(ran.stdout)["error"]["hint"]
    suggested = hint.split("e.g. --hvp ")[1]
    again = gradcalc_main("hessian", "x^2*y + y^3", "x=1", "y=2", "--hvp", suggested, "--json")
    x, y = sympy.symbols("x y")
    exact = sympy.hessian(x ** 2 * y + y ** 3, (x, y)).subs({x: 1, y: 2})
    assert again.code == 0
    assert json.loads(again.stdout)["hvp"] == [float(exact[0, 0]), float(exact[1, 0])]


@pytest.mark.parametrize("command", ["hessian", "check"])
def test_an_unknown_option_points_to_this_commands_help(gradcalc_main, command):
    ran = gradcalc_main(command, "x*y", "x=1", "y=2", "--exact")
    assert ran.code == 2
    assert f"see `gradcalc {command} --help` for the options" in ran.stderr
    assert gradcalc_main(command, "--help").code == 0


def test_the_row_of_a_nan_gradient_is_nan_and_warned_entry_by_entry(gradcalc_cli):
    # x^2 + (-2)^y: ∂f/∂y = (-2)^y·ln(-2) is not real (SymPy's is not), so its row, its
    # derivative along x or y, is nan; ∂/∂y of ∂f/∂x = 2x is SymPy's 0, and stays 0
    x, y = sympy.symbols("x y", real=True)
    f = x ** 2 + (-2) ** y
    exact = sympy.hessian(f, (x, y)).subs({x: 1, y: 3}).evalf(30)
    assert not sympy.diff(f, y).subs({x: 1, y: 3}).evalf(30).is_real
    document = gradcalc_cli("hessian", "x^2 + (0-2)^y", "x=1", "y=3", "--json").json()
    assert document["inputs"] == ["x", "y"] and document["gradients"]["y"] == "nan"
    assert document["hessian"][0] == [float(exact[0, 0]), float(exact[0, 1])]
    assert document["hessian"][1] == ["nan", "nan"]
    messages = [w["message"] for w in document["warnings"]]
    assert "∂²f/∂y∂x is nan: the second derivative is not finite here" in messages
    assert "∂²f/∂y² is nan: the second derivative is not finite here" in messages


def test_check_order_2_where_the_step_is_lost_in_rounding_is_unreliable(gradcalc_cli):
    # at x = 1e20, x ± 1e-5 is x: no difference is taken (it was 0, and passed); column y
    # still agrees with SymPy's ∂²(x^3·y)/∂x∂y = 3x² (the step taken is (x+h) − (x−h))
    document = gradcalc_cli("check", "x^3*y", "x=1e20", "y=1", "--order", "2",
                            "--json").json()
    x, y = sympy.symbols("x y")
    exact = sympy.hessian(x ** 3 * y, (x, y)).subs({x: sympy.Integer(10) ** 20, y: 1})
    for entry in document["entries"]:
        i, j = "xy".index(entry["row"]), "xy".index(entry["column"])
        assert _close(entry["hessian"], float(exact[i, j]))
        if entry["column"] == "x":
            assert entry["verdict"] == "unreliable" and entry["numerical"] is None
            assert "below the resolution of x = 1e+20; raise --step" in entry["note"]
        else:
            assert entry["verdict"] == "pass"


def test_check_order_2_judges_each_row_at_its_own_scale(gradcalc_cli,
                                                        wrong_tanh_second_derivative):
    # a wrong tanh'' beside a term whose gradient is 1e20: the rounding allowance of row x
    # is ε·|∂f/∂x|/h, not ε·1e20/h, so the wrong entry still fails
    ran = gradcalc_cli("check", "tanh(x)*y + 1e20*z", "x=0.3", "y=2", "z=1", "--order", "2",
                       "--json")
    document = ran.json()
    assert ran.code == 1
    failed = [(e["row"], e["column"]) for e in document["entries"] if not e["passed"]]
    assert failed == [("x", "x")]
    x = sympy.Symbol("x")
    right = float(sympy.diff(2 * sympy.tanh(x), x, 2).subs(x, sympy.Rational(3, 10)).evalf(30))
    numerical = document["entries"][0]["numerical"]
    assert abs(numerical - right) <= 1e-6 * abs(right)
