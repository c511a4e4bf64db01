"""gradcalc batch and gradcalc.batch against the scalar oracle, gradcalc.evaluate at each
point: random expressions with kinks, ties and domain edges at random points; CSV and
JSON Lines round trips; the bad-row catalogue; streaming in bounded memory."""
import csv
import io
import json
import math
import os
import pty
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcalc
from click.testing import CliRunner
from conftest import read_terminal, strict_json
from gradcalc.cli import cli

EXPR = "(x+y)*max(z,w) + sigmoid(x*w)"

# -- random expressions, points on kinks and ties, and the scalar oracle ----------------

NAMES = ("x", "y", "z")
leaves = st.one_of(st.sampled_from(NAMES + ("b",)), st.sampled_from(["1", "2", "0.5", "pi"]))


def _combine(children):
    unary = children.flatmap(lambda a: st.sampled_from([
        f"-({a})", f"sin({a})", f"tanh({a})", f"sigmoid({a})", f"exp(tanh({a}))",
        f"relu({a})", f"abs({a})", f"softplus({a})", f"({a})^2", f"({a})^3",
        f"sqrt({a})", f"log({a})",  # outside their domain at some points
    ]))
    binary = st.tuples(children, children).flatmap(lambda ab: st.sampled_from([
        f"({ab[0]}) + ({ab[1]})", f"({ab[0]}) - ({ab[1]})", f"({ab[0]}) * ({ab[1]})",
        f"({ab[0]}) / ({ab[1]})", f"max({ab[0]}, {ab[1]})", f"min({ab[0]}, {ab[1]})",
        f"max({ab[0]}, {ab[1]}, 0)", f"pow({ab[0]}, 0.5)",
    ]))
    return st.one_of(unary, binary)


expressions = st.recursive(leaves, _combine, max_leaves=7)
# Few distinct values, so that rows land on ties (max(x, y) at x = y) and kinks (relu(0)).
# No -0.0: numpy and Python's math disagree on the sign of some zeros (np.power(-0.0, 0.5)
# is -0.0, math.pow's is 0.0), which flips an infinite slope there.
values = st.one_of(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),
                   st.floats(-3, 3).map(lambda v: round(v, 2) + 0.0))
tables = st.integers(1, 12).flatmap(lambda n: st.fixed_dictionaries(
    {name: st.lists(values, min_size=n, max_size=n) for name in NAMES}))


def scalar_answers(text, table, b, ties="split"):
    """gradcalc.evaluate at each row: (value, gradients) or the DomainError."""
    answers = []
    for row in range(len(table["x"])):
        point = {name: table[name][row] for name in NAMES}
        try:
            result = gradcalc.evaluate(text, b=b, ties=ties, **point)
        except gradcalc.DomainError as exc:
            answers.append(exc)
        else:
            answers.append((result.value, result.gradients))
    return answers


def same(a, b):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_rows_match(answers, value_of, gradient_of):
    """Each row's batch answer is the scalar one; value_of(row) is None for a row left
    without numbers."""
    for row, answer in enumerate(answers):
        if isinstance(answer, gradcalc.DomainError):
            assert value_of(row) is None, (row, answer)
            continue
        value, gradients = answer
        assert same(value_of(row), value), (row, value_of(row), value)
        for name, grad in gradients.items():
            assert same(gradient_of(row, name), grad), (row, name, gradient_of(row, name), grad)


@settings(max_examples=300)
@given(expressions, tables, values, st.sampled_from(["split", "first"]))
def test_api_equals_scalar_eval_at_every_point(text, table, b, ties):
    answers = scalar_answers(text, table, b, ties)
    try:
        result = gradcalc.batch(text, {n: np.array(v) for n, v in table.items()}, b=b,
                                ties=ties, on_error="null")
    except gradcalc.DomainError as exc:  # a part without columns fails: at every point
        assert all(isinstance(a, gradcalc.DomainError) for a in answers)
        assert exc.message in {a.message for a in answers}
        return
    bad = [row for row, a in enumerate(answers) if isinstance(a, gradcalc.DomainError)]
    assert result.bad_rows.tolist() == bad
    assert_rows_match(answers, lambda row: None if row in bad else result["value"][row],
                      lambda row, name: result[f"grad_{name}"][row])
    if bad:  # the default stops at the first bad row with eval's own message there
        with pytest.raises(gradcalc.DomainError) as stopped:
            gradcalc.batch(text, table, b=b, ties=ties)
        first = answers[bad[0]]
        assert stopped.value.message.startswith(f"row {bad[0]}")
        assert stopped.value.message.endswith(first.message)
        assert stopped.value.span == first.span


@settings(max_examples=40)
@given(expressions, tables, values, st.sampled_from(["csv", "jsonl"]))
def test_cli_equals_scalar_eval_at_every_point(text, table, b, fmt):
    answers = scalar_answers(text, table, b)
    rows = [dict(zip(NAMES, point)) for point in zip(*(table[n] for n in NAMES))]
    # In parentheses: Click would read the letters of a leading "-" as short options.
    ran = CliRunner().invoke(cli, ["batch", f"({text})", f"b={b!r}", "--on-error", "null",
                                   "--input-format", fmt], input=write_points(rows, fmt))
    if ran.exit_code == 2:  # a part without columns fails: at every point
        assert all(isinstance(a, gradcalc.DomainError) for a in answers), ran.stderr
        return
    assert ran.exit_code == 0, ran.stderr
    out = read_points(ran.stdout, fmt)
    assert len(out) == len(rows)
    number = (lambda cell: None if cell == "" else float(cell)) if fmt == "csv" else \
        (lambda cell: None if cell is None else float(cell))
    assert_rows_match(answers, lambda row: number(out[row]["value"]),
                      lambda row, name: number(out[row][f"grad_{name}"]))


def write_points(rows, fmt):
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def read_points(text, fmt):
    if fmt == "jsonl":
        return [strict_json(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text)))


def test_the_lecture_circuit_at_several_points(gradcalc_cli):
    # Published numbers: at (-2, 5, -4, 1) f = 3, ∂f/∂x = 1, ∂f/∂z = 0, ∂f/∂w = 3.
    ran = gradcalc_cli("batch", "(x+y)*max(z,w)", input="x,y,z,w\n-2,5,-4,1\n-2,5,2,2\n")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "x,y,z,w,value,grad_x,grad_y,grad_z,grad_w",
        "-2,5,-4,1,3.0,1.0,1.0,0.0,3.0",
        "-2,5,2,2,6.0,2.0,2.0,1.5,1.5",  # a tie: split evenly
    ]
    assert "tie" in ran.stderr and "in 1 row (first: line 3)" in ran.stderr


def test_gradients_of_shared_bindings_are_per_point_not_summed():
    result = gradcalc.batch("b*x + c", {"x": [1.0, 2.0, 3.0]}, b=2, c="pi/4")
    assert result["grad_b"].tolist() == [1.0, 2.0, 3.0]
    assert result["grad_c"].tolist() == [1.0, 1.0, 1.0]
    assert result["value"] == pytest.approx([2 + math.pi / 4, 4 + math.pi / 4, 6 + math.pi / 4])


@pytest.mark.parametrize("text", ["sqrt(max(x, y))", "sqrt(min(x, y))", "sqrt(-max(-y, -x))"])
def test_ties_of_signed_zeros_pick_the_first_argument_as_eval_does(text):
    # max(0.0, -0.0) is 0.0 in Python and -0.0 in numpy; sqrt's slope there is ±inf.
    points = {"x": [0.0, -0.0], "y": [-0.0, 0.0]}
    result = gradcalc.batch(text, points)
    for row in range(2):
        expected = gradcalc.evaluate(text, x=points["x"][row], y=points["y"][row])
        assert result["grad_x"][row] == expected.gradients["x"]
        assert result["grad_y"][row] == expected.gradients["y"]


# -- CSV and JSON Lines ---------------------------------------------------------------

def test_csv_round_trip_keeps_other_columns_as_they_were(gradcalc_cli, tmp_path):
    source = tmp_path / "points.csv"
    source.write_text('name,x,note,y\nAda,1.5,"a, b",-2\n"Zoë ""Z""",0,,3e-1\n',
                      encoding="utf-8")
    ran = gradcalc_cli("batch", "x*y + exp(x)", "-i", str(source), "-o",
                       str(tmp_path / "out.csv"))
    assert ran.code == 0 and ran.stdout == "" and ran.stderr == ""
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "name,x,note,y,value,grad_x,grad_y"
    assert lines[1].startswith('Ada,1.5,"a, b",-2,')
    assert lines[2].startswith('"Zoë ""Z""",0,,3e-1,')
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    for row in rows:
        x, y = float(row["x"]), float(row["y"])
        expected = gradcalc.evaluate("x*y + exp(x)", x=x, y=y)
        assert float(row["value"]) == expected.value
        assert float(row["grad_x"]) == expected.gradients["x"]
        assert float(row["grad_y"]) == expected.gradients["y"]
    assert [r["name"] for r in rows] == ["Ada", 'Zoë "Z"']


def test_jsonl_round_trip_keeps_other_keys(gradcalc_cli, tmp_path):
    source = tmp_path / "points.jsonl"
    source.write_text('{"id": [1, "a"], "x": 2, "y": -1}\n\n{"x": 0.5, "y": 4, "ok": true}\n')
    ran = gradcalc_cli("batch", "x^y", "-i", str(source), "-o", str(tmp_path / "out.jsonl"))
    assert ran.code == 0, ran.stderr
    out = [strict_json(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0]["id"] == [1, "a"] and out[1]["ok"] is True
    assert list(out[0]) == ["id", "x", "y", "value", "grad_x", "grad_y"]
    for row in out:
        expected = gradcalc.evaluate("x^y", x=row["x"], y=row["y"])
        assert row["value"] == expected.value
        assert row["grad_x"] == expected.gradients["x"]
        assert row["grad_y"] == expected.gradients["y"]


def test_csv_to_jsonl_and_back(gradcalc_cli, tmp_path):
    (tmp_path / "p.csv").write_text("x,tag\n2,007\n-1,b\n")
    ran = gradcalc_cli("batch", "x^2", "-i", str(tmp_path / "p.csv"), "-o",
                       str(tmp_path / "p.jsonl"))
    assert ran.code == 0, ran.stderr
    rows = [strict_json(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    # Input columns are numbers; other columns stay text (CSV has no types: "007").
    assert rows == [{"x": 2.0, "tag": "007", "value": 4.0, "grad_x": 4.0},
                    {"x": -1.0, "tag": "b", "value": 1.0, "grad_x": -2.0}]
    ran = gradcalc_cli("batch", "x^3", "-i", str(tmp_path / "p.jsonl"), "--keep", "inputs",
                       "--output-format", "csv")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines() == ["x,value,grad_x", "2.0,8.0,12.0", "-1.0,-1.0,3.0"]


def test_jsonl_to_csv_header_comes_from_the_first_object(gradcalc_cli):
    ran = gradcalc_cli("batch", "x+1", "--output-format", "csv",
                       input='{"x": 1, "s": "a,b"}\n{"s": null, "x": 2, "extra": 1}\n')
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines() == ["x,s,value,grad_x", '1,"a,b",2.0,1.0', "2,,3.0,1.0"]


def test_non_finite_answers(gradcalc_cli):
    ran = gradcalc_cli("batch", "exp(x)", "--output-format", "jsonl", input="x\n1000\n0\n")
    assert ran.code == 0
    rows = [strict_json(line) for line in ran.stdout.splitlines()]  # strict: no bare inf
    assert rows[0]["value"] == "inf" and rows[1]["value"] == 1.0
    assert "exp overflowed to inf" in ran.stderr and "in 1 row (first: line 2)" in ran.stderr
    ran = gradcalc_cli("batch", "exp(x)", input="x\n1000\n")
    assert ran.stdout.splitlines()[1] == "1000,inf,inf"


def test_keep_wrt_and_shared_bindings(gradcalc_cli, tmp_path):
    bindings = tmp_path / "b.json"
    bindings.write_text('{"b": 3, "c": 1}')
    points = "x,y,w\n1,2,9\n"
    ran = gradcalc_cli("batch", "x*y*b + c", "--bindings", str(bindings), "c=10",
                       "--wrt", "y,b", "--keep", "none", input=points)
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines() == ["value,grad_y,grad_b", "16.0,3.0,2.0"]
    ran = gradcalc_cli("batch", "x*y", "y=5", input=points)
    assert ran.stdout.splitlines()[1] == "1,2,9,5.0,5.0,1.0"  # the binding wins over column y
    assert "y is bound for all rows; the column y of <stdin> is not used" in ran.stderr
    ran = gradcalc_cli("batch", "x", "q=1", input=points)
    assert "the binding q=... is not used" in ran.stderr


@pytest.mark.parametrize("args,points,message", [
    (["x*q"], "x,y\n1,2\n", "no value for q: not a column of <stdin> and not bound"),
    (["x", "--wrt", "y"], "x,y\n1,2\n", "--wrt names y, which is not an input"),
    (["x"], "x,value\n1,2\n", "already has a column value"),
    (["value*2", "--keep", "inputs"], "value\n1\n", "already has a column value"),
    (["sum(x)"], "x\n1\n", "vectors or matrices"),
    (["x*v", "v=[1,2]"], "x\n1\n", "vectors or matrices"),
    (["x"], "", "is empty: a CSV input starts with a header row"),
    (["x"], "x,x\n1,2\n", "the column x appears twice"),
    (["x", "--input-format", "jsonl"], "[1]\n", "line 1: the line is not a JSON object"),
    (["-"], "x\n1\n", "cannot both come from standard input"),
])
def test_input_errors(gradcalc_cli, args, points, message):
    ran = gradcalc_cli("batch", *args, input=points)
    assert ran.code == 2 and message in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr and ran.stdout == ""


def test_file_errors(gradcalc_cli, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"x\n1\n\xe9\n")
    for args, message in [
        (["-i", str(tmp_path / "none.csv")], "cannot read"),
        (["-i", str(tmp_path)], "is a directory, not a file"),
        (["-i", str(latin)], "latin.csv is not UTF-8 text"),
        (["-o", str(tmp_path / "no" / "out.csv")], "cannot write"),
        (["-o", str(tmp_path)], "is a directory"),
    ]:
        ran = gradcalc_cli("batch", "x", *args, input="x\n1\n")
        assert ran.code == 2 and message in ran.stderr, (args, ran.stderr)
        assert "Traceback" not in ran.stderr


def test_missing_column_hint_lists_the_columns(gradcalc_cli):
    ran = gradcalc_cli("batch", "x*q + r", input="x,y\n1,2\n")
    assert "no value for q, r" in ran.stderr
    assert "the columns are x, y; bind the others for all rows, e.g. q=1" in ran.stderr


def test_feeding_the_output_back_in(gradcalc_cli):
    first = gradcalc_cli("batch", "x*y", input="x,y\n3,4\n")
    again = gradcalc_cli("batch", "x+y", "--keep", "inputs", input=first.stdout)
    # --keep inputs copies the cells as they were written: 3 stays 3
    assert again.stdout.splitlines() == ["x,y,value,grad_x,grad_y", "3,4,7.0,1.0,1.0"]


def test_standard_input_and_output_with_format_sniffing(gradcalc_cli):
    ran = gradcalc_cli("batch", "2*x", "-i", "-", "-o", "-", input='\n{"x": 1}\n')
    assert ran.stdout == '{"x": 1, "value": 2.0, "grad_x": 2.0}\n'


def test_quick_and_careful_readers_agree_on_every_spelling(gradcalc_cli):
    spellings = ["1.", ".5", "+1", "-0", "1E5", "1e-400", " 2 ", "\t3", "0.1", "5e-324",
                 "123456789012345678901234567890", "2.5000"]
    plain = "x\n" + "\n".join(spellings) + "\n"
    quoted = "x,t\n" + "\n".join(f'{s},"q"' for s in spellings) + "\n"  # read row by row
    for text in (plain, quoted):
        ran = gradcalc_cli("batch", "x*1", "--keep", "none", input=text)
        assert ran.code == 0, ran.stderr
        got = [float(line.split(",")[0]) for line in ran.stdout.splitlines()[1:]]
        assert got == [float(s) for s in spellings]


def test_output_file_is_replaced_only_on_success(gradcalc_cli, tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    ran = gradcalc_cli("batch", "log(x)", "-i", "-", "-o", str(target), input="x\n1\n-1\n")
    assert ran.code == 2
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary left
    ran = gradcalc_cli("batch", "log(x)", "-o", str(target), input="x\n1\n")
    assert ran.code == 0 and target.read_text() == "x,value,grad_x\n1,0.0,1.0\n"


# -- bad rows -------------------------------------------------------------------------

CATALOGUE = [
    # (format, points, expression, the line reported, the column part, the message part)
    ("csv", "x,y\n1,2\n3,abc\n", "x*y", 3, "column y", "'abc' is not a number"),
    ("csv", "x,y\n1,2\n3,\n", "x*y", 3, "column y", "the value is missing"),
    ("csv", "x,y\n1,2\n3\n", "x*y", 3, "", "the row has 1 cell but the header has 2"),
    ("csv", 'x,y\n1,2\n"3,4\n', "x*y", 3, "", "the row is not valid CSV"),
    ("csv", "x,y\n1,2\n3,nan\n", "x*y", 3, "column y", "'nan' is not a number"),
    ("csv", "x,y\n1,2\n3,1e999\n", "x*y", 3, "column y", "too large for a float"),
    # log of a negative on the third row, which is line 4 (the header is line 1)
    ("csv", "x,y\n1,2\n2,3\n5,-1\n", "x + log(y)", 4, "column y",
     "log is defined only for positive numbers: in log(y), y = -1"),
    ("csv", "x,y\n1,2\n\n\n2,3\n5,-1\n", "x + log(y)", 6, "column y", "log is defined"),
    ("csv", "x,y\n4,2\n3,3\n", "1/(x-y)", 3, "columns x, y", "division by zero"),
    ("csv", "x,y\n4,2\n-4,2\n", "sqrt(x)*y", 3, "column x", "sqrt is defined only"),
    ("jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": "abc"}\n', "x*y", 2, "column y",
     '"abc" is a string, not a number'),
    ("jsonl", '{"x": 1, "y": 2}\n{"x": 1}\n', "x*y", 2, "column y", "the key is missing"),
    ("jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": null}\n', "x*y", 2, "column y", "null"),
    ("jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": true}\n', "x*y", 2, "column y", "a boolean"),
    ("jsonl", '{"x": 1, "y": 2}\n[1, 2]\n', "x*y", 2, "", "not a JSON object"),
    ("jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": 2\n', "x*y", 2, "", "not valid JSON"),
    ("jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": 2, "value": 0}\n', "x*y", 2, "",
     "already has the key 'value'"),
    ("jsonl", '{"x": 1, "y": 2}\n\n{"x": -1, "y": 2}\n', "log(x)*y", 3, "column x",
     "log is defined"),
]


@pytest.mark.parametrize("fmt,points,expr,line,column,message", CATALOGUE)
@pytest.mark.parametrize("chunk", ["1", "65536"])
def test_bad_row_catalogue(gradcalc_cli, tmp_path, fmt, points, expr, line, column, message,
                           chunk):
    source = tmp_path / f"points.{fmt}"
    source.write_text(points)
    target = tmp_path / "out.csv"
    ran = gradcalc_cli("batch", expr, "-i", str(source), "-o", str(target),
                       "--chunk-size", chunk)
    assert ran.code == 2, ran.stderr
    where = f"{source}, line {line}" + (f", {column}" if column else "") + ": "
    assert ran.stderr.startswith(f"error: {where}"), ran.stderr
    assert message in ran.stderr and "Traceback" not in ran.stderr
    assert not target.exists()


def test_domain_error_shows_the_caret_and_the_hint(gradcalc_cli):
    ran = gradcalc_cli("batch", "x + log(y - 3)", input="x,y\n1,4\n1,1\n")
    assert ran.stderr.splitlines() == [
        "error: <stdin>, line 3, column y: log is defined only for positive numbers: "
        "in log(y - 3), y - 3 = -2",
        "  | x + log(y - 3)",
        "  |         ^^^^^",
        "hint: log needs an argument > 0; check the bindings, or use log(abs(...))",
    ]


def test_a_constant_outside_the_domain_is_not_a_row_problem(gradcalc_cli):
    ran = gradcalc_cli("batch", "x + log(b)", "b=-1", input="x\n1\n2\n")
    assert ran.code == 2
    assert ran.stderr.startswith("error: log is defined only for positive numbers: in log(b)")


@pytest.mark.parametrize("policy", ["skip", "null"])
def test_on_error_goes_on_and_counts(gradcalc_cli, policy):
    points = "id,x\na,1\nb,-1\nc,oops\nd,4\n" + "".join(f"e{i},-{i + 1}\n" for i in range(12))
    ran = gradcalc_cli("batch", "sqrt(x)", "--on-error", policy, "--chunk-size", "3",
                       input=points)
    assert ran.code == 0, ran.stderr
    out = ran.stdout.splitlines()
    if policy == "skip":
        assert out == ["id,x,value,grad_x", "a,1,1.0,0.5", "d,4,2.0,0.25"]
    else:
        assert out[:5] == ["id,x,value,grad_x", "a,1,1.0,0.5", "b,-1,,", "c,oops,,",
                           "d,4,2.0,0.25"]
        assert len(out) == 17
    stderr = ran.stderr.splitlines()
    done = "left out" if policy == "skip" else "written with empty values"
    assert stderr[0] == f"warning: 14 rows could not be computed and were {done} " \
                        f"(--on-error {policy}):"
    assert stderr[1] == "  <stdin>, line 3, column x: sqrt is defined only for numbers ≥ 0: " \
                        "in sqrt(x), x = -1"
    assert stderr[2] == "  <stdin>, line 4, column x: 'oops' is not a number"
    assert len(stderr) == 1 + 10 + 1 and stderr[-1] == "  ... and 4 more"


def test_null_rows_in_json_lines(gradcalc_cli):
    ran = gradcalc_cli("batch", "log(x)", "--on-error", "null",
                       input='{"x": 1}\n{"x": 0}\nnot json\n')
    assert [strict_json(line) for line in ran.stdout.splitlines()] == [
        {"x": 1, "value": 0.0, "grad_x": 1.0},
        {"x": 0, "value": None, "grad_x": None},
        {"value": None, "grad_x": None},
    ]


def test_a_row_whose_key_clashes_with_the_output_is_written_without_its_keys(gradcalc_cli):
    ran = gradcalc_cli("batch", "x*y", "--on-error", "null",
                       input='{"x": 1, "y": 2}\n{"grad_q": [1], "x": 3}\n')
    assert [strict_json(line) for line in ran.stdout.splitlines()] == [
        {"x": 1, "y": 2, "value": 2.0, "grad_x": 2.0, "grad_y": 1.0},
        {"value": None, "grad_x": None, "grad_y": None},  # not grad_q beside the gradients
    ]
    assert "line 2: the object already has the key 'grad_q'" in ran.stderr


def test_warnings_are_counted_per_node_not_printed_per_row(gradcalc_cli):
    rows = "".join(f"{v},{v if v % 3 == 0 else -v}\n" for v in range(1, 301))
    ran = gradcalc_cli("batch", "max(x, y) + relu(x - y)", "--chunk-size", "64",
                       input="x,y\n" + rows)
    assert ran.code == 0
    assert ran.stderr.splitlines() == [  # in backward order, as gradcalc eval has them
        "warning: node 4 (relu(x - y)): relu has no derivative at 0; local gradient taken "
        "as 0 (as PyTorch) — in 100 rows (first: line 4)",
        "warning: node 2 (max(x, y)): arguments tie for the winner; the gradient is split "
        "evenly among the tied arguments (as PyTorch and JAX) — in 100 rows (first: line 4)",
    ]


# -- the Python API -------------------------------------------------------------------

class Columns:
    """A pandas-like mapping of columns: keys() and [name], values with __array__."""

    def __init__(self, data):
        self.data = data

    def keys(self):
        return list(self.data)

    def __getitem__(self, name):
        return Series(self.data[name])


class Series:
    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


def test_api_takes_a_mapping_of_columns_and_returns_arrays():
    points = Columns({"x": [-2.0, 1.0], "y": [5.0, 1.0], "z": [-4.0, 2.0], "w": [1.0, 2.0],
                      "label": ["a", "b"]})  # a column the expression does not use
    result = gradcalc.batch("(x+y)*max(z,w)", points)
    assert isinstance(result, dict) and list(result) == [
        "value", "grad_x", "grad_y", "grad_z", "grad_w"]
    assert result["value"].tolist() == [3.0, 4.0]
    assert result["grad_w"].tolist() == [3.0, 1.0]
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in result.values())
    assert len(result.warnings) == 1 and "in 1 row (first: row 1)" in result.warnings[0][1]


def test_api_skip_and_null():
    points = {"x": np.array([4.0, -1.0, np.nan, 9.0])}
    skipped = gradcalc.batch("sqrt(x)", points, on_error="skip")
    assert skipped["value"].tolist() == [2.0, 3.0] and skipped.rows.tolist() == [0, 3]
    assert skipped.bad_rows.tolist() == [1, 2]
    assert skipped.problems == [
        "row 1, column x: sqrt is defined only for numbers ≥ 0: in sqrt(x), x = -1",
        "row 2, column x: the value is missing (NaN)"]
    nulled = gradcalc.batch("sqrt(x)", points, on_error="null", wrt=[])
    assert list(nulled) == ["value"]
    assert np.isnan(nulled["value"][1:3]).all() and nulled["value"][3] == 3.0


def test_api_with_shared_bindings_only_has_a_row_per_point():
    result = gradcalc.batch("2*b", {"label": ["a", "b", "c"]}, b=3)
    assert result["value"].tolist() == [6.0] * 3 and result["grad_b"].tolist() == [2.0] * 3


@pytest.mark.parametrize("points,message", [
    ({"x": [1, 2], "y": [1]}, "different lengths"),
    ({"x": ["a"], "y": [1]}, "the column x is not numbers"),
    ({"x": [[1, 2]], "y": [1]}, "has shape (1, 2)"),
    ([1, 2], "must be a mapping of names to columns"),
])
def test_api_errors(points, message):
    with pytest.raises(gradcalc.GradcalcError, match=message.replace("(", r"\(")
                       .replace(")", r"\)")):
        gradcalc.batch("x*y", points)


# -- processes: pipes, memory, the progress bar ----------------------------------------

def _points_file(path, rows):
    rng = np.random.default_rng(7)
    with open(path, "w") as handle:
        handle.write("x,y,z,w\n")
        for start in range(0, rows, 50_000):
            block = rng.normal(size=(min(50_000, rows - start), 4))
            handle.write("".join(",".join(map(repr, row)) + "\n" for row in block.tolist()))


def _gradcalc(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "gradcalc", *args], **kwargs)


def test_broken_pipe_ends_quietly(tmp_path):
    _points_file(tmp_path / "p.csv", 40_000)  # several MB out: far more than a pipe holds
    run = _gradcalc("batch", EXPR, "-i", str(tmp_path / "p.csv"),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.stdout.readline().startswith(b"x,y,z,w,value")
    run.stdout.close()  # as `| head -1` does
    assert run.wait(timeout=60) == 0
    assert run.stderr.read() == b""


def _bad_json_lines(path, rows):
    """JSON Lines, every other line broken: the row-by-row reader and its messages."""
    with open(path, "w") as handle:
        handle.writelines('{"x": %r, "y": 2, "z": 3, "w": 4}\n' % (k / 7) if k % 2 == 0 else
                          '{"x": oops}\n' for k in range(rows))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
@pytest.mark.parametrize("make,suffix,extra", [
    (_points_file, "csv", []),
    (_bad_json_lines, "jsonl", ["--on-error", "skip"]),
])
def test_memory_stays_flat_however_long_the_input(tmp_path, make, suffix, extra):
    """Peak memory for 20 chunks and for 120 chunks of input is about the same. (From 1
    chunk to 20, the allocators of numpy and polars settle, a few MB.)"""
    chunk = 4096
    # VmHWM is the process's own peak (ru_maxrss would count its parent's at the fork).
    script = textwrap.dedent("""
        import re, sys
        from gradcalc.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit as exit:
            assert not exit.code, exit.code
        status = open("/proc/self/status").read()
        print(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1), file=sys.stderr)
    """)
    peaks = {}
    for rows in (20 * chunk, 120 * chunk):
        source = tmp_path / f"p{rows}.{suffix}"
        make(source, rows)
        done = subprocess.run([sys.executable, "-c", script, "batch", EXPR, "-i", str(source),
                               "-o", str(tmp_path / f"out.{suffix}"), "--chunk-size",
                               str(chunk), *extra], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        peaks[rows] = int(done.stderr.split()[-1]) / 1024  # MB
    size = os.path.getsize(tmp_path / f"p{120 * chunk}.{suffix}") / 2**20
    out = os.path.getsize(tmp_path / f"out.{suffix}") / 2**20
    assert size > 12 and out > 12  # holding either in memory would show
    assert peaks[120 * chunk] - peaks[20 * chunk] < 8, (peaks, size, out)


def test_progress_bar_only_on_a_terminal(tmp_path):
    _points_file(tmp_path / "p.csv", 20_000)
    quiet = subprocess.run([sys.executable, "-m", "gradcalc", "batch", EXPR, "-i",
                            str(tmp_path / "p.csv"), "-o", str(tmp_path / "o.csv")],
                           capture_output=True)
    assert quiet.returncode == 0 and quiet.stderr == b""
    main, terminal = pty.openpty()
    run = _gradcalc("batch", EXPR, "-i", str(tmp_path / "p.csv"), "-o",
                    str(tmp_path / "o.csv"), "--chunk-size", "1000", stderr=terminal,
                    env={**os.environ, "COLUMNS": "100"})
    os.close(terminal)
    seen = read_terminal(main, 60)
    assert run.wait(timeout=60) == 0
    os.close(main)
    assert b"rows" in seen and b"%" in seen, seen[-500:]


def test_an_underflow_that_changes_a_row_is_warned_about_as_eval_warns_at_that_point():
    """The oracle is gradcalc eval at each row's point (itself held to mpmath in
    tests/test_edges.py): batch counts exactly the rows where eval warns of underflow."""
    import gradcalc

    source = "exp(v)*1e300*y + w"
    points = {"v": [-800.0, 1.0, -800.0, -800.0, -750.0, -30.0],
              "y": [2.0, 2.0, 1e-300, 0.0, 1.0, 5.0],
              "w": [0.0, 1.0, 0.0, 1e-20, 1.0, 0.0]}
    result = gradcalc.batch(source, points)
    flagged = [any("underflowed" in m for _, m in gradcalc.evaluate(
        source, **{name: column[k] for name, column in points.items()}).warnings)
        for k in range(len(points["v"]))]
    # row 5: f = 1 + 1.9e-26 is right, but ∂f/∂y = e^-750·1e300 ≈ 1.9e-26, computed 0
    assert flagged == [True, False, True, True, True, False]
    notes = [m for _, m in result.warnings if "underflowed" in m]
    assert len(notes) == 1 and f"in {sum(flagged)} rows (first: row 0)" in notes[0]
