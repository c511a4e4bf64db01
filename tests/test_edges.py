"""Numerical honesty at the edges: each situation where a gradient tool is known to give a
finite, wrong answer without a warning, and its kin, against an oracle (SymPy's exact
derivatives and limits, mpmath at 50 digits). What gradcalc must do there: the right
number, or NaN/inf with a warning that says why.
"""
import json
import math

import mpmath
import pytest
import sympy

import gradcalc
from gradcalc import ops
from gradcalc.arith import FloatArith
from gradcalc.errors import BindingError, DomainError, StrictError

from conftest import run_main
from mp_oracle import MP, derivative

mpmath.mp.dps = 50
x_ = sympy.Symbol("x", real=True)
np = pytest.importorskip("numpy")


def one_sided(expression, at, direction):
    """SymPy's limit of the derivative at a point, from one side."""
    return float(sympy.limit(sympy.diff(expression, x_), x_, at, dir=direction))


def warned(result, *words) -> bool:
    return any(all(w in message for w in words) for _, message in result.warnings)


# -- 1. signed zeros: sqrt's slope at 0 is +inf whatever the sign of the zero ------------------

def test_sqrt_of_minus_x_at_zero_has_slope_minus_inf():
    truth = one_sided(sympy.sqrt(-x_), 0, "-")  # √(-x) lives on x ≤ 0
    assert truth == -math.inf
    assert gradcalc.evaluate("sqrt(-x)", x=0.0).gradients["x"] == truth
    assert gradcalc.evaluate("sqrt(-x)", x=-0.0).gradients["x"] == truth


def test_sqrt_at_minus_zero_has_slope_plus_inf_in_every_number_system():
    truth = one_sided(sympy.sqrt(x_), 0, "+")
    assert truth == math.inf
    assert gradcalc.evaluate("sqrt(x)", x=-0.0).gradients["x"] == truth
    assert gradcalc.evaluate("x^0.5", x=-0.0).gradients["x"] == truth
    assert list(gradcalc.evaluate("sqrt(x)", x=[0.0, -0.0], upstream=[1, 1])
                .gradients["x"]) == [truth, truth]
    assert list(gradcalc.batch("sqrt(-x)", {"x": [0.0, -0.0]})["grad_x"]) == [-truth, -truth]
    assert float(gradcalc.evaluate("sqrt(-x)", x=0, exact=True).gradients["x"]) == -truth


# -- 2. 0 · inf: 0 only through a structural zero, else nan with a warning --------------------

ZEROS = [0.0, -0.0]


@pytest.mark.parametrize("fn", ["max", "min"])
def test_max_and_min_of_signed_zeros_follow_ieee_754_2019_in_both_paths(fn):
    """IEEE 754-2019 §9.6: maximum treats -0 as less than +0 (minimum the reverse), so the
    answer's sign does not depend on the order of the arguments or on the path."""
    pairs = [(a, b) for a in ZEROS for b in ZEROS]
    scalars = [gradcalc.evaluate(f"{fn}(x, y)", x=a, y=b).value for a, b in pairs]
    arrays = gradcalc.evaluate(f"{fn}(x, y)", x=[a for a, _ in pairs],
                               y=[b for _, b in pairs]).value
    pick = max if fn == "max" else min
    expected = [pick(math.copysign(1.0, a), math.copysign(1.0, b)) for a, b in pairs]
    assert [math.copysign(1.0, v) for v in scalars] == expected
    assert [math.copysign(1.0, v) for v in arrays] == expected


def test_log_one_plus_exp_at_1000_is_nan_with_a_warning_not_zero():
    truth = mpmath.diff(lambda t: mpmath.log(1 + mpmath.exp(t)), 1000)
    assert mpmath.almosteq(truth, 1)  # the tool cannot give 1 from exp(1000) = inf
    result = gradcalc.evaluate("log(1+exp(x))", x=1000)
    assert math.isnan(result.gradients["x"])
    assert warned(result, "0 · inf", "computed 0", "gradient through x is nan")
    assert warned(result, "the gradient for x is nan")
    steps = run_main("eval", "log(1+exp(x))", "x=1000", "--steps").stdout
    assert "0 · inf = nan" in steps and "0 · inf = 0" not in steps


def test_sqrt_times_sqrt_at_zero_is_nan_with_a_warning():
    assert one_sided(sympy.sqrt(x_) * sympy.sqrt(x_), 0, "+") == 1  # not 0
    result = gradcalc.evaluate("sqrt(x)*sqrt(x)", x=0)
    assert math.isnan(result.gradients["x"]) and warned(result, "0 · inf")
    with pytest.raises(StrictError):
        gradcalc.evaluate("sqrt(x)*sqrt(x)", x=0, strict=True)


@pytest.mark.parametrize("source,expression", [
    ("max(sqrt(x), 1)", sympy.Max(sympy.sqrt(x_), 1)),  # the loser of a max
    ("min(-sqrt(x), -1)", sympy.Min(-sympy.sqrt(x_), -1)),
    ("relu(-sqrt(x) - 1) + 1", sympy.Max(-sympy.sqrt(x_) - 1, 0) + 1),  # relu's off side
    ("g(t) = max(t, 1); g(sqrt(x))", sympy.Max(sympy.sqrt(x_), 1)),  # through a gate
])
def test_a_structural_zero_passes_zero_through_an_infinite_slope(source, expression):
    # the derivative is 0 all along (0, 1), so its limit at 0 from the right is 0
    truth = float(sympy.diff(expression, x_).subs(x_, sympy.Rational(1, 10**6)))
    assert truth == 0
    result = gradcalc.evaluate(source, x=0)
    assert result.gradients["x"] == truth and not warned(result, "0 · inf")
    vector = gradcalc.evaluate(source, x=[0.0, 0.0], upstream=[1, 1])
    assert list(vector.gradients["x"]) == [truth, truth]
    assert list(gradcalc.batch(source, {"x": [0.0, 4.0]}, )["grad_x"])[0] == truth


def test_relu_off_side_blocks_an_infinite_upstream():
    # sqrt(relu(x)) is 0 for x < 0: its derivative there is 0, though sqrt's slope is inf
    truth = float(sympy.diff(sympy.Integer(0), x_))
    for result in (gradcalc.evaluate("sqrt(relu(x))", x=-1),
                   gradcalc.evaluate("sqrt(relu(x))", x=-1, exact=True)):
        assert result.gradients["x"] == truth
    assert gradcalc.batch("sqrt(relu(x))", {"x": [-1.0, 4.0]})["grad_x"][0] == truth


def test_vector_path_follows_the_scalar_rule():
    # sum(max(sqrt(v), 1)) at v = [0, 4]: d/dv0 = 0 (max chose 1), d/dv1 = 1/(2·2)
    truth = [float(sympy.diff(sympy.Max(sympy.sqrt(x_), 1), x_).subs(x_, sympy.Rational(1, 4))),
             float(sympy.diff(sympy.sqrt(x_), x_).subs(x_, 4))]
    result = gradcalc.evaluate("sum(max(sqrt(v), 1))", v=[0, 4])
    assert list(result.gradients["v"]) == truth
    indexed = gradcalc.evaluate("sqrt(v)[1]", v=[0, 4])  # an element an index does not pick
    assert list(indexed.gradients["v"]) == truth


def test_jacobian_entries_off_an_elementwise_diagonal_are_exactly_zero():
    jacobian = gradcalc.evaluate("exp(v)", v=[1000, 1]).gradients["v"]
    assert jacobian[0, 1] == 0 and jacobian[1, 0] == 0  # exp(v1) does not depend on v0
    assert jacobian[1, 1] == pytest.approx(math.e, rel=1e-15)
    assert jacobian[0, 0] == math.inf  # e^1000, past the float range (warned: overflow)


def test_a_given_zero_upstream_passes_nothing():
    result = gradcalc.evaluate("sqrt(x)", x=0, upstream=0)
    assert result.gradients["x"] == 0 and not warned(result, "0 · inf")


def test_batch_warns_about_0_times_inf_on_the_rows_where_it_happens():
    result = gradcalc.batch("sqrt(x)*sqrt(x)", {"x": [0.0, 4.0]})
    assert math.isnan(result["grad_x"][0]) and result["grad_x"][1] == pytest.approx(1.0)
    assert any("0 · inf" in message for _, message in result.warnings)


# -- 3. no derivative: a warning with the convention taken -----------------------------------

def test_zero_to_the_b_drops_from_1_to_0_at_b_0():
    # 0^b is 1 at b = 0 and 0 for b > 0: the slope from the right falls without bound
    h = mpmath.mpf(10) ** -30
    assert (mpmath.power(0, h) - mpmath.power(0, 0)) / h < -1e29


@pytest.mark.parametrize("source,names,expression", [
    ("a^b", {"a": 0, "b": 0}, None),
    ("0^x", {"x": 0}, None),
    ("x^x", {"x": 0}, x_ ** x_),
])
def test_zero_to_the_zero_has_the_one_sided_slope_minus_inf_and_warns(source, names,
                                                                     expression):
    result = gradcalc.evaluate(source, **names)
    name = "b" if "b" in names else "x"
    if expression is not None:
        assert one_sided(expression, 0, "+") == -math.inf
    assert result.gradients[name] == -math.inf
    assert warned(result, "no derivative in b at b = 0")
    if "a" in names:
        assert result.gradients["a"] == 0  # a^0 is 1 for every a


def test_a_non_integer_power_at_zero_warns_that_its_slope_is_one_sided():
    assert one_sided(x_ ** sympy.Rational(3, 2), 0, "+") == 0
    result = gradcalc.evaluate("x^1.5", x=0)
    assert result.gradients["x"] == 0 and warned(result, "defined only for a ≥ 0")


KINK_CANDIDATES = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
LOCAL_OPS = [op for op in ops.OPS if op.local is not None and op.vjp is None]


def _one_sided(op, args, k):
    """The slopes of `op` in argument k from the left and from the right, at 50 digits (None
    for a side outside the domain)."""
    h = mpmath.mpf(10) ** -30

    def at(t):
        moved = [mpmath.mpf(a) for a in args]
        moved[k] = t
        if op.domain is not None and op.domain(MP, *moved) is not None:
            return None
        return op.forward(MP, *moved)
    middle, left, right = at(mpmath.mpf(args[k])), at(args[k] - h), at(args[k] + h)
    return (None if left is None else (middle - left) / h,
            None if right is None else (right - middle) / h)


def _differentiable(left, right) -> bool:
    return left is not None and right is not None and abs(left) < 1e10 and \
        abs(right) < 1e10 and mpmath.almosteq(left, right, rel_eps=1e-10, abs_eps=1e-10)


@pytest.mark.parametrize("op", LOCAL_OPS, ids=lambda op: op.name)
def test_every_point_without_a_derivative_is_flagged(op):
    """Wherever an op has no (two-sided, finite) derivative in some argument, the table
    says so: a kink warning with its convention, or a local gradient of nan (which the
    gradient's own warning reports). Generated from the table; the truth from mpmath."""
    xp = FloatArith()
    arity = op.arity if op.arity is not None else 3
    grid = [[a] for a in KINK_CANDIDATES]
    for _ in range(arity - 1):
        grid = [g + [a] for g in grid for a in KINK_CANDIDATES]
    checked = 0
    for args in grid:
        if op.domain is not None and op.domain(xp, *args) is not None:
            continue
        out = op.forward(xp, *args)
        local = op.local(xp, out, *args)
        flagged = op.kink is not None and op.kink(xp, out, *args) is not None
        for k in range(arity):
            if k in op.constant_args:  # where's condition: it takes no gradient at all
                continue
            if not _differentiable(*_one_sided(op, args, k)):
                checked += 1
                assert flagged or math.isnan(local[k]), (op.name, args, k, local[k])
    assert checked or op.name not in ("abs", "relu", "max", "min", "sqrt", "pow")


# -- 4. the tails of σ', tanh', softplus' --------------------------------------------------

@pytest.mark.parametrize("source,function,point", [
    ("sigmoid(x)", lambda t: 1 / (1 + mpmath.exp(-t)), 30),
    ("sigmoid(x)", lambda t: 1 / (1 + mpmath.exp(-t)), 40),
    ("sigmoid(x)", lambda t: 1 / (1 + mpmath.exp(-t)), -700),
    ("tanh(x)", mpmath.tanh, 20),
    ("tanh(x)", mpmath.tanh, -300),
    ("softplus(x)", lambda t: mpmath.log1p(mpmath.exp(t)), -40),
    ("softplus(x)", lambda t: mpmath.log1p(mpmath.exp(t)), 40),
])
def test_tail_gradients_keep_their_digits(source, function, point):
    truth = float(derivative(function, [point], 0))
    assert truth != 0  # representable: 9.3576e-14 at 30, 4.248e-18 at 40, 1.699e-17 at 20
    for grad in (gradcalc.evaluate(source, x=point).gradients["x"],
                 gradcalc.evaluate(source, x=[point], upstream=[1]).gradients["x"][0],
                 gradcalc.batch(source, {"x": [float(point)]})["grad_x"][0],
                 float(gradcalc.evaluate(source, x=point, exact=True).gradients["x"])):
        assert grad == pytest.approx(truth, rel=4e-16), (source, point, grad, truth)


# -- 6. warnings that were missing or spurious ----------------------------------------------

def test_a_binding_below_the_float_range_is_warned_about(tmp_path):
    for args in (["x=1e-400"], ["--bindings", _json(tmp_path, '{"x": 1e-400}')]):
        ran = run_main("eval", "x*2", *args)
        assert ran.code == 0 and "1e-400 is below the smallest float" in ran.stderr
    ran = run_main("eval", "x*2", "--bindings", _json(tmp_path, '{"x": 1e400}'))
    assert "1e400 is past the largest float" in ran.stderr
    exact = run_main("eval", "x*2", "--bindings", _json(tmp_path, '{"x": 1e-400}'), "--exact")
    assert exact.code == 0 and "below the smallest float" not in exact.stderr  # exact there


def _json(tmp_path, text):
    path = tmp_path / "bindings.json"
    path.write_text(text)
    return str(path)


def test_wrt_leaves_out_the_warnings_about_gradients_not_asked_for():
    assert math.isnan(gradcalc.evaluate("x^c", x=-3, c=2).gradients["c"])
    result = gradcalc.evaluate("x^c", x=-3, c=2, wrt=["x"], strict=True)
    assert result.gradients == {"x": float(sympy.diff(x_ ** 2, x_).subs(x_, -3))}


# -- 7. underflow is not a domain error -----------------------------------------------------

@pytest.mark.parametrize("source", ["log(sigmoid(x))", "log(exp(x))", "log(exp(x)*3)"])
def test_log_of_an_underflowed_positive_says_underflow_and_the_stable_spelling(source):
    with pytest.raises(DomainError) as raised:
        gradcalc.evaluate(source, x=-800)
    message = str(raised.value)
    assert "underflowed" in message and "softplus(-x)" in message
    ran = run_main("eval", source, "x=-800")
    assert ran.code == 2 and "underflowed" in ran.stderr


def test_a_zero_that_is_really_zero_is_still_a_plain_domain_error():
    with pytest.raises(DomainError) as raised:
        gradcalc.evaluate("log(x-x)", x=1)
    assert "underflowed" not in str(raised.value)


def test_the_stable_spelling_suggested_really_works():
    # log(sigmoid(x)) = -softplus(-x): at -800 the value is -800 and the slope 1 (mpmath)
    truth = mpmath.diff(lambda t: mpmath.log(1 / (1 + mpmath.exp(-t))), -800)
    result = gradcalc.evaluate("-softplus(-x)", x=-800)
    assert result.value == -800 and result.gradients["x"] == pytest.approx(float(truth))


# mpmath's value and gradients at 50 digits: the oracle of which underflows matter.
def _truth(function, point: dict) -> tuple:
    with mpmath.workdps(50):
        names = list(point)
        args = [mpmath.mpf(point[n]) for n in names]
        value = function(*args)
        grads = {n: mpmath.diff(lambda t, k=k: function(*(args[:k] + [t] + args[k + 1:])),
                                args[k]) for k, n in enumerate(names)}
        return value, grads


def _accurate(got: float, truth) -> bool:
    return got == float(truth) or abs(got - float(truth)) <= 2 ** -52 * abs(float(truth))


@pytest.mark.parametrize("source,function,point", [
    ("exp(-800)*1e300*y", lambda y: mpmath.exp(-800) * mpmath.mpf("1e300") * y, {"y": 2}),
    ("y*exp(-800)*1e300 + 1", lambda y: y * mpmath.exp(-800) * mpmath.mpf("1e300") + 1,
     {"y": 2}),
    ("1e-200*x*1e300", lambda x: mpmath.mpf("1e-200") * x * mpmath.mpf("1e300"),
     {"x": 1e-200}),
    ("sigmoid(x)*1e300", lambda x: mpmath.mpf("1e300") / (1 + mpmath.exp(-x)), {"x": -800}),
])
def test_an_underflow_that_changes_the_answer_is_warned_about(source, function, point):
    """Each answer here is wrong in floating point (mpmath says how); a warning says so."""
    result = gradcalc.evaluate(source, **point)
    value, grads = _truth(function, point)
    wrong = [not _accurate(result.value, value)] + [
        not _accurate(result.gradients[n], g) for n, g in grads.items()]
    assert any(wrong)
    assert any("underflowed to 0" in m and "not accurate" in m for _, m in result.warnings)


@pytest.mark.parametrize("source,function,point", [
    ("exp(-800) + y", lambda y: mpmath.exp(-800) + y, {"y": 2}),
    ("exp(-800)*2*y", lambda y: mpmath.exp(-800) * 2 * y, {"y": 2}),
    ("log(exp(a - a) + exp(b - a))", lambda a, b: mpmath.log(1 + mpmath.exp(b - a)),
     {"a": 1000, "b": -1000}),
    ("sigmoid(x) * y", lambda x, y: y / (1 + mpmath.exp(-x)), {"x": -800, "y": 3}),
])
def test_a_harmless_underflow_is_not_warned_about(source, function, point):
    """The same underflows where the answer is right to the last digit: no warning."""
    result = gradcalc.evaluate(source, **point)
    value, grads = _truth(function, point)
    assert _accurate(result.value, value)
    assert all(_accurate(result.gradients[n], g) for n, g in grads.items())
    assert not any("underflowed" in m for _, m in result.warnings)


def test_an_underflow_in_one_element_of_an_array_is_warned_about():
    result = gradcalc.evaluate("sum(exp(x)*1e300*y)", x=[-800.0, 1.0], y=2)
    assert result.gradients["x"][0] == 0  # truth: 2e300·e^-800 ≈ 7.2e-48
    assert any("∂f/∂x by" in m for _, m in result.warnings)
    assert not any("f by" in m.replace("∂f/∂x by", "") for _, m in result.warnings)


def test_the_fix_the_underflow_warning_gives_works():
    """exp(a + log(c)) for exp(a)*c: the answer mpmath gives, with no warning."""
    result = gradcalc.evaluate("exp(-800 + log(1e300))*y", y=2)
    value, grads = _truth(lambda y: mpmath.exp(-800) * mpmath.mpf("1e300") * y, {"y": 2})
    assert result.value == pytest.approx(float(value), rel=1e-13)
    assert result.gradients["y"] == pytest.approx(float(grads["y"]), rel=1e-13)
    assert not result.warnings


# -- 8. --exact keeps rational powers of perfect powers exact --------------------------------

@pytest.mark.parametrize("source,point,expression", [
    ("x^(1/2)", 4, sympy.sqrt(x_)),
    ("x^(2/3)", sympy.Rational(8, 27), x_ ** sympy.Rational(2, 3)),
    ("x^(-3/2)", 4, x_ ** sympy.Rational(-3, 2)),
    ("x^0.5", sympy.Rational(9, 4), sympy.sqrt(x_)),
])
def test_a_rational_power_of_a_perfect_power_stays_exact(source, point, expression):
    result = gradcalc.evaluate(source, x=str(point), exact=True)
    assert result.value == expression.subs(x_, point)
    assert result.gradients["x"] == sympy.diff(expression, x_).subs(x_, point)
    assert not warned(result, "floating point")


def test_a_rational_power_of_a_non_power_falls_back_with_its_warning():
    result = gradcalc.evaluate("x^(1/2)", x=2, exact=True)
    assert result.value == pytest.approx(math.sqrt(2)) and warned(result, "floating point")


# -- 9. empty arrays: refused, in one message, as a literal [] is --------------------------

@pytest.mark.parametrize("text", ['{"v": []}', '{"v": [[]]}'])
def test_an_empty_array_binding_is_one_clear_error(tmp_path, text):
    for source in ("mean(v)", "sum(v)", "max(v)"):
        ran = run_main("eval", source, "--bindings", _json(tmp_path, text), "--json")
        assert ran.code == 2 and "Warning" not in ran.stderr
        document = json.loads(ran.stdout)
        assert "empty" in document["error"]["message"]
    with pytest.raises(BindingError, match="empty"):
        gradcalc.evaluate("sum(v)", v=np.array([]))


def test_the_picture_draws_what_the_backward_pass_sent():
    from gradcalc import picture

    def arrow_into(source, point, head_label):
        result = gradcalc.evaluate(source, **point)
        graph = result.graph
        heads = {f"n{n.id}": graph.label(n) for n in graph.nodes}
        return [e.grad for e in picture.edges(graph, result.run)
                if heads.get(e.head) == head_label and e.grad is not None]
    # the loser of max carries 0; a computed 0 times inf carries nan, as in the run
    assert arrow_into("max(sqrt(x), 1)", {"x": 0}, "max(sqrt(x), 1)") == [0.0]
    assert [math.isnan(g) for g in arrow_into("log(1+exp(x))", {"x": 1000}, "exp(x)")] == [True]
