"""`gradcalc grade` and gradcalc.grade: a class of 200 with planted mistakes.

The oracle is the plant itself: every student's numbers are drawn here, the right answers
are worked out here by hand (q = x·y + z, f = q·w: ∂f/∂q = w, ∂f/∂x = w·y, ∂f/∂y = w·x,
∂f/∂z = w, ∂f/∂w = q), and each kind of mistake says which answers it spoils. The expected
scores and item analysis are counted from that table, never read from gradcalc.
"""
import csv
import io
import json
import random

import pytest

import gradcalc
from gradcalc import bindings as binding_values
from gradcalc import grading
from gradcalc.errors import UsageError

EXPR = "q = x*y + z; f = q * w"
ANSWERS = ["value", "grad(q)", "grad(x)", "grad(y)", "grad(z)", "grad(w)"]
KINDS = ["correct", "sign", "rounded", "factor", "swapped", "carried", "empty"]


def truth(x, y, z, w):
    q = x * y + z
    return {"value": q * w, "grad(q)": w, "grad(x)": w * y, "grad(y)": w * x,
            "grad(z)": w, "grad(w)": q}


def plant(kind, x, y, z, w) -> dict:
    """The answers of a student who makes the mistake `kind` (text, as in a CSV cell)."""
    right = truth(x, y, z, w)
    given = {key: repr(value) for key, value in right.items()}
    if kind == "sign":
        given["grad(z)"] = repr(-w)
    elif kind == "rounded":
        given = {key: f"{value:.2f}" for key, value in right.items()}
    elif kind == "factor":
        given["value"] = repr(2 * right["value"])
    elif kind == "swapped":  # x and y exchanged when the gradients were worked out
        given["grad(x)"], given["grad(y)"] = repr(w * x), repr(w * y)
    elif kind == "carried":  # ∂f/∂q with the wrong sign, and the chain done right from it
        given["grad(q)"] = repr(-w)
        given["grad(x)"], given["grad(y)"], given["grad(z)"] = \
            repr(-w * y), repr(-w * x), repr(-w)
    elif kind == "empty":
        given["grad(w)"] = ""
    return given


# What each kind gets, per answer: right, wrong, carried (under --carry-forward) or blank.
def expected_marks(row, rounded=False, carry=False) -> dict:
    kind = row["kind"]
    marks = dict.fromkeys(ANSWERS, "right")
    if kind == "sign":
        marks["grad(z)"] = "wrong"
    elif kind == "rounded" and not rounded:
        marks = dict.fromkeys(ANSWERS, "wrong")
        if carry:  # a rounded answer may still be their rounded ∂f/∂q × the local gradient
            x, y = float(row["x"]), float(row["y"])
            upstream = float(row["grad(q)"])
            for key, local in (("grad(x)", y), ("grad(y)", x), ("grad(z)", 1.0)):
                given, chained = float(row[key]), upstream * local
                if abs(given - chained) <= 1e-6 * max(abs(given), abs(chained)):
                    marks[key] = "carried"
    elif kind == "factor":
        marks["value"] = "wrong"
    elif kind == "swapped":
        marks["grad(x)"] = marks["grad(y)"] = "wrong"
    elif kind == "carried":
        marks["grad(q)"] = "wrong"
        for key in ("grad(x)", "grad(y)", "grad(z)"):
            marks[key] = "carried" if carry else "wrong"
    elif kind == "empty":
        marks["grad(w)"] = "blank"
    return marks


def _numbers(rng):
    """A student's inputs: three decimals each, drawn until every answer has digits past
    the second decimal (so rounding to 2 decimals really rounds) and x, y are well apart."""
    while True:
        x, y, z, w = (rng.randint(-3000, 3000) / 1000 for _ in range(4))
        right = truth(x, y, z, w)
        if abs(x - y) > 0.5 and abs(w) > 0.5 and \
                all(abs(v - round(v, 2)) > 1e-4 for v in right.values()):
            return x, y, z, w


def make_class(n=200, seed=13):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        x, y, z, w = _numbers(rng)
        rows.append({"student": f"s{i:03d}", "kind": kind, "x": repr(x), "y": repr(y),
                     "z": repr(z), "w": repr(w), **plant(kind, x, y, z, w)})
    return rows


def expected_items(rows, **options) -> dict:
    table = {key: {"right": 0, "carried": 0, "wrong": 0, "blank": 0} for key in ANSWERS}
    for row in rows:
        for key, mark in expected_marks(row, **options).items():
            table[key][mark] += 1
    return table


def score_of(marks: dict) -> tuple[int, int]:
    return (sum(m in ("right", "carried") for m in marks.values()),
            sum(m != "blank" for m in marks.values()))


@pytest.mark.parametrize("rounded,carry", [(False, False), (True, False), (False, True),
                                           (True, True)])
def test_a_class_of_200_with_planted_mistakes(rounded, carry):
    rows = make_class()
    grades = gradcalc.grade(EXPR, rows, rounded=rounded, carry_forward=carry)
    assert len(grades.students) == 200
    for row, student in zip(rows, grades.students):
        marks = expected_marks(row, rounded, carry)
        assert {m.key: m.verdict for m in student.marks} == marks, row
        assert (student.score, student.total) == score_of(marks), row
        assert student.row["student"] == row["student"]  # copied through
        right = truth(*(float(row[n]) for n in "xyzw"))
        for mark in student.wrong:
            assert mark.right == pytest.approx(right[mark.key], rel=1e-15)
    assert grades.items() == expected_items(rows, rounded=rounded, carry=carry)


def test_where_the_chain_first_went_wrong():
    rows = make_class(14)
    grades = gradcalc.grade(EXPR, rows, carry_forward=True)
    first = {row["kind"]: s.first_wrong for row, s in zip(rows, grades.students)}
    assert first["correct"] is None and first["empty"] is None
    assert first["sign"] == "∂f/∂z"
    assert first["factor"] == "f"  # a value comes before every gradient
    assert first["rounded"] == "f"
    assert first["carried"] == "∂f/∂q"  # backprop reaches q before x, y and z
    assert first["swapped"] in ("∂f/∂x", "∂f/∂y")


def test_the_lecture_example_of_carrying_forward():
    # q = x + y; f = q * z at x=-2, y=5, z=-4: grad(q) = 4 is wrong (-4); grad(x) = 4
    # follows from it (∂q/∂x = 1), so it is carried.
    row = {"x": -2, "y": 5, "z": -4, "grad(q)": 4, "grad(x)": 4, "grad(z)": 3}
    student = gradcalc.grade("q = x + y; f = q * z", [row], carry_forward=True).students[0]
    assert {m.key: m.verdict for m in student.marks} == \
        {"grad(q)": "wrong", "grad(x)": "carried", "grad(z)": "right"}
    assert (student.score, student.total, student.first_wrong) == (2, 3, "∂f/∂q")
    plain = gradcalc.grade("q = x + y; f = q * z", [row]).students[0]
    assert [m.verdict for m in plain.marks] == ["wrong", "wrong", "right"]


def test_carrying_forward_sums_over_branches():
    # f = a*b with a = x + 1, b = x * 3 at x = 2: ∂f/∂x = ∂f/∂a·1 + ∂f/∂b·3. A student
    # with ∂f/∂a = 5 (wrong: b = 6) and ∂f/∂b = 3 (right) carries 5 + 3·3 = 14.
    rows = [{"x": 2, "grad(a)": 5, "grad(b)": 3, "grad(x)": 14},
            {"x": 2, "grad(a)": 5, "grad(b)": 3, "grad(x)": 5}]
    students = gradcalc.grade("a = x + 1; b = x * 3; f = a * b", rows,
                              carry_forward=True).students
    assert [m.verdict for m in students[0].marks] == ["wrong", "right", "carried"]
    assert [m.verdict for m in students[1].marks] == ["wrong", "right", "wrong"]


def test_carrying_forward_through_a_matrix_product():
    # h = W @ v, f = sum(h * c): ∂f/∂h = c = [1, 1] and ∂f/∂v = Wᵀ · ∂f/∂h. A student with
    # ∂f/∂h = [2, 1] who then computes Wᵀ · [2, 1] = [5, 8] right carries ∂f/∂v.
    row = {"W": [[1, 2], [3, 4]], "v": [1, -1], "c": [1, 1],
           "grad(h)": [2, 1], "grad(v)": [5, 8], "grad(W)": [[1, -1], [1, -1]]}
    student = gradcalc.grade("h = W @ v; f = sum(h * c)", [row],
                             carry_forward=True).students[0]
    assert {m.key: m.verdict for m in student.marks} == \
        {"grad(h)": "wrong", "grad(v)": "carried", "grad(W)": "right"}
    assert student.first_wrong == "∂f/∂h"


def test_pandas_empty_cells_are_blank():
    rows = [{"x": 2.0, "grad(x)": float("nan"), "value": 4.0}]
    student = gradcalc.grade("x^2", rows).students[0]
    assert [m.verdict for m in student.marks] == ["blank", "right"]
    assert (student.score, student.total) == (1, 1)


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_the_command_writes_scores_and_the_item_analysis(gradcalc_cli, tmp_path):
    rows = make_class()
    _write_csv(tmp_path / "class.csv", rows)
    out = tmp_path / "grades.csv"
    ran = gradcalc_cli("grade", EXPR, "--answers", str(tmp_path / "class.csv"),
                       "-o", str(out), "--carry-forward")
    assert ran.code == 0, ran.stderr
    written = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(written[0]) == ["student", "kind", "score", "total", "wrong", "carried",
                                "first_wrong"]
    for row, line in zip(rows, written):
        marks = expected_marks(row, carry=True)
        assert (int(line["score"]), int(line["total"])) == score_of(marks)
        wrong = [key for key, mark in marks.items() if mark == "wrong"]
        assert [part.split("=")[0] for part in line["wrong"].split("; ") if part] == wrong
    # The item analysis on stderr: one line per answer, counts as planted.
    lines = ran.stderr.splitlines()
    assert lines[0] == "item analysis: 200 students, 6 answers"
    items = expected_items(rows, carry=True)
    for line in lines[2:8]:
        key, _, right, carried, wrong, blank, _ = line.split()
        assert {"right": int(right), "carried": int(carried), "wrong": int(wrong),
                "blank": int(blank)} == items[key]


def test_json_lines_in_and_out_with_arrays_in_cells(gradcalc_cli, tmp_path):
    # A vector exercise: f = sum(W @ v); ∂f/∂W[i, j] = v[j], ∂f/∂v[j] = sum_i W[i, j].
    rows = [{"id": "a", "W": [[1, 2], [3, 4]], "v": [1, -1], "grad(W)": [[1, -1], [1, -1]],
             "grad(v)": [4, 6]},
            {"id": "b", "W": [[1, 2], [3, 4]], "v": [2, 5], "grad(W)": [[2, 5], [2, 4]],
             "grad(v)": [4, 6]}]
    path = tmp_path / "class.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ran = gradcalc_cli("grade", "sum(W @ v)", "--answers", str(path))
    assert ran.code == 0, ran.stderr
    first, second = (json.loads(line) for line in ran.stdout.splitlines())
    assert (first["score"], first["total"], first["wrong"]) == (2, 2, [])
    assert second["score"] == 1
    assert second["wrong"] == [{"answer": "grad(W)", "given": [[2.0, 5.0], [2.0, 4.0]],
                                "right": [[2.0, 5.0], [2.0, 5.0]]}]


def test_shared_bindings_and_per_row_inputs(gradcalc_cli, tmp_path):
    path = tmp_path / "class.csv"
    path.write_text("id,x,grad(x),value\na,1,3,4\nb,2,3,7\nc,,3,4\n")
    ran = gradcalc_cli("grade", "x*y + 1", "y=3", "x=1", "--answers", str(path))
    assert ran.code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[1:] == ["a,2,2,,,", "b,2,2,,,", "c,2,2,,,"]  # c: x from x=1


def test_api_bindings_are_a_mapping_and_options_are_checked():
    # An input may be named like an option.
    report = gradcalc.check("ties * strict", {"ties": 2, "strict": 3}, expect={"ties": 3})
    assert report.passed and [r.verdict for r in report.rows] == ["pass", "pass", "pass"]
    assert json.loads(report.to_json())["answers"][0]["quantity"] == "∂f/∂ties"
    with pytest.raises(TypeError, match="tolerance"):
        gradcalc.check("x", {"x": 1}, tolerance=1e-3)
    with pytest.raises(TypeError, match="carry"):
        gradcalc.grade("x", [{"x": 1, "value": 1}], carry=True)
    grades = gradcalc.grade("ties * x", [{"x": 2, "grad(x)": 5}], bindings={"ties": 5})
    assert grades.students[0].score == 1


# -- bad input: exit 2, one message, nothing written -----------------------------------------
BAD_CLASSES = [
    ("id,x,y,z,grad(w)\na,1,2,3,4\n", "column grad(w): the answer 'grad(w)' names nothing"),
    ("id,x,y,z,grad(x)\na,1,2,3,4\nb,1,2,3,abc\n",
     "row 2 (line 3), column grad(x): 'abc' is not a number"),
    ("id,x,y,z,grad(x)\na,1,2,3,\"[1, 2]\"\n",
     "row 1 (line 2), column grad(x) ('[1, 2]'): the answer 'grad(x)' has shape 2 but "
     "∂f/∂x is a scalar"),
    ("id,x,y,z\na,1,2,3\n", "the class file has no answer column"),
    ("id,x,y,z,grad(x),grad(x)\na,1,2,3,4,4\n", "the column grad(x) appears twice"),
    ("id,x,y,z,q\na,1,2,3,4\n", "column q names the node q, which is not an input"),
    ("id,x,y,z,grad(x)\na,1,2,3\n", "row 1 (line 2) has 4 cells, the header has 5"),
    ("id,x,y,z,grad(x)\na,1,2,,4\n", "row 1 (line 2), column z: no value for the input z"),
    ("", "is empty"),
]


@pytest.mark.parametrize("content,message", BAD_CLASSES, ids=[m for _, m in BAD_CLASSES])
def test_bad_class_files(gradcalc_cli, tmp_path, content, message):
    path = tmp_path / "class.csv"
    path.write_text(content)
    out = tmp_path / "grades.csv"
    ran = gradcalc_cli("grade", "q = x + y; f = q * z", "--answers", str(path), "-o", str(out))
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert message in ran.stderr
    assert ran.stderr.count("error:") == 1 and "Traceback" not in ran.stderr
    assert not out.exists() and ran.stdout == ""


def test_bad_json_lines(gradcalc_cli, tmp_path):
    path = tmp_path / "class.jsonl"
    for content, message in [
            ('{"x": 1, "x": 2, "value": 1}\n', "the column x appears twice"),
            ('{"x": 1, "grad(x)": [[1, 2], [3, 4]]}\n',
             "the answer 'grad(x)' has shape 2×2 but ∂f/∂x is a scalar"),
            ('{"x": 1, "grad(x)": true}\n', "must be a number, not true/false"),
            ('[1, 2]\n', "each line must be a JSON object"),
            ('{"x": \n', "not valid JSON"),
            ('{"x": 1, "grad(x)": ' + "[" * 100000 + "]" * 100000 + "}\n",
             "row 1 (line 1): nested too deeply to read")]:
        path.write_text(content)
        ran = gradcalc_cli("grade", "x*2", "--answers", str(path))
        assert ran.code == 2 and message in ran.stderr, (content, ran.stderr)
        assert ran.stdout == ""


def test_an_existing_output_is_left_alone_on_bad_input(gradcalc_cli, tmp_path):
    path = tmp_path / "class.csv"
    path.write_text("id,x,grad(x)\na,1,2\nb,1,oops\n")
    out = tmp_path / "grades.csv"
    out.write_text("before\n")
    assert gradcalc_cli("grade", "x*2", "--answers", str(path), "-o", str(out)).code == 2
    assert out.read_text() == "before\n"


@pytest.mark.parametrize("reader,what", [
    (lambda path: grading.read_class(path), "the class file"),
    (lambda path: binding_values.read_json_object(path, "the bindings file", "{}"),
     "the bindings file"),
])
def test_every_file_a_command_opens_fails_with_one_message(tmp_path, reader, what):
    """The class file and the JSON files share gradcalc.files' message for a file that
    cannot be opened: missing, a directory, or a name holding a NUL (Python's own
    errors, which a traceback would show)."""
    cases = [(str(tmp_path / "missing.csv"), "there is no such file"),
             (str(tmp_path), "is a directory, not a file"),
             ("class\0.csv", "cannot hold a NUL character")]
    for path, fragment in cases:
        with pytest.raises(UsageError) as raised:
            reader(path)
        assert what in str(raised.value) and fragment in str(raised.value)
