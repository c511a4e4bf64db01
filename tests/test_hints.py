"""A newcomer's inputs: every hint that suggests a fix is applied and run, and the fixed
program must compute what the notation meant (Python's math module is the oracle), so no
hint leads into a wall or silently changes the answer. Also text pasted from slides, and
the places where gradcalc used to say nothing."""
import math
import re
import shlex

import pytest

import gradcalc
from gradcalc import bindings as binding_values
from gradcalc.errors import GradcalcError

from conftest import run_main


def apply_hint(error: GradcalcError) -> str:
    """The fix a hint suggests: its first `quoted` text in place of the caret's span."""
    fix = re.search(r"`([^`]*)`", error.hint or "")
    assert fix, f"no fix in the hint: {error.hint!r}"
    start, end = error.span
    return error.source[:start] + fix.group(1) + error.source[end:]


def error_of(source: str, bindings: dict) -> GradcalcError:
    with pytest.raises(GradcalcError) as caught:
        gradcalc.evaluate(source, bindings)
    return caught.value


def run_fixed(source: str, bindings: dict) -> dict:
    """`gradcalc eval SOURCE NAME=VALUE... --json`, which must succeed."""
    args = [f"{name}={value}" for name, value in bindings.items()]
    ran = run_main("eval", source, *args, "--json")
    assert ran.code == 0, ran.stderr
    return ran.json()


S = 0.7
# (what a newcomer types, bindings, what the notation means, computed by math)
FIXABLE = [
    ("sin^2(x)", {"x": S}, math.sin(S) ** 2),
    ("3*cos^3(x + 1)", {"x": S}, 3 * math.cos(S + 1) ** 3),
    ("sin^-1(x)", {"x": S}, 1 / math.sin(S)),  # said plainly: 1/sin, there is no arcsin
    ("exp x", {"x": S}, math.exp(S)),
    ("2 * log 3", {}, 2 * math.log(3)),
    ("w^T x", {"w": "[1, 2]", "x": "[3, 4]"}, 11.0),
    ("w^T @ x", {"w": "[1, 2]", "x": "[3, 4]"}, 11.0),
    ("|x - 3|", {"x": S}, abs(S - 3)),
    ("√x", {"x": S}, math.sqrt(S)),
    ("1 + √(x+1)", {"x": S}, 1 + math.sqrt(S + 1)),
    ("x*0,5", {"x": S}, S * 0.5),
    ("sinh(x)", {"x": S}, math.sinh(S)),
    ("cosh(2*x)", {"x": S}, math.cosh(2 * S)),
    ("log1p(x)", {"x": S}, math.log1p(S)),
    ("expm1(x)", {"x": S}, math.expm1(S)),
    ("exp2(x)", {"x": S}, 2 ** S),
    ("square(x+1)", {"x": S}, (S + 1) ** 2),
    ("sgn(x)", {"x": -S}, -1.0),
    ("logistic(x)", {"x": S}, 1 / (1 + math.exp(-S))),
    ("exq(x)", {"x": S}, math.exp(S)),
    ("Exp(x)", {"x": S}, math.exp(S)),
    ("sigmod(x)", {"x": S}, 1 / (1 + math.exp(-S))),
    ("lg(x)", {"x": S}, math.log10(S)),
    ("log(x, 2)", {"x": S}, math.log2(S)),
]


@pytest.mark.parametrize("source,bindings,meant", FIXABLE, ids=[s for s, _, _ in FIXABLE])
def test_a_suggested_fix_runs_and_means_what_was_written(source, bindings, meant):
    fixed = apply_hint(error_of(source, bindings))
    assert math.isclose(run_fixed(fixed, bindings)["value"], meant, rel_tol=1e-12)


@pytest.mark.parametrize("name,meant", [
    ("log10", math.log10(S)), ("log2", math.log2(S)), ("sign", 1.0),
    ("σ", 1 / (1 + math.exp(-S))), ("log", math.log(S)), ("ln", math.log(S))])
def test_functions_people_expect_exist_with_their_own_meaning(name, meant):
    assert math.isclose(gradcalc.evaluate(f"{name}(x)", x=S).value, meant, rel_tol=1e-15)


@pytest.mark.parametrize("name", ["sinh", "cosh", "log1p", "exp2", "asin", "atan", "arcsin",
                                  "logit", "tanh2", "softmax2", "relu6", "sig2"])
def test_a_near_miss_is_never_sent_to_another_function(name):
    """sinh is not sin and log1p is not log: a hint either writes the function out (run
    above) or says there is none; it never names a function of another meaning."""
    error = error_of(f"{name}(x)", {"x": S})
    named = re.findall(r"`(\w+)`", error.hint)
    assert not named or named[0] not in gradcalc.ops.FUNCTIONS or named[0] == name


def test_an_ambiguous_division_offers_both_readings_and_both_run():
    error = error_of("1/2x", {"x": S})
    readings = re.findall(r"write (\S+?)(?:;|$)", error.hint)
    assert readings == ["1/(2*x)", "x/2"], error.hint
    values = [run_fixed(reading, {"x": S})["value"] for reading in readings]
    assert values == [1 / (2 * S), S / 2]


def test_pi_pasted_as_a_letter_is_pi():
    assert gradcalc.evaluate("π*x", x=2).value == 2 * math.pi


def test_a_function_used_as_a_value_says_to_call_it():
    # Following the old hint for sin^2(x) gave `sin^2*(x)` and then "bind sin=...".
    error = error_of("sin^2*(x)", {"x": S})
    assert "'sin' is a function" in error.message and "sin(...)" in error.hint
    assert "bind" not in error.hint


def test_a_gate_called_with_the_wrong_arity_is_explained_by_its_own_header():
    error = error_of("sig(t) = 1/(1+exp(-t)); sig(x, 2)", {"x": S})
    assert "sig(t)" in error.hint and "gradcalc functions" not in error.hint


@pytest.mark.parametrize("arg,fixed", [("x:2", "x=2"), ("x", "x=1"), ("x=0,5", "x=0.5")])
def test_a_binding_written_another_way_gets_a_fix_that_runs(arg, fixed):
    with pytest.raises(GradcalcError) as caught:
        binding_values.lowered(binding_values.collect([arg]))
    assert apply_hint(caught.value) == fixed
    assert run_main("eval", "x*2", fixed).code == 0


@pytest.mark.parametrize("source", ["x ≤ 2", "x $ y", "3!"])
def test_other_characters_are_named_with_what_gradcalc_reads(source):
    error = error_of(source, {"x": 1, "y": 1})
    assert error.message.startswith("unexpected character") and error.hint


# -- text pasted from slides -----------------------------------------------------------------
PASTED = [
    ("x − y", lambda x, y: x - y), ("x – y", lambda x, y: x - y),
    ("x × y", lambda x, y: x * y), ("x · y", lambda x, y: x * y),
    ("x ⋅ y", lambda x, y: x * y), ("x ∗ y", lambda x, y: x * y),
    ("x ÷ y", lambda x, y: x / y), ("x²", lambda x, y: x ** 2),
    ("x³ + y¹⁰", lambda x, y: x ** 3 + y ** 10), ("x⁻¹", lambda x, y: 1 / x),
    ("−x² ÷ 2", lambda x, y: -x ** 2 / 2), ("σ(x·y)", lambda x, y: 1 / (1 + math.exp(-x * y))),
]


@pytest.mark.parametrize("source,meant", PASTED, ids=[s for s, _ in PASTED])
def test_pasted_operators_mean_their_ascii_counterparts(source, meant):
    x, y = 1.5, -0.75
    result = gradcalc.evaluate(source, x=x, y=y)
    assert math.isclose(result.value, meant(x, y), rel_tol=1e-15)
    h = 1e-6  # central differences as the gradient's oracle
    numeric = (meant(x + h, y) - meant(x - h, y)) / (2 * h)
    assert math.isclose(result.gradients["x"], numeric, rel_tol=1e-6, abs_tol=1e-9)


def test_pasted_text_keeps_its_spans_and_labels():
    doc = run_fixed("x² · y", {"x": 3, "y": 2})
    labels = {row["label"]: row["span"] for row in doc["nodes"]}
    assert labels["x²"] == [0, 2] and labels["x² · y"] == [0, 6]
    ran = run_main("eval", "x × √y", "x=1", "y=4")
    assert "  |     ^^" in ran.stderr and "`sqrt(y)`" in ran.stderr


def test_a_superscript_is_not_part_of_a_name():
    assert gradcalc.evaluate("x2²", x2=3).value == 9.0


# -- silence no more -------------------------------------------------------------------------
def test_no_expression_is_an_error_whose_example_runs():
    ran = run_main("eval", "x=1")
    assert ran.code == 2 and "there is no expression" in ran.stderr
    command = re.search(r"`([^`]*)`", ran.stderr).group(1)
    assert run_main(*shlex.split(command)[1:]).code == 0


def test_a_binding_given_twice_names_both_values():
    ran = run_main("eval", "x+1", "x=1", "x=2")
    assert ran.code == 2 and "x=1 and x=2" in ran.stderr


LECTURE_CODE = "x = -2; y = 5; z = -4; q = x + y; f = q * z"


def test_the_lectures_code_pasted_as_is_says_how_to_bind_its_inputs():
    ran = run_main("eval", LECTURE_CODE)
    assert ran.code == 0
    warning = ran.stderr.split("bind the inputs instead: ", 1)[1].strip()
    assert warning == '"q = x + y; f = q * z" x=-2 y=5 z=-4'
    # The CS231n notes' numbers: df/dx = df/dy = -4, df/dz = 3.
    doc = run_fixed(*_split_command(warning))
    assert doc["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0} and doc["value"] == -12.0


def _split_command(text: str):
    source, *args = shlex.split(text)
    return source, dict(arg.split("=", 1) for arg in args)


def test_the_api_refuses_a_misspelled_option_and_binds_any_name():
    with pytest.raises(TypeError, match="'upstrem'.*upstream"):
        gradcalc.evaluate("x*2", x=1, upstrem=3)
    assert gradcalc.evaluate("ties*strict", {"ties": 3, "strict": 2}).gradients == \
        {"ties": 2.0, "strict": 3.0}
    assert gradcalc.evaluate("x*y", {"x": 2}, y=3).value == 6.0
    assert gradcalc.evaluate("x*2", x=1, b=2).warnings  # an unused binding stays a warning
    with pytest.raises(TypeError, match="both"):
        gradcalc.evaluate("x*2", {"x": 1}, x=2)
    with pytest.raises(TypeError):
        gradcalc.compile("x*2", expnad=True)
    circuit = gradcalc.compile("x*self")
    assert circuit.forward({"x": 2, "self": 3}) == 6.0
    with pytest.raises(TypeError, match="'tie'"):
        circuit.forward(x=1, self=1, tie="first")


def test_batch_refuses_a_misspelled_option_too():
    with pytest.raises(TypeError, match="'on_eror'.*on_error"):
        gradcalc.batch("x*b", {"x": [1.0, 2.0]}, b=2, on_eror="null")
