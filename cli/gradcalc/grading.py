"""`gradcalc grade`: a class's answers checked, one row per student, and the item analysis.

Each row binds the expression's inputs from the columns named like them (students may
have their own numbers) and gives answers in columns named as `check --expect`'s explicit
forms: `value`, `value(NAME)`, `grad(NAME)`. Every other column (a student id, a name) is
copied through. The graph is lowered once and run per row; answers are judged as `check`
judges them (gradcalc.checking.Judge).

Partial credit along the chain rule (`carry_forward`): a gradient answer that is wrong
but equals what backpropagation gives from the student's own upstream answers (their
∂f/∂node in place of the true one wherever they gave one, times the true local
gradients, summed over branches) is `carried`, and counts as right.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import bindings as binding_values
from . import render
from .api import number_system, run_graph
from .checking import (AnswerNoise, Judge, check_shape, computed_answer, given_answer, judged,
                       named_nodes, resolve)
from .errors import BindingError, GradcalcError, UsageError
from .files import open_error
from .limits import DEFAULT, Limits, check_source
from .lower import GATE, OP, lower
from .parse import parse
from .run import _backward_other, plan_of

RIGHT, WRONG, CARRIED, BLANK = "right", "wrong", "carried", "blank"
VERDICTS = (RIGHT, CARRIED, WRONG, BLANK)
OUTPUT_COLUMNS = ("score", "total", "wrong", "carried", "first_wrong")

_ANSWER = re.compile(r"\s*(value|grad)\s*\((.*)\)\s*\Z|\s*value\s*\Z")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass
class Mark:
    """One answer of one student: what was given, the right value, and the verdict."""

    key: str
    quantity: str
    given: object  # None when the cell is blank
    right: object
    verdict: str


@dataclass
class Student:
    """One row: the copied columns, the marks, and where the chain first went wrong."""

    row: dict  # the copied columns, as read
    marks: list[Mark]
    first_wrong: str | None  # the quantity, "∂f/∂q"; None when nothing is wrong

    @property
    def score(self) -> int:
        """Answers right (a carried answer counts as right)."""
        return sum(mark.verdict in (RIGHT, CARRIED) for mark in self.marks)

    @property
    def total(self) -> int:
        """Answers given (blank cells are not counted)."""
        return sum(mark.verdict != BLANK for mark in self.marks)

    @property
    def wrong(self) -> list[Mark]:
        return [mark for mark in self.marks if mark.verdict == WRONG]

    @property
    def carried(self) -> list[Mark]:
        return [mark for mark in self.marks if mark.verdict == CARRIED]

    def to_dict(self) -> dict:
        """One line of the JSON Lines output."""
        number = render.json_number
        return {**_plain(self.row), "score": self.score, "total": self.total,
                "wrong": [{"answer": m.key, "given": number(m.given), "right": number(m.right)}
                          for m in self.wrong],
                "carried": [m.key for m in self.carried], "first_wrong": self.first_wrong}

    def to_csv_row(self) -> list:
        """The output's cells after the copied columns."""
        wrong = "; ".join(f"{m.key}={_cell(m.given)} (right: {_cell(m.right)})"
                          for m in self.wrong)
        return [self.score, self.total, wrong, "; ".join(m.key for m in self.carried),
                self.first_wrong or ""]


def _cell(value) -> str:
    """A number or an array in a CSV cell: shortest round-trip text, JSON for arrays."""
    if getattr(value, "ndim", 0):
        return render.dumps(render.json_number(value))
    from .arith import FloatArith

    return "" if value is None else FloatArith.show(float(value))


@dataclass
class Grades:
    """The whole class: per student, and per answer how many got it right."""

    expression: str
    answers: list[tuple[str, str]]  # (column, quantity) in column order
    students: list[Student]
    judge: Judge
    carry_forward: bool
    copied: list[str] = field(default_factory=list)

    def items(self) -> dict:
        """The item analysis: {column: {verdict: number of students}}."""
        table = {key: dict.fromkeys(VERDICTS, 0) for key, _ in self.answers}
        for student in self.students:
            for mark in student.marks:
                table[mark.key][mark.verdict] += 1
        return table

    def to_dict(self) -> dict:
        """The whole result as one JSON document (the API's view)."""
        items = self.items()
        return {"schema": render.SCHEMA, "expression": self.expression,
                "students": [s.to_dict() for s in self.students],
                "items": [{"answer": key, "quantity": quantity, **items[key]}
                          for key, quantity in self.answers]}

    def to_json(self) -> str:
        return render.dumps(self.to_dict())

    def __repr__(self) -> str:  # in a notebook: the item analysis (gradcalc.notebook)
        from .notebook import grades_repr

        return grades_repr(self)

    def _repr_html_(self) -> str:
        from .notebook import grades_html

        return grades_html(self)

    def item_lines(self) -> list[str]:
        """The item analysis for standard error: per answer, how many got it right."""
        items = self.items()
        headers = ["answer", "quantity", *VERDICTS, "% right"]
        rows = []
        for key, quantity in self.answers:
            counts = items[key]
            given = len(self.students) - counts[BLANK]
            share = f"{100 * (counts[RIGHT] + counts[CARRIED]) / given:.0f}%" if given else "—"
            rows.append([key, quantity, *map(str, counts.values()), share])
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        line = lambda cells: "  ".join(  # noqa: E731
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        scores = [s.score for s in self.students]
        totals = [s.total for s in self.students]
        mean = sum(scores) / len(scores) if scores else 0.0
        count = lambda n, noun: f"{n} {noun}{'' if n == 1 else 's'}"  # noqa: E731
        return [f"item analysis: {count(len(self.students), 'student')}, "
                f"{count(len(self.answers), 'answer')}",
                line(headers), *map(line, rows),
                f"mean score {mean:.2f} of {max(totals, default=0)} answers"]


def answer_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if _ANSWER.match(c)]


def grade(source: str, rows, shared: dict | None = None, *, judge: Judge | None = None,
          ties: str = "split", carry_forward: bool = False, limits: Limits = DEFAULT,
          columns: list[str] | None = None) -> Grades:
    """Grade every row of `rows`: an iterable of (where, {column: cell}), `where` naming
    the row in messages ("row 3"). A cell is text (CSV), or a number or a nested list
    (JSON). `shared` binds what all rows share. Raises a GradcalcError naming the row and
    column for a bad cell, an unknown answer column, or an answer of the wrong shape."""
    judge = judge or Judge()
    rows = list(rows)
    columns = list(columns) if columns is not None else _columns_of(rows)
    shared = dict(shared or {})
    check_source(source, limits)
    answers = answer_columns(columns)
    graph = lower(parse(source), bound=set(columns) | set(shared), limits=limits)
    inputs = [c for c in columns if c in graph.inputs]
    _check_columns(graph, columns, inputs, answers)
    if not answers:
        raise UsageError("the class file has no answer column",
                         hint="name answer columns value, value(NAME) or grad(NAME), "
                              f"e.g. grad(x); the columns are: {', '.join(columns) or 'none'}")
    copied = [c for c in columns if c not in inputs and c not in answers]
    clash = [c for c in copied if c in OUTPUT_COLUMNS]
    if clash:
        raise UsageError(f"the class file has a column '{clash[0]}', which the output adds",
                         hint="rename that column")
    lowered_shared = binding_values.lowered(shared)
    arrays = graph.uses_arrays or binding_values.uses_arrays(lowered_shared) or any(
        _looks_like_array(row.get(c)) for _, row in rows for c in [*inputs, *answers])
    xp = number_system(ties, arrays=arrays)
    resolved_shared = binding_values.resolve(lowered_shared, xp)
    quantities = [(key, resolve(graph, key)[0]) for key in answers]
    students = [grade_row(graph, xp, where, row, inputs, answers, resolved_shared, judge,
                          carry_forward) for where, row in rows]
    for student, (_, row) in zip(students, rows):
        student.row = {c: row.get(c) for c in copied}
    return Grades(source, quantities, students, judge, carry_forward, copied)


def _columns_of(rows) -> list[str]:
    seen = {}
    for _, row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _looks_like_array(cell) -> bool:
    return isinstance(cell, list) or isinstance(cell, str) and cell.lstrip().startswith(("[", "@"))


def _check_columns(graph, columns: list[str], inputs: list[str], answers: list[str]) -> None:
    """Every answer column names something; a column named after a node that is not an
    input is an answer written without grad(...) or value(...), not a column to copy."""
    for key in answers:
        try:
            resolve(graph, key)
        except GradcalcError as exc:
            raise type(exc)(f"column {key}: {exc.message}", hint=exc.hint) from None
    named = named_nodes(graph)
    for column in columns:
        if column in named and column not in inputs:
            raise UsageError(f"column {column} names the node {column}, which is not an input",
                             hint=f"name an answer column grad({column}) for ∂f/∂{column} "
                                  f"or value({column}) for its value")


def grade_row(graph, xp, where: str, row: dict, inputs: list[str], answers: list[str],
              shared: dict, judge: Judge, carry_forward: bool) -> Student:
    """One student: their inputs bound, the graph run, each answer judged."""
    values = dict(shared)
    for name in inputs:
        cell = row.get(name)
        if _blank(cell):
            if name in shared:
                continue
            raise BindingError(f"{where}, column {name}: no value for the input {name}",
                               hint=f"fill the cell, or bind {name} for every row with "
                                    f"{name}=VALUE")
        values[name] = _in_cell(lambda: binding_values.resolve_value(
            binding_values.lower_value(_plain(cell), f"{name}="), xp, f"{name}="),
            where, name, cell)
    missing = [name for name in graph.inputs if name not in values]
    if missing:
        raise BindingError(f"{where}: no value for {', '.join(missing)}",
                           hint="add a column, or bind it for every row with NAME=VALUE")
    result = _in_cell(lambda: run_graph(graph, values, xp=xp), where, None, None)
    noise = AnswerNoise(graph, result.run, xp)
    marks, given_grads = [], {}
    for key in answers:
        quantity, node, kind, computed = computed_answer(graph, result, key)
        cell = row.get(key)
        if _blank(cell):
            marks.append(Mark(key, quantity, None, computed, BLANK))
            continue
        given = _in_cell(lambda: given_answer(cell, xp, "", ""), where, key, cell)
        _in_cell(lambda: check_shape(key, quantity, given.value, computed), where, key, cell)
        right = all(judged(judge, given, computed, noise.of(node, kind, computed)))
        marks.append(Mark(key, quantity, given.value, computed, RIGHT if right else WRONG))
        if kind == "grad":
            given_grads[node] = (len(marks) - 1, given)
    if carry_forward and any(marks[i].verdict == WRONG for i, _ in given_grads.values()):
        _carry(graph, result.run, xp, judge, noise, marks, given_grads)
    return Student({}, marks, _first_wrong(graph, answers, marks))


def _blank(cell) -> bool:
    """An empty cell: "" in a CSV, null in JSON, NaN where pandas read an empty cell."""
    return cell is None or isinstance(cell, str) and not cell.strip() or \
        isinstance(cell, float) and cell != cell


def _in_cell(compute, where: str, column: str | None, cell):
    """Run `compute`, saying in any error which row and column (and text) it came from."""
    try:
        return compute()
    except GradcalcError as exc:
        place = where if column is None else f"{where}, column {column}"
        if exc.kind == "name" and isinstance(cell, str):  # a word where a number belongs
            raise UsageError(f"{place}: {cell.strip()!r} is not a number", cell.strip(),
                             exc.span, hint="write a number such as -4, 0.25 or 1/3 (a "
                                            "nested list for a vector or matrix)") from None
        shown = f" ({cell!r})" if isinstance(cell, str) else ""
        raise type(exc)(f"{place}{shown}: {exc.message}", exc.source, exc.span,
                        exc.hint) from None


def _carry(graph, run, xp, judge: Judge, noise, marks: list[Mark], given_grads: dict) -> None:
    """Mark `carried` each wrong gradient answer that backprop gives from the student's
    own answers upstream of it."""
    chained = chain_from_answers(graph, run, xp,
                                 {node: given.value for node, (_, given) in given_grads.items()})
    for node, (i, given) in given_grads.items():
        mark = marks[i]
        if mark.verdict != WRONG:
            continue
        expected = chained[node]
        kind_noise = noise.of(node, "grad", expected)
        if all(judged(judge, given, expected, kind_noise)):
            mark.verdict = CARRIED


def chain_from_answers(graph, run, xp, answers: dict) -> dict:
    """Backprop in which each node of `answers` ({node id: ∂f/∂node as given}) passes on
    the given gradient instead of its own: returns, for those nodes, what flowed into
    them (their upstream answers × the true local gradients, summed over branches)."""
    values = run.values
    needs = plan_of(graph).needs_grad
    grads = [xp.zero(value) for value in values]
    grads[graph.output] = xp.convert(1)
    local, warnings = [None] * len(values), []
    reached = [False] * len(values)  # gradcalc.chain's zeros: what the output reaches
    reached[graph.output] = True
    flowed = {}
    for node in reversed(graph.nodes):
        if node.id in answers:
            flowed[node.id] = grads[node.id]
            grads[node.id] = answers[node.id]
            reached[node.id] = True  # the student's answer flows on from here
        if node.kind in (OP, GATE) and needs[node.id]:
            _backward_other(graph, node, values, grads, local, warnings, xp, needs, {},
                            reached, run.inner)
    return flowed


def _first_wrong(graph, answers: list[str], marks: list[Mark]) -> str | None:
    """Where the student's work first went wrong, in the order it is done: values
    forwards (node order), then gradients backwards (reverse node order)."""
    order = []
    for key, mark in zip(answers, marks):
        if mark.verdict == WRONG:
            _, node, kind = resolve(graph, key)
            order.append(((0, node) if kind == "value" else (1, -node), mark.quantity))
    return min(order)[1] if order else None


# -- files ------------------------------------------------------------------------------------
def format_of(path: str | None) -> str | None:
    import os

    if path is None or path == "-":
        return None
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())


def read_class(path: str, fmt: str | None = None):
    """(columns, [(where, {column: cell})], format) from a CSV or JSON Lines class file."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise UsageError(f"the class file {path} is not UTF-8 text") from None
    except (OSError, ValueError) as exc:
        raise open_error(path, exc, "give the class's CSV or JSON Lines file",
                         "the class file") from None
    if not text.strip():
        raise UsageError(f"the class file {path} is empty",
                         hint="a CSV starts with a header row: id,x,y,grad(x)")
    fmt = fmt or format_of(path) or ("jsonl" if text.lstrip().startswith("{") else "csv")
    columns, rows = (_read_csv if fmt == "csv" else _read_jsonl)(text, path)
    return columns, rows, fmt


def _read_csv(text: str, path: str):
    import csv

    reader = csv.reader(text.splitlines(), strict=True)
    try:
        header = next(reader)
        records = [(reader.line_num, record) for record in reader]
    except csv.Error as exc:
        raise UsageError(f"{path}, line {reader.line_num}: not valid CSV: {exc}") from None
    columns = [cell.strip() for cell in header]
    _no_duplicates(columns, f"{path}, line 1")
    rows = []
    for number, (line, record) in enumerate(records, 1):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            raise UsageError(f"{path}, row {number} (line {line}) has {len(record)} cells, "
                             f"the header has {len(columns)}",
                             hint="quote a cell that holds a comma: \"[1, 2]\"")
        rows.append((f"row {number} (line {line})", dict(zip(columns, record))))
    return columns, rows


def _read_jsonl(text: str, path: str):
    from decimal import Decimal  # the digits as written, for --rounded

    rows, columns = [], {}
    for line, record in enumerate(text.splitlines(), 1):
        if not record.strip():
            continue
        where = f"row {len(rows) + 1} (line {line})"
        try:
            data = json.loads(record, parse_float=Decimal,
                              object_pairs_hook=lambda pairs: _unique(pairs, where))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}, {where}: not valid JSON: {exc.msg} at column "
                             f"{exc.colno}") from None
        except RecursionError:  # Python's json decoder recurses once per level of nesting
            raise UsageError(f"{path}, {where}: nested too deeply to read",
                             hint="a cell holds a number or a vector or matrix of numbers") \
                from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}, {where}: each line must be a JSON object",
                             hint='e.g. {"id": "s1", "x": -2, "grad(x)": -4}')
        columns.update(dict.fromkeys(data))
        rows.append((where, data))
    return list(columns), rows


def _unique(pairs, where: str) -> dict:
    _no_duplicates([key for key, _ in pairs], where)
    return dict(pairs)


def _no_duplicates(columns: list[str], where: str) -> None:
    seen = set()
    for column in columns:
        if column in seen:
            raise UsageError(f"{where}: the column {column} appears twice",
                             hint="give every column its own name")
        seen.add(column)


def write_grades(grades: Grades, fmt: str) -> str:
    """The per-student output as CSV or JSON Lines text."""
    if fmt == "jsonl":
        return "".join(render.dumps(_plain(s.to_dict())) + "\n" for s in grades.students)
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*grades.copied, *OUTPUT_COLUMNS])
    for student in grades.students:
        writer.writerow([_csv_text(student.row[c]) for c in grades.copied] +
                        student.to_csv_row())
    return out.getvalue()


def _csv_text(cell) -> str:
    if cell is None:
        return ""
    return cell if isinstance(cell, str) else render.dumps(_plain(cell))


def _plain(value):
    """Decimals read from JSON Lines (kept for their digits) as JSON numbers again."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return json.loads(json.dumps(value, default=float))
    return value
