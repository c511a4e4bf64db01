"""`gradcalc check`: the numerical gradient check and the checking of given answers.

The oracles are central differences written out here by hand, the lecture's published
numbers, and deliberately broken derivative rules that the check must catch.
"""
import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcalc import checking
from gradcalc import ops
from gradcalc.arith import FloatArith
from gradcalc.lower import lower
from gradcalc.parse import parse

XP = FloatArith()
LECTURE = ["check", "(x+y)*z", "x=-2", "y=5", "z=-4"]
NAMED = ["check", "q = x + y; f = q * z", "x=-2", "y=5", "z=-4"]


def run_check(source, step=checking.STEP, tolerance=checking.TOLERANCE, answers=None,
              ties="split", **values):
    xp = FloatArith(ties)
    values = {name: float(value) for name, value in values.items()}
    graph = lower(parse(source), bound=set(values))
    return checking.check(graph, values, xp, step=step, judge=checking.Judge(tolerance),
                          answers=answers)


def rows(report):
    return {row.name: row for row in report.gradients}


# -- the numerical gradient ----------------------------------------------------------------
def test_numerical_gradient_is_the_central_difference():
    h = 1e-3
    row = rows(run_check("x^3", step=h, x=2))["x"]
    assert row.numerical == pytest.approx(((2 + h) ** 3 - (2 - h) ** 3) / (2 * h), rel=1e-12)
    assert row.numerical == pytest.approx(12 + h * h, rel=1e-12)  # 3x² + h²
    assert row.analytic == 12
    assert row.relative_error == pytest.approx(h * h / (12 + h * h), rel=1e-6)


def test_relative_error_formula():
    assert checking.relative_error(0.0, 0.0) == 0.0  # both zero passes
    assert checking.relative_error(-4.0, 4.0) == 2.0
    assert checking.relative_error(3.0, 3.3) == pytest.approx(0.3 / 3.3)
    assert checking.relative_error(0.0, 1e-13) == 1.0  # no floor: judged at its own scale
    assert checking.relative_error(math.inf, 1.0) == math.inf


@pytest.mark.parametrize("error,reading", [
    (1e-9, "good"), (1e-6, "fine only near a kink"), (1e-3, "uncomfortable"),
    (0.5, "probably wrong")])
def test_cs231n_reading(error, reading):
    assert checking.reading(error).startswith(reading)


def test_lecture_circuit_passes(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE, "--json")
    assert ran.code == 0
    doc = ran.json()
    assert doc["passed"] is True
    assert [r["input"] for r in doc["gradient_check"]] == ["x", "y", "z"]
    for row, grad in zip(doc["gradient_check"], (-4, -4, 3)):
        assert row["analytic"] == grad
        assert row["numerical"] == pytest.approx(grad, rel=1e-9)
        assert row["verdict"] == "pass" and row["relative_error"] <= 1e-6


def _away_from_kinks(arity):
    """Arguments in ±[0.1, 1.4]: far (in units of h) from 0, where relu, abs, sqrt, pow
    and division change piece, inside tan's branch (-π/2, π/2), and pairwise apart so
    that max and min keep their winner."""
    magnitude = st.floats(0.1, 1.4)
    value = st.tuples(magnitude, st.booleans()).map(lambda p: -p[0] if p[1] else p[0])
    return st.lists(value, min_size=arity, max_size=arity).filter(
        lambda args: all(abs(a - b) > 1e-3 for i, a in enumerate(args) for b in args[:i]))


# Scalar functions: check runs on scalar inputs (array ops are checked in test_ops.py).
# detach passes no gradient by design (PyTorch's convention), so differences disagree.
@pytest.mark.parametrize("name", sorted(n for n, op in ops.FUNCTIONS.items()
                                        if op.vjp is None and n != "detach"))
@given(data=st.data())
def test_every_builtin_agrees_with_central_differences_away_from_kinks(name, data):
    op = ops.FUNCTIONS[name]
    arity = op.arity if op.arity is not None else 3
    args = data.draw(_away_from_kinks(arity))
    # log(-1), (-0.5)^0.3 and ∂((-1)^y)/∂y are outside the domain: not gradient questions.
    h = 2 * checking.STEP
    near = [args[:i] + [a + d] + args[i + 1:] for i, a in enumerate(args) for d in (-h, 0, h)]
    assume(op.domain is None or all(op.domain(XP, *point) is None for point in near))
    names = ["x", "y", "z"][:arity]
    source = f"{name}({', '.join(names)})"
    report = run_check(source, **dict(zip(names, args)))
    for row in report.gradients:
        assert row.verdict == "pass", (source, args, row)
        assert row.relative_error <= 1e-6
    assert report.passed


def _broken(monkeypatch, name, local):
    monkeypatch.setitem(ops.FUNCTIONS, name, ops.FUNCTIONS[name].replace(local=local))


def test_a_wrong_derivative_rule_fails(monkeypatch, gradcalc_cli):
    _broken(monkeypatch, "sin", lambda xp, out, a: (xp.sin(a),))  # should be cos
    ran = gradcalc_cli("check", "sin(x) * y", "x=1", "y=2")
    assert ran.code == 1
    assert "FAIL" in ran.stdout and "check FAILED" in ran.stdout
    report = run_check("sin(x) * y", x=1, y=2)
    assert rows(report)["x"].verdict == "fail" and rows(report)["y"].verdict == "pass"
    assert rows(report)["x"].note.startswith("probably wrong")


def test_a_slightly_wrong_rule_fails_too(monkeypatch):
    _broken(monkeypatch, "tanh", lambda xp, out, a: ((1.0 - out * out) * 1.0001,))
    row = rows(run_check("tanh(x)", x=0.3))["x"]
    assert row.verdict == "fail"
    assert row.relative_error == pytest.approx(1e-4, rel=1e-3)


# -- rows the difference cannot judge ------------------------------------------------------
def test_relu_near_its_kink_is_unreliable_not_failed(gradcalc_cli):
    ran = gradcalc_cli("check", "relu(x)", "x=1e-9", "--step", "1e-5", "--json")
    assert ran.code == 0
    row = ran.json()["gradient_check"][0]
    assert row["verdict"] == "unreliable"
    assert "kink of relu(x)" in row["note"]
    assert row["analytic"] == 1.0
    assert row["numerical"] == pytest.approx((1e-9 + 1e-5) / 2e-5)  # the kink's average
    # With a step that stays on one side, the same point checks fine.
    assert rows(run_check("relu(x)", step=1e-10, x=1e-9))["x"].verdict == "pass"


@pytest.mark.parametrize("source,values,why", [
    ("max(x, y)", {"x": 1, "y": 1 + 1e-9}, "kink of max(x, y)"),
    ("min(x, 2)", {"x": 2}, "kink of min(x, 2)"),
    ("abs(x - 1)", {"x": 1}, "kink of abs(x - 1)"),
    ("1/x", {"x": 1e-9}, "pole of 1/x"),
    ("x^-1", {"x": -1e-9}, "of x^-1"),
    ("tan(x)", {"x": 1.5707963}, "pole of tan(x)"),
    ("r(t) = relu(t); r(x) * 2", {"x": 1e-9}, "kink of relu(t) (inside gate r)"),
    ("relu(x^2 - 1e-12)", {"x": 0}, "kink of relu(x^2 - 1e-12)"),  # off at x, on at x ± h
    ("sqrt(x)", {"x": 1e-9}, "sqrt is defined only for numbers ≥ 0"),
    ("log(x)", {"x": 1e-7}, "log is defined only for positive numbers"),
    ("x", {"x": 1e12}, "below the resolution of x"),
    ("x^3", {"x": 0}, "the difference's own error"),  # derivative 0, difference h²
    ("x^2", {"x": 1e6}, "the difference's own error"),  # rounding: eps·10¹²/h
])
def test_rows_the_difference_cannot_judge(source, values, why):
    report = run_check(source, **values)
    row = rows(report)["x"]
    assert row.verdict == "unreliable", row
    assert why in row.note
    assert report.passed


def test_own_error_rows_pass_with_a_better_step():
    assert rows(run_check("x^2", step=1e-3, x=1e6))["x"].verdict == "pass"
    assert rows(run_check("sin(1000*x)", step=1e-7, x=1))["x"].verdict == "pass"


def test_every_op_with_a_kink_says_where_its_pieces_are():
    for op in ops.OPS:
        if op.kink is not None:
            assert op.branch is not None, op.name


def test_piece_changes_exactly_across_the_kink():
    xp = XP
    for op in ops.OPS:
        if op.kink is None or op.vjp is not None or op.arity not in (1, None):
            continue
        args = lambda a: (a, 0.0) if op.arity is None else (a,)  # noqa: E731
        left, right = args(-0.5), args(0.5)
        if op.domain is not None and op.domain(xp, *left) is not None:
            continue  # sqrt: no left side
        pieces = [op.branch(xp, op.forward(xp, *a), *a) for a in (left, right)]
        assert pieces[0] != pieces[1], op.name  # relu, abs, max, min change at 0
        same = [op.branch(xp, op.forward(xp, *args(a)), *args(a)) for a in (0.4, 0.5)]
        assert same[0] == same[1], op.name


# -- answers --------------------------------------------------------------------------------
def test_correct_answers_pass(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE, "--expect", "value=-12", "--expect", "x=-4",
                       "--expect", "y=-4", "--expect", "z=3")
    assert ran.code == 0, ran.stdout
    assert "answers: 4 right" in ran.stdout and "check passed" in ran.stdout


def test_a_wrong_answer_exits_1(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE, "--expect", "x=4", "--expect", "value=-12", "--json")
    assert ran.code == 1
    doc = ran.json()
    assert doc["passed"] is False
    wrong, right = doc["answers"]
    assert wrong == {"name": "x", "quantity": "∂f/∂x", "given": 4.0, "computed": -4.0,
                     "relative_error": 2.0, "verdict": "fail", "note": ""}
    assert right["verdict"] == "pass" and right["quantity"] == "f"
    assert doc["counts"]["answers"] == {"pass": 1, "fail": 1, "unreliable": 0}
    table = gradcalc_cli(*LECTURE, "--expect", "x=4")
    assert table.code == 1 and "FAIL" in table.stdout and "check FAILED" in table.stdout


def test_answer_names(gradcalc_cli, tmp_path):
    # value and the output's name: f's value; q: ∂f/∂q; value(q): q's value.
    answers = {"value": -12, "f": "-3*4", "q": -4, "grad(q)": -4, "value(q)": 3,
               "x": "-2*2", "grad(z)": 3}
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers))
    ran = gradcalc_cli(*NAMED, "--answers", str(path), "--json")
    assert ran.code == 0, ran.stdout
    quantities = {row["name"]: row["quantity"] for row in ran.json()["answers"]}
    assert quantities == {"value": "f", "f": "f", "q": "∂f/∂q", "grad(q)": "∂f/∂q",
                          "value(q)": "q", "x": "∂f/∂x", "grad(z)": "∂f/∂z"}


def test_expect_wins_over_the_answers_file(gradcalc_cli, tmp_path):
    path = tmp_path / "answers.json"
    path.write_text('{"x": 4}')
    assert gradcalc_cli(*LECTURE, "--answers", str(path)).code == 1
    assert gradcalc_cli(*LECTURE, "--answers", str(path), "--expect", "x=-4").code == 0


def test_rounded_answers_need_rounded_or_a_tolerance(gradcalc_cli):
    # CS231n's sigmoid neuron, as the notes print it: f = 0.73, ∂f/∂x0 = 0.39.
    args = ["check", "sigmoid(w0*x0 + w1*x1 + w2)", "w0=2", "x0=-1", "w1=-3", "x1=-2",
            "w2=-3", "--expect", "value=0.73", "--expect", "x0=0.39", "--json"]
    strict = gradcalc_cli(*args)
    assert strict.code == 1
    assert all("use --rounded" in row["note"] for row in strict.json()["answers"])
    assert gradcalc_cli(*args, "--tol", "1e-2").code == 0
    assert gradcalc_cli(*args, "--rounded").code == 0


def test_rounding_noise_is_not_a_wrong_answer():
    report = run_check("0.1*x + 0.2*x - 0.3*x", answers={"x": 0.0}, x=1)
    assert report.answers[0].computed != 0.0  # 5.6e-17
    assert report.answers[0].verdict == "pass"


def test_tie_policy_reaches_the_answers(gradcalc_cli):
    tie = ["check", "max(x, y)", "x=1", "y=1", "--expect", "x=1"]
    assert gradcalc_cli(*tie).code == 1  # split: ∂/∂x = 0.5
    assert gradcalc_cli(*tie, "--ties", "first").code == 0


# -- the report -------------------------------------------------------------------------------
def test_table_is_drawn_by_rich(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE)
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("(x+y)*z   (h = 1e-05, tol = 1e-06)")
    assert "┃ gradient ┃ analytic ┃ numerical ┃ rel. error ┃ verdict ┃" in ran.stdout
    assert any(line.startswith("│ ∂f/∂z") and "pass" in line for line in lines)
    assert lines[-2:] == ["f = -12   gradients: 3 pass", "check passed"]


def test_json_is_strict_and_nonfinite_numbers_are_strings(gradcalc_cli):
    ran = gradcalc_cli("check", "exp(x)", "x=1000", "--json")
    doc = ran.json()
    assert ran.code == 0
    assert doc["value"] == "inf" and doc["gradient_check"][0]["analytic"] == "inf"
    assert doc["gradient_check"][0]["verdict"] == "unreliable"
    assert any("overflow" in w["message"] for w in doc["warnings"])
    assert set(doc) == {"schema", "expression", "passed", "value", "step", "tolerance",
                        "atol", "rounded", "sample", "gradient_check", "answers", "counts",
                        "warnings"}


# -- bad input: exit 2, one message, no traceback ---------------------------------------------
BAD_ANSWERS = [
    ('{"w": 1}', [], "the answer 'w' names nothing in the expression"),
    ('{"x": true}', [], "must be a number, not true/false"),
    ('{"x": [1, 2]}', [], "the answer 'x' has shape 2 but ∂f/∂x is a scalar"),
    ('{"x": {"a": 1}}', [], "must be a number, not an object"),
    ('{"x": null}', [], "must be a number, not null"),
    ('{"x": "abc"}', [], "in the answers file"),
    ('[1, 2]', [], "must hold a JSON object"),
    ('{"x": ', [], "is not valid JSON"),
    ('{"x": ' + "[" * 100000 + "]" * 100000 + "}", [], "nests more than 64 levels deep"),
    (None, ["--expect", "x"], "expected NAME=VALUE"),
    (None, ["--expect", "x="], "expected NAME=VALUE"),
    (None, ["--expect", "x=four"], "in --expect x=four"),
    (None, ["--expect", "vaule=1"], "did you mean value?"),
    (None, ["--expect", "grad(w)=1"], "the answer 'grad(w)' names nothing"),
    (None, ["--answers", "/nonexistent.json"], "cannot read the answers file"),
    (None, ["--step", "nan"], "--step must be a finite number"),
]


@pytest.mark.parametrize("content,args,message", BAD_ANSWERS,
                         ids=[m for _, _, m in BAD_ANSWERS])
def test_bad_answers_input(gradcalc_cli, tmp_path, content, args, message):
    if content is not None:
        path = tmp_path / "answers.json"
        path.write_text(content)
        args = ["--answers", str(path)]
    ran = gradcalc_cli(*LECTURE, *args)
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert message in ran.stderr
    assert ran.stderr.count("rror:") == 1 and "Traceback" not in ran.stderr
    as_json = gradcalc_cli(*LECTURE, *args, "--json")
    assert as_json.code == 2 and "error" in as_json.json()


@pytest.mark.parametrize("option", [["--step", "0"], ["--step", "-1e-5"], ["--tol", "-1"]])
def test_bad_step_and_tolerance(gradcalc_cli, option):
    ran = gradcalc_cli(*LECTURE, *option)
    assert ran.code == 2 and option[0] in ran.stderr


def test_gradient_of_a_constant_node_is_not_an_answer(gradcalc_cli):
    ran = gradcalc_cli("check", "c = 2*3; c*x", "x=1", "--expect", "c=1")
    assert ran.code == 2 and "c depends on no input" in ran.stderr
    assert gradcalc_cli("check", "c = 2*3; c*x", "x=1", "--expect", "value(c)=6").code == 0
