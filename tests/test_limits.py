"""Resource limits (README, "Limits and guarantees"): each is refused at once past its
value, with a message that names the limit and the option that raises it; just below it,
the same input works. Inputs that used to run for minutes must now end within seconds."""
import math
import time

import pytest

import gradcalc
from gradcalc import LimitError, Limits

FAST = 5  # seconds: "at once", with room for a loaded machine


def doubling_gates(levels: int) -> str:
    """g_k calls g_(k-1) twice: `levels` lines whose expanded size is 2^levels nodes."""
    lines = ["g0(t) = t + t"] + [f"g{k}(t) = g{k - 1}(g{k - 1}(t))" for k in range(1, levels)]
    return "\n".join(lines + [f"g{levels - 1}(x)"])


def nested_gates(levels: int) -> str:
    lines = ["g1(t) = t + 1"] + [f"g{k}(t) = g{k - 1}(t) * 2" for k in range(2, levels + 1)]
    return "\n".join(lines + [f"g{levels}(x)"])


def timed(gradcalc_cli, *args):
    start = time.monotonic()
    ran = gradcalc_cli(*args)
    assert time.monotonic() - start < FAST, args[:2]
    return ran


def assert_limit_error(ran, option):
    assert ran.code == 2, ran.stdout
    assert ran.stderr.startswith("error: ") and ran.stderr.count("error:") == 1
    assert option in ran.stderr, ran.stderr  # the option that raises the limit


# -- source size ------------------------------------------------------------------------
def test_source_limit_counts_characters_and_names_its_option(gradcalc_cli):
    source = "x+" * 50 + "x"  # 101 characters
    assert_limit_error(gradcalc_cli("eval", source, "x=1", "--max-source", "100"),
                       "--max-source")
    ran = gradcalc_cli("eval", source, "x=1", "--max-source", "101", "--json")
    assert ran.code == 0 and ran.json()["value"] == 51


def test_source_limit_applies_to_stdin_and_files_without_reading_them_whole(
        gradcalc_cli, tmp_path):
    ran = gradcalc_cli("eval", "-", "x=1", "--max-source", "10", input="x+" * 10_000 + "x")
    assert_limit_error(ran, "--max-source")
    path = tmp_path / "long.gc"
    path.write_text("x+" * 10_000 + "x")
    assert_limit_error(gradcalc_cli("eval", f"@{path}", "x=1", "--max-source", "10"),
                       "--max-source")
    # an endless file is read only as far as the limit
    assert_limit_error(timed(gradcalc_cli, "eval", "@/dev/zero", "x=1"), "--max-source")


def test_source_limit_applies_to_binding_text_and_the_api():
    with pytest.raises(LimitError, match="the value of y is 21 characters"):
        gradcalc.evaluate("x*y", x=1, y="1+" * 10 + "1", limits=Limits(source=20))
    with pytest.raises(LimitError, match="--max-source"):
        gradcalc.compile("x+" * 20 + "x", limits=Limits(source=20))


# -- nesting depth ----------------------------------------------------------------------
def test_depth_limit(gradcalc_cli):
    deep = "-(" * 30 + "x" + ")" * 30  # 31 levels: 30 negations and x
    assert_limit_error(gradcalc_cli("eval", deep, "x=1", "--max-depth", "30"), "--max-depth")
    assert gradcalc_cli("eval", deep, "x=1", "--max-depth", "31", "--json").json()["value"] == 1


def test_a_long_sum_is_a_chain_not_a_nesting(gradcalc_cli):
    chain = "+".join(["x"] * 1000) + "*y-x/y"
    ran = gradcalc_cli("eval", chain, "x=1", "y=2", "--max-depth", "3", "--json")
    assert ran.code == 0, ran.stderr
    right_nested = "x+(" * 10 + "x" + ")" * 10
    assert gradcalc_cli("eval", right_nested, "x=1", "--max-depth", "5").code == 2


def test_default_depth_takes_the_scale_tests_and_refuses_beyond():
    assert gradcalc.evaluate("-" * 5001 + "x", x=2).value == -2
    with pytest.raises(LimitError, match="nested more than 100,000 deep"):
        gradcalc.evaluate("-" * 100_001 + "x", x=2)


# -- node count -------------------------------------------------------------------------
def test_node_limit(gradcalc_cli):
    program = "x*y + x*y"  # 2 inputs, 2 products, 1 sum
    assert_limit_error(gradcalc_cli("eval", program, "x=1", "y=2", "--max-nodes", "4"),
                       "--max-nodes")
    assert gradcalc_cli("eval", program, "x=1", "y=2", "--max-nodes", "5").code == 0


@pytest.mark.parametrize("expand", [False, True], ids=["collapsed", "expanded"])
def test_gates_are_counted_expanded_so_doubling_gates_end_at_once(gradcalc_cli, expand):
    # 40 lines whose expansion has 2^40 nodes: this used to run until killed.
    args = ["eval", doubling_gates(40), "x=1"] + (["--expand"] if expand else [])
    ran = timed(gradcalc_cli, *args)
    assert_limit_error(ran, "--max-nodes")
    assert "with its gates expanded" in ran.stderr


@pytest.mark.parametrize("expand", [False, True], ids=["collapsed", "expanded"])
def test_small_doubling_gates_give_the_closed_form(expand):
    # g0(t) = 2t and g_k = g_(k-1)∘g_(k-1): g_k(t) = 2^(2^k)·t
    r = gradcalc.evaluate(doubling_gates(4), x=3, expand=expand)
    assert r.value == 3 * 2 ** 2 ** 3 and r.gradients["x"] == 2 ** 2 ** 3


def test_gate_nesting_limit(gradcalc_cli):
    ran = gradcalc_cli("eval", nested_gates(101), "x=1", "--json")
    assert ran.code == 2 and ran.json()["error"]["kind"] == "limit"
    assert "101 deep" in ran.json()["error"]["message"]
    assert "--expand" in ran.json()["error"]["hint"]
    # 100 levels work, and --expand has no gate nesting at all: g_k(x) = 2^(k-1)·(x+1)
    assert gradcalc.evaluate(nested_gates(100), x=1).value == 2.0 ** 99 * 2
    assert gradcalc.evaluate(nested_gates(150), x=1, expand=True).value == 2.0 ** 149 * 2


# -- exact numbers ------------------------------------------------------------------------
def test_exact_power_tower_ends_at_once(gradcalc_cli):
    ran = timed(gradcalc_cli, "eval", "10^10^10^10", "--exact")
    assert_limit_error(ran, "--max-digits")
    assert "drop --exact" in ran.stderr


def test_exact_repeated_squaring_ends_at_once(gradcalc_cli):
    # each line doubles the digits: 40 of them would need 2^40 digits
    program = "; ".join(["a0 = x"] + [f"a{k} = a{k - 1} * a{k - 1}" for k in range(1, 41)])
    ran = timed(gradcalc_cli, "eval", program, "x=3", "--exact")
    assert_limit_error(ran, "--max-digits")


def test_exact_huge_literal_ends_at_once(gradcalc_cli):
    ran = timed(gradcalc_cli, "eval", "1e999999*x", "x=2", "--exact")
    assert_limit_error(ran, "--max-digits")
    assert "1e999999" in ran.stderr
    ran = timed(gradcalc_cli, "eval", "x", "x=1e99999999999999999999", "--exact")
    assert_limit_error(ran, "--max-digits")


def test_max_digits_raised_prints_numbers_past_pythons_own_limit(gradcalc_cli):
    # 2^20000 has 6,021 digits: over the default 4,000 and over Python's 4,300 for int→str
    assert gradcalc_cli("eval", "2^x", "x=20000", "--exact").code == 2
    ran = gradcalc_cli("eval", "2^x", "x=20000", "--exact", "--max-digits", "7000", "--json")
    assert ran.code == 0, ran.stderr
    assert ran.json()["value"] == str(2 ** 20000)


def test_exact_just_below_the_limit():
    # 10^100 is 101 digits long, and its gradient 100·10^99 = 10^101 is 102
    r = gradcalc.evaluate("x^100", x=10, exact=True, limits=Limits(digits=102))
    assert r.value == 10 ** 100 and r.gradients["x"] == 10 ** 101
    with pytest.raises(LimitError, match="in a gradient"):
        gradcalc.evaluate("x^100", x=10, exact=True, limits=Limits(digits=101))
    with pytest.raises(LimitError, match="in x\\^102"):
        gradcalc.evaluate("x^102", x=10, exact=True, limits=Limits(digits=102))


def test_exact_float_fallbacks_of_huge_rationals():
    """exp, log, sin... of a rational past the float range: no OverflowError."""
    big = "10^400"
    r = gradcalc.evaluate("log(x)", x=big, exact=True)
    assert math.isclose(r.value, 400 * math.log(10), rel_tol=1e-15)
    assert gradcalc.evaluate("exp(x)", x=big, exact=True).value == math.inf
    assert math.isnan(gradcalc.evaluate("sin(x)", x=big, exact=True).value)
    assert gradcalc.evaluate("sigmoid(x)", x=big, exact=True).value == 1.0
    assert gradcalc.evaluate("tanh(-x)", x=big, exact=True).value == -1.0


# -- floats: inf and a warning, at once -----------------------------------------------------
def test_float_power_tower_is_inf_with_a_warning(gradcalc_cli):
    ran = timed(gradcalc_cli, "eval", "10^10^10^10", "--json")
    doc = ran.json()
    assert ran.code == 0 and doc["value"] == "inf"
    assert any("overflowed to inf" in w["message"] for w in doc["warnings"])


def test_float_literal_past_the_range_warns(gradcalc_cli):
    doc = timed(gradcalc_cli, "eval", "1e999999*x", "x=2", "--json").json()
    assert doc["value"] == "inf"
    literal = [w for w in doc["warnings"] if "1e999999" in w["message"]]
    assert literal and literal[0]["node"] is not None
    assert "taken as inf" in literal[0]["message"]
    doc = gradcalc_cli("eval", "g(t) = t*1e999; x*1e-400 + g(x)", "x=2", "--json").json()
    messages = [w["message"] for w in doc["warnings"]]
    assert any("1e-400" in m and "taken as 0" in m for m in messages)
    assert any("1e999" in m and "taken as inf" in m for m in messages)


def test_sin_of_inf_is_nan_not_a_shape_error(gradcalc_cli):
    doc = gradcalc_cli("eval", "sin(x) + cos(x) + tan(x)", "x=1e999", "--json").json()
    assert doc["value"] == "nan"
    assert any("not finite" in w["message"] for w in doc["warnings"])


# -- vectors and matrices ---------------------------------------------------------------------
def test_dimensions_are_limited_to_32(gradcalc_cli):
    def nested(depth):
        return "[" * depth + "x" + "]" * depth
    assert gradcalc_cli("eval", f"sum({nested(32)})", "x=1").code == 0
    ran = gradcalc_cli("eval", f"sum({nested(33)})", "x=1")
    assert ran.code == 2 and "at most 32 dimensions" in ran.stderr
    ran = gradcalc_cli("eval", "x", "x=" + "[" * 40 + "1" + "]" * 40)
    assert ran.code == 2 and "32" in ran.stderr and "Traceback" not in ran.stderr


def test_jacobian_size_is_limited(gradcalc_cli):
    v = "[" + ",".join(["1"] * 4000) + "]"  # a 4000 × 4000 Jacobian: 16 million numbers
    ran = timed(gradcalc_cli, "eval", "v*2", f"v={v}")
    assert ran.code == 2 and "--upstream" in ran.stderr and "10,000,000" in ran.stderr
    upstream = "[" + ",".join(["1"] * 4000) + "]"
    ran = gradcalc_cli("eval", "v*2", f"v={v}", "--upstream", upstream, "--json")
    assert ran.code == 0 and ran.json()["gradients"]["v"][:3] == [2.0, 2.0, 2.0]


def test_limits_are_keyword_arguments_of_the_api():
    with pytest.raises(LimitError) as caught:
        gradcalc.evaluate("x*y + x*y", x=1, y=2, limits=Limits(nodes=4))
    assert "limits=gradcalc.Limits(nodes=N)" in caught.value.hint
    assert gradcalc.evaluate("x*y + x*y", x=1, y=2, limits=Limits(nodes=5)).value == 4
