"""Hostile input: whatever arrives (from a stranger's web form, 200 students' files, a
container run as root), gradcalc ends with a result or one clear error, in bounded time and
memory, never with a traceback or "this is a bug".

One test per kind of fault, with its instance and its kin. Each runs gradcalc as a child
process capped in memory (tests/capped.py) and asserts the exit code, the one-line
message, the JSON error object under --json, and generous bounds on the time and the peak
memory that the child really used (2 shared cores in CI).
"""
import json
import signal
from importlib import resources

import jsonschema
import pytest

from capped import run_capped

SECONDS = 20  # per command: each of these ends in well under a second on a quiet machine
PEAK = 400 << 20  # resident bytes; gradcalc with numpy loaded uses about 60 MB


def _validator(name: str):
    text = resources.files("gradcalc").joinpath("schemas", f"{name}.schema.json").read_text(
        encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


ERROR_SCHEMA = _validator("error")


def within_bounds(ran, seconds: float = SECONDS, peak: int = PEAK) -> None:
    assert ran.seconds < seconds, ran
    assert ran.peak < peak, ran


def refused(ran, *fragments, code: int = 2, kind: str | None = None):
    """One error: exit `code`, a first line `error: ...` holding the fragments, no
    second error, no traceback, no bug report; under --json, the error object."""
    assert ran.code == code, ran
    lines = ran.stderr.splitlines()
    assert lines and lines[0].startswith(("error: ", "gradcalc: ")), ran
    assert sum(line.startswith(("error:", "gradcalc:")) for line in lines) == 1, ran
    assert "Traceback" not in ran.stderr and "this is a bug" not in ran.stderr, ran
    for fragment in fragments:
        assert fragment in lines[0], (fragment, ran)
    if ran.stdout.strip():  # the commands run with --json here
        document = ran.json()
        ERROR_SCHEMA.validate(document)
        if kind is not None:
            assert document["error"]["kind"] == kind
    within_bounds(ran)
    return ran


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- A1: JSON nested deeper than the parser can recurse ----------------------------------
DEEP = "[" * 3000 + "]" * 3000


def test_deep_json_in_bindings_and_answers_is_one_error(tmp_path):
    bindings = write(tmp_path / "b.json", '{"x": %s}' % DEEP)
    answers = write(tmp_path / "a.json", '{"value": %s}' % DEEP)
    refused(run_capped("eval", "x", "--bindings", bindings, "--json"),
            "nests more than 64 levels", "line 1, column", kind="usage")
    refused(run_capped("check", "x", "x=1", "--answers", answers, "--json"),
            "nests more than 64 levels", kind="usage")


def test_deep_json_in_a_batch_row_is_a_bad_row(tmp_path):
    rows = write(tmp_path / "in.jsonl", '{"x": 1}\n{"x": %s}\n{"x": 3}\n' % DEEP)
    refused(run_capped("batch", "2*x", "-i", rows), "line 2", "nests more than 64 levels")
    ran = run_capped("batch", "2*x", "-i", rows, "--on-error", "skip")
    assert ran.code == 0, ran
    assert [json.loads(line)["value"] for line in ran.stdout.splitlines()] == [2.0, 6.0]
    assert "line 2" in ran.stderr and "nests more than 64 levels" in ran.stderr
    within_bounds(ran)
    # brackets inside a string are text, not nesting: this row is fine
    rows = write(tmp_path / "ok.jsonl", '{"x": 2, "note": "%s"}\n' % DEEP)
    ran = run_capped("batch", "2*x", "-i", rows)
    assert ran.code == 0 and json.loads(ran.stdout)["value"] == 4.0, ran


# -- A2: JSON integers too long for a float, or for Python's int parser -------------------
@pytest.mark.parametrize("digits", [401, 5001])
def test_huge_json_integers_are_one_error(tmp_path, digits):
    number = "9" * digits
    bindings = write(tmp_path / "b.json", '{"x": %s}' % number)
    answers = write(tmp_path / "a.json", '{"value": %s}' % number)
    expected = "too large for a float" if digits < 4000 else f"{digits:,} digits"
    refused(run_capped("eval", "x", "--bindings", bindings, "--json"), expected)
    refused(run_capped("check", "x", "x=1", "--answers", answers, "--json"), expected)


@pytest.mark.parametrize("digits", [401, 5001])
def test_huge_json_integers_in_batch_rows(tmp_path, digits):
    number = "9" * digits
    # in a computed column: the row is bad (as any value that is not a finite float)
    rows = write(tmp_path / "in.jsonl", '{"x": 1}\n{"x": %s}\n' % number)
    refused(run_capped("batch", "x", "-i", rows), "line 2")
    # in a column that is only copied through: copied whole (JSON) or refused (too long)
    rows = write(tmp_path / "pass.jsonl", '{"x": 1, "id": %s}\n' % number)
    for fmt in ("jsonl", "csv"):
        ran = run_capped("batch", "x", "-i", rows, "--output-format", fmt)
        if digits < 4000:
            assert ran.code == 0 and number in ran.stdout, ran
            within_bounds(ran)
        else:
            refused(ran, "line 1", f"{digits:,} digits")


# -- A3: max and min of a NaN ------------------------------------------------------------
@pytest.mark.parametrize("program", ["max(exp(x)-exp(x), y)", "max(y, exp(x)-exp(x))",
                                     "min(exp(x)-exp(x), y, 2)"])
@pytest.mark.parametrize("ties", ["split", "first"])
def test_max_and_min_of_nan_are_nan_with_a_warning(program, ties):
    """inf - inf is NaN, and NaN wins max and min (numpy's maximum, IEEE 754-2019's
    maximum): the value is NaN and so is every gradient through it, each with a warning;
    whatever the order of the arguments (Python's max(1, nan) would say 1)."""
    ran = run_capped("eval", program, "x=1000", "y=1", "--json", "--ties", ties)
    assert ran.code == 0, ran
    document = ran.json()
    assert document["value"] == "nan"
    assert document["gradients"] == {"x": "nan", "y": "nan"}
    assert "the gradient for x is nan" in ran.stderr
    assert "the gradient for y is nan" in ran.stderr
    within_bounds(ran)


@pytest.mark.parametrize("command", [["check"], ["graph"], ["eval", "--steps"],
                                     ["eval", "--format", "markdown", "--steps"]])
def test_max_of_nan_in_every_command(command):
    ran = run_capped(*command[:1], "max(exp(x)-exp(x), y)", "x=1000", "y=1", *command[1:])
    assert ran.code == 0, ran
    assert "Traceback" not in ran.stderr and "this is a bug" not in ran.stderr
    within_bounds(ran)


def test_max_without_nan_is_unchanged():
    """The oracle: a winner takes the gradient, a tie splits it (PyTorch's convention)."""
    ran = run_capped("eval", "max(x, y, 1)", "x=3", "y=3", "--json")
    assert ran.json()["gradients"] == {"x": 0.5, "y": 0.5}


# -- A4: --exact's size check must not overflow -------------------------------------------
@pytest.mark.parametrize("program,bindings", [("2^(10^400)", []), ("2^(-10^400)", []),
                                              ("(1/3)^(10^400)", []),
                                              ("x^y", ["x=1e308", "y=1e308"]),
                                              ("x^y", ["x=-2", "y=1e300"])])
def test_exact_powers_past_any_size_are_one_limit_error(program, bindings):
    refused(run_capped("eval", program, *bindings, "--exact", "--json"),
            "the exact result would have more than 10^15 digits", kind="limit")


def test_exact_powers_within_the_limit_are_exact():
    ran = run_capped("eval", "2^3000 - 2*2^2999", "--exact", "--json")
    assert ran.code == 0 and ran.json()["value"] == "0", ran


# -- A5: lone surrogates in JSON ----------------------------------------------------------
def test_a_lone_surrogate_in_bindings_is_one_error(tmp_path):
    for text in ('{"x": "\\ud800"}', '{"\\udfff": 1, "x": 1}', '{"x": 1, "l": ["\\ud800"]}'):
        bindings = write(tmp_path / "b.json", text)
        refused(run_capped("eval", "x", "--bindings", bindings, "--json"),
                "half of a surrogate pair", kind="usage")


def test_a_lone_surrogate_in_a_batch_row_does_not_break_the_output(tmp_path):
    rows = write(tmp_path / "in.jsonl", '{"x": 1, "n": "a"}\n{"x": 2, "n": "\\ud800"}\n')
    for fmt in ("csv", "jsonl"):
        refused(run_capped("batch", "x", "-i", rows, "--output-format", fmt), "line 2",
                "surrogate")
        ran = run_capped("batch", "x", "-i", rows, "--output-format", fmt,
                         "--on-error", "null")
        assert ran.code == 0 and len(ran.stdout.splitlines()) == 2 + (fmt == "csv"), ran
    # a whole pair is one character, and fine
    rows = write(tmp_path / "ok.jsonl", '{"x": 1, "n": "\\ud83d\\ude00"}\n')
    ran = run_capped("batch", "x", "-i", rows)
    assert ran.code == 0 and json.loads(ran.stdout)["n"] == "\U0001f600", ran


# -- A6: the user's environment: a closed or full standard output -------------------------
@pytest.mark.parametrize("args", [["eval", "x", "x=1"], ["eval", "x", "x=1", "--json"],
                                  ["eval", "x+", "x=1", "--json"], ["check", "x", "x=1"],
                                  ["graph", "x", "x=1"], ["functions"]])
@pytest.mark.parametrize("where", ["closed", "full"])
def test_a_closed_or_full_standard_output_is_one_line(args, where):
    if where == "full":
        with open("/dev/full", "wb") as full:
            ran = run_capped(*args, stdout=full)
    else:
        ran = run_capped(*args, stdout="closed")
    assert ran.code == 2, ran
    lines = ran.stderr.splitlines()
    assert lines[-1].startswith("error: cannot write the output: "), ran
    assert ("closed" if where == "closed" else "No space left") in lines[-1]
    assert "Traceback" not in ran.stderr and "Exception ignored" not in ran.stderr, ran
    assert "bug" not in ran.stderr
    within_bounds(ran)


def test_a_closed_standard_output_is_no_error_when_it_is_not_used(tmp_path):
    rows = write(tmp_path / "in.csv", "x\n1\n")
    ran = run_capped("batch", "x", "-i", rows, "-o", str(tmp_path / "out.csv"),
                     stdout="closed")
    assert ran.code == 0, ran
    assert (tmp_path / "out.csv").read_text() == "x,value,grad_x\n1,1.0,1.0\n"


# -- A7: the JSON error object on every failure under --json ------------------------------
def test_out_of_memory_under_json_is_the_error_object():
    program = "+".join(["sin(x)"] * 140_000)
    ran = run_capped("eval", "-", "x=1", "--json", stdin=program.encode(), memory=150 << 20)
    refused(ran, "out of memory", kind="memory")


def test_interrupted_under_json_is_the_error_object():
    program = "+".join(["x"] * 400_000)
    ran = run_capped("eval", "-", "x=1", "--json", stdin=program.encode(),
                     signal_after=(1.0, signal.SIGINT))
    refused(ran, "interrupted", code=130, kind="interrupted")


def test_a_bug_under_json_is_the_error_object(monkeypatch, gradcalc_main):
    import gradcalc.cli

    def broken(*args, **kwargs):
        raise RuntimeError("a deliberate fault")

    monkeypatch.setattr(gradcalc.cli, "run_graph", broken)
    ran = gradcalc_main("eval", "x", "x=1", "--json")
    assert ran.code == 70
    assert ran.stderr.startswith("gradcalc: internal error (RuntimeError: a deliberate fault)")
    document = ran.json()
    ERROR_SCHEMA.validate(document)
    assert document["error"]["kind"] == "internal"


# -- B8: parsing is linear in the length of lists and of statement lists -------------------
def test_a_repetition_is_extended_in_place():
    """The reduction of `_star: _star "," expr` extends its list: the same list object
    comes back, so n elements cost O(n), not the O(n²) of a copy per element."""
    from gradcalc import parse

    shaper = parse._shaper([parse._SPLICE, 0, parse._KEEP], None, False)
    items = ["a", "b"]
    assert shaper([items, ",", "c"]) is items and items == ["a", "b", "c"]


def test_long_lists_and_many_statements_parse_in_bounded_time(tmp_path):
    """200,000 list elements took 63 s and 300,000 statements 223 s when each element
    copied the list; an eighth of each, with room for a loaded machine."""
    elements = write(tmp_path / "list.gc", "v = [" + ",".join(["1"] * 25_000) + "]; sum(v)")
    ran = run_capped("eval", f"@{elements}", "--json")
    assert ran.code == 0 and ran.json()["value"] == 25_000, ran
    within_bounds(ran, seconds=30)
    statements = "\n".join(f"a{i} = x + {i}" for i in range(40_000)) + "\na39999 * 2"
    ran = run_capped("eval", "-", "x=1", "--json", stdin=statements.encode())
    assert ran.code == 0 and ran.json()["value"] == 80_000, ran
    within_bounds(ran, seconds=30)


# -- B9: gates calling gates run each body once per pass ------------------------------------
def nested_gates(levels: int, output: str = "g{n}(y)", combine: str = "{g}({g}(x))") -> str:
    """g1(x) = x*x, and each g_k calls g_(k-1) twice (the report's program composes them,
    g_k(x) = g_(k-1)(g_(k-1)(x)); `combine` may add them instead)."""
    lines = ["g1(x) = x*x"] + [f"g{k}(x) = " + combine.format(g=f"g{k - 1}")
                               for k in range(2, levels + 1)]
    return "; ".join(lines + [output.format(n=levels)])


SUM = "{g}(x) + {g}(x)"  # g_k(x) = 2^(k-1)·x², so ∂g_k/∂x = 2^k·x: finite at any depth


def test_nested_gates_run_each_body_once_per_pass(monkeypatch):
    """g_k calls g_(k-1) twice: a pass computes 2^k - 1 bodies, and the backward pass
    reuses them. Running the body again at every level made it k·2^k (31 s at k = 19).
    The oracle: g_k(y) = 2^(k-1)·y², whose derivative is 2^k·y."""
    import gradcalc
    from gradcalc import run

    calls = []
    real = run.forward
    monkeypatch.setattr(run, "forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    levels = 10
    result = gradcalc.evaluate(nested_gates(levels, combine=SUM), y=1.5)
    assert len(calls) == 2 ** levels - 1  # one per gate call (g_k once, g_1 2^(k-1) times)
    assert result.value == 2 ** 9 * 1.5 ** 2
    assert result.gradients["y"] == 2 ** 10 * 1.5


def test_the_nested_gates_of_the_report_are_bounded():
    """The report's program, 16 levels deep instead of 19: its value overflows (a
    warning), and it ends in seconds; so does the sum form, whose answer is known."""
    ran = run_capped("eval", nested_gates(16), "y=1.0000001", "--json")
    assert ran.code == 0 and "overflowed" in ran.stderr, ran
    within_bounds(ran, seconds=60)
    ran = run_capped("eval", nested_gates(16, combine=SUM), "y=-3", "--json")
    assert ran.code == 0 and ran.json()["gradients"]["y"] == 2 ** 16 * -3, ran
    within_bounds(ran, seconds=60)


def test_a_jacobian_through_gates_counts_their_bodies():
    """A vector output's Jacobian is one backward pass per element, each through every
    gate's whole body: the work is counted with the bodies and refused past the limit."""
    vector = "[" + ",".join(["1"] * 200) + "]"
    refused(run_capped("eval", nested_gates(12, "g{n}(v)"), f"v={vector}", "--json"),
            "Jacobians", "gate bodies counted", kind="limit")
    # and a small one through gates equals the expanded graph's (no gates at all)
    small = nested_gates(3, "g{n}(v)", combine=SUM)  # 4·v², elementwise
    collapsed = run_capped("eval", small, "v=[1.5, -2]", "--json").json()
    expanded = run_capped("eval", small, "v=[1.5, -2]", "--json", "--expand").json()
    assert collapsed["gradients"] == expanded["gradients"]
    assert expanded["gradients"]["v"] == [[8 * 1.5, 0], [0, 8 * -2]]


def test_check_counts_its_passes_over_the_graph():
    """check runs the graph 4 times per input (x ± h, x ± 2h): a program near the node
    limit with many inputs would take hours, and is refused at once."""
    program = nested_gates(15, "+".join(f"g{{n}}(y{i})" for i in range(20)))
    refused(run_capped("check", program, *[f"y{i}=1" for i in range(20)], "--json"),
            "checking 20 inputs would compute", kind="limit")
    ran = run_capped("check", nested_gates(4, "g{n}(y)"), "y=0.9", "--json")
    assert ran.code == 0 and ran.json()["passed"] is True, ran


# -- B11: the element limit, from the shapes, before anything is allocated ------------------
def test_an_outer_product_past_the_element_limit_is_refused_before_it_is_computed():
    vector = "[" + ",".join(["1.5"] * 5000) + "]"  # 25,000,000 numbers in the product
    ran = refused(run_capped("eval", "sum(transpose([v]) @ [v])", f"v={vector}", "--json"),
                  "more than 10,000,000 numbers", "transpose([v]) @ [v]", kind="limit")
    assert "--max-elements" in ran.json()["error"]["hint"]
    within_bounds(ran, peak=200 << 20)  # refused before the 200 MB product exists


def test_many_operations_on_a_big_matrix_count_every_value(tmp_path):
    """A program of a few bytes over a 1,000,000-number matrix: each operation is a
    new matrix, and the run is refused where their total passes the limit."""
    matrix = "[" + ",".join(["[" + ",".join(["0.5"] * 1000) + "]"] * 1000) + "]"
    bindings = write(tmp_path / "m.json", '{"M": %s}' % matrix)
    program = "sum(exp(M) * M + sin(M) * cos(M) - M / 2 + tanh(M) * M)"
    refused(run_capped("eval", program, "--bindings", bindings, "--json"),
            "more than 10,000,000 numbers", kind="limit")
    ran = run_capped("eval", program, "--bindings", bindings, "--max-elements", "20000000")
    assert ran.code == 0, ran
    within_bounds(ran, seconds=60, peak=1200 << 20)


def test_every_array_op_knows_its_output_shape():
    """The oracle is numpy: each array op's shape function, on its sample's shapes, says
    the shape its forward really gives; an elementwise op broadcasts."""
    import numpy as np

    from gradcalc import elements, ops
    from gradcalc.arrays import ArrayArith

    rng = np.random.default_rng(0)
    xp = ArrayArith()
    for op in ops.OPS:
        if op.sample is None and op.vjp is None:
            args = (rng.normal(size=(2, 3)), rng.normal(size=3))[:op.arity or 2]
        elif op.sample is None:
            continue
        else:
            args = op.sample(rng)
        if op.domain is not None and op.domain(xp, *args) is not None:
            continue
        expected = np.shape(op.forward(xp, *args))
        assert op.vjp is None or op.shape is not None, op.name
        assert elements._op_shape(op, [np.shape(a) for a in args]) == expected, op.name
