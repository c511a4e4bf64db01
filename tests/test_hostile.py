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
