"""`gradcalc check` (SPEC §3): analytic gradients against central differences, and given
answers against the computed ones.

The graph is lowered once; the engine runs again at x − h and x + h for every input. A
difference quotient says nothing about the derivative at x when the step crosses a point
where some op moves to another smooth piece (relu's argument changes sign, max changes
its winner, a divisor changes sign). Every op says where that happens through its
`branch` in the op table; a row whose step crosses one is marked unreliable, not failed.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass

from . import render
from .api import Result, run_graph
from .bindings import constant_value, read_json_object
from .defaults import CHECK_STEP as STEP, CHECK_TOLERANCE as TOLERANCE
from .errors import DomainError, UndefinedNameError, UsageError
from .limits import DEFAULT, Limits, exceeded
from .lower import CONST, GATE, OP, Graph
from .run import forward

ZERO = 1e-12  # the floor of the relative error's denominator (SPEC §3): 0 vs 0 passes
NOISE_ULPS = 4  # the rounding error of one evaluation of f, in units of eps·|f|

PASS, FAIL, UNRELIABLE = "pass", "fail", "unreliable"

# CS231n's reading of a relative error (cs231n.github.io/neural-networks-3/#gradcheck).
READINGS = ((1e-7, "good (≤ 1e-7)"), (1e-4, "fine only near a kink (≤ 1e-4)"),
            (1e-2, "uncomfortable (≤ 1e-2)"), (math.inf, "probably wrong (> 1e-2)"))

_WRAPPED = re.compile(r"\s*(value|grad)\s*\((.*)\)\s*\Z")


@dataclass
class GradientRow:
    """∂f/∂input by backpropagation and by central differences at one input."""

    name: str
    point: float
    analytic: float
    numerical: float | None  # None where x ± h cannot be evaluated
    relative_error: float | None
    verdict: str
    note: str


@dataclass
class AnswerRow:
    """One given answer: what its key names, the given and the computed numbers."""

    key: str  # as written: "x", "value", "grad(q)", "value(q)"
    quantity: str  # what it names, as the table writes it: "∂f/∂x", "f", "q"
    given: float
    computed: float
    relative_error: float
    verdict: str
    note: str


@dataclass
class Report:
    result: Result
    step: float
    tolerance: float
    gradients: list[GradientRow]
    answers: list[AnswerRow]

    @property
    def passed(self) -> bool:
        """Exit code 0 or 1: an unreliable row is not a failure."""
        return all(row.verdict != FAIL for row in [*self.gradients, *self.answers])

    def counts(self, rows) -> dict:
        return {verdict: sum(row.verdict == verdict for row in rows)
                for verdict in (PASS, FAIL, UNRELIABLE)}

    def to_dict(self) -> dict:
        """The `check --json` document (README, "Checking your homework")."""
        graph, run = self.result.graph, self.result.run
        number = render.json_number
        return {
            "schema": render.SCHEMA,
            "expression": graph.source,
            "passed": self.passed,
            "value": number(run.values[graph.output]),
            "step": self.step,
            "tolerance": self.tolerance,
            "gradient_check": [
                {"input": row.name, "at": number(row.point), "analytic": number(row.analytic),
                 "numerical": number(row.numerical),
                 "relative_error": number(row.relative_error),
                 "verdict": row.verdict, "note": row.note}
                for row in self.gradients],
            "answers": [
                {"name": row.key, "quantity": row.quantity, "given": number(row.given),
                 "computed": number(row.computed),
                 "relative_error": number(row.relative_error),
                 "verdict": row.verdict, "note": row.note}
                for row in self.answers],
            "counts": {"gradient_check": self.counts(self.gradients),
                       "answers": self.counts(self.answers)},
            "warnings": render.warning_rows(graph, self.result.warnings),
        }


def check(graph: Graph, values: dict, xp, *, step: float = STEP, tolerance: float = TOLERANCE,
          answers: dict | None = None, limits: Limits = DEFAULT) -> Report:
    """The gradient check of every input, and the comparison of `answers` ({key: number}).

    Raises LimitError when its passes over the graph (PASSES_PER_INPUT per input, and two
    more) would compute more than CHECK_WORK × `limits.nodes` nodes."""
    for option, number in (("--step", step), ("--tol", tolerance)):
        if not math.isfinite(number):
            raise UsageError(f"{option} must be a finite number, not {number}")
    _check_work(graph, limits)
    result = run_graph(graph, values, xp=xp)
    kinks = Kinks(graph, xp)
    rows = [gradient_row(graph, values, xp, name, result, kinks, step, tolerance)
            for name in graph.inputs]
    given = [compare_answer(graph, result, key, value, tolerance)
             for key, value in (answers or {}).items()]
    return Report(result, step, tolerance, rows, given)


# Forward passes per input: x ± h, and x ± 2h for the difference's error bound.
PASSES_PER_INPUT = 4
# The nodes a check may compute, in units of the node limit: a graph at --max-nodes may
# be checked with 4 inputs, a smaller one with more.
CHECK_WORK = 20


def _check_work(graph: Graph, limits: Limits) -> None:
    passes = PASSES_PER_INPUT * len(graph.inputs) + 2
    work = passes * graph.work
    if work > CHECK_WORK * limits.nodes:
        raise exceeded("nodes", f"checking {len(graph.inputs):,} inputs would compute "
                                f"{work:,} nodes ({passes:,} passes over {graph.work:,} "
                                f"nodes, gate bodies counted), more than {CHECK_WORK} × "
                                f"the node limit of {limits.nodes:,}", graph.source,
                       hint="check fewer inputs at a time (bind the others to numbers in "
                            "the program)")


def relative_error(a: float, b: float) -> float:
    """|a − b| / max(|a|, |b|, 1e-12) (SPEC §3); inf when only one of them is finite."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0 if a == b else math.inf
    return abs(a - b) / max(abs(a), abs(b), ZERO)


def reading(error: float) -> str:
    return next(text for bound, text in READINGS if error <= bound)


# -- the numerical gradient check ---------------------------------------------------------
def gradient_row(graph: Graph, values: dict, xp, name: str, center: Result, kinks: Kinks,
                 step: float, tolerance: float) -> GradientRow:
    """Central difference (f(x+h) − f(x−h)) / ((x+h) − (x−h)) against backpropagation."""
    x = values[name]
    analytic = center.run.grads[graph.inputs[name]]
    below, above = x - step, x + step

    def unreliable(note, numerical=None, error=None):
        return GradientRow(name, x, analytic, numerical, error, UNRELIABLE, note)

    if below == x or above == x:
        return unreliable(f"h = {step:g} is below the resolution of {name} = {xp.show(x)}; "
                          "raise --step")
    runs = []
    for side, shifted in (("−", below), ("+", above)):
        try:
            runs.append(forward(graph, {**values, name: shifted}, xp))
        except DomainError as exc:
            return unreliable(f"at {name} {side} h = {xp.show(shifted)}: {exc.message}")
    f_below, f_above = (run.values[graph.output] for run in runs)
    if not (math.isfinite(f_below) and math.isfinite(f_above)):
        return unreliable(f"{render.output_name(graph)} is not finite at {name} ± h")
    # The step actually taken: x ± h is rounded to a float, so it is not exactly 2h.
    numerical = (f_above - f_below) / (above - below)
    error = relative_error(analytic, numerical)
    crossed = kinks.crossed(runs[0], center.run, runs[1])
    if crossed is not None:
        return unreliable(f"{name} ± h crosses {crossed}", numerical, error)
    if not math.isfinite(analytic):
        return GradientRow(name, x, analytic, numerical, error, FAIL,
                           f"the analytic gradient is {analytic}")
    if error <= tolerance:
        return GradientRow(name, x, analytic, numerical, error, PASS, reading(error))
    bound = error_bound(graph, values, xp, name, center, kinks, step, numerical,
                        (f_below, f_above))
    if abs(analytic - numerical) <= bound:
        return unreliable(f"the difference's own error (±{bound:.1e}) is larger than the "
                          "disagreement; try another --step", numerical, error)
    return GradientRow(name, x, analytic, numerical, error, FAIL, reading(error))


def error_bound(graph: Graph, values: dict, xp, name: str, center: Result, kinks: Kinks,
                step: float, numerical: float, f_values) -> float:
    """How far the central difference may be from the derivative: rounding (eps·|f|/h)
    plus truncation, estimated from the difference with step 2h, whose truncation error
    is 4 times as large. A disagreement within it is no evidence of a wrong gradient:
    x^3 at 0 has derivative 0, its difference is h², and their relative error is 1."""
    noise = NOISE_ULPS * sys.float_info.epsilon * max(map(abs, f_values)) / step
    x = values[name]
    below, above = x - 2 * step, x + 2 * step
    try:
        runs = [forward(graph, {**values, name: shifted}, xp) for shifted in (below, above)]
    except DomainError:
        return noise
    f_below, f_above = (run.values[graph.output] for run in runs)
    if not (math.isfinite(f_below) and math.isfinite(f_above)) or \
            kinks.crossed(runs[0], center.run, runs[1]) is not None:
        return noise
    wide = (f_above - f_below) / (above - below)
    return 2 * (abs(wide - numerical) / 3 + noise)


class Kinks:
    """Where the graph's ops can move to another smooth piece: the ops with a `branch`
    (inside collapsed user gates too), found once and asked again for every run."""

    def __init__(self, graph: Graph, xp):
        self.graph = graph
        self.xp = xp
        self._sites: dict[int, list] = {}  # id(graph or gate body) → its sites

    def sites(self, graph: Graph) -> list:
        """The nodes of `graph` that can change piece: ops with a `branch`, gate calls."""
        if id(graph) not in self._sites:
            self._sites[id(graph)] = [
                node for node in graph.nodes if node.needs_grad and (
                    node.kind == GATE or node.kind == OP and node.op.branch is not None)]
        return self._sites[id(graph)]

    def pieces(self, values: list) -> dict:
        """{path: (label, op, piece)} for one run (a path is node ids, top graph down)."""
        found = {}
        stack = [(self.graph, values, (), "")]
        while stack:
            current, current_values, path, where = stack.pop()
            for node in self.sites(current):
                args = [current_values[i] for i in node.inputs]
                if node.kind == GATE:
                    gate = node.op
                    inner = forward(gate.body, dict(zip(gate.params, args)), self.xp)
                    stack.append((gate.body, inner.values, (*path, node.id),
                                  f" (inside gate {gate.name})"))
                else:
                    piece = node.op.branch(self.xp, current_values[node.id], *args)
                    found[(*path, node.id)] = (current.label(node) + where, node.op, piece)
        return found

    def crossed(self, *runs) -> str | None:
        """The first kink or pole whose piece differs between the runs (x−h, x, x+h)."""
        seen = [self.pieces(run.values) for run in runs]
        for path, (label, op, piece) in seen[0].items():
            if any(other[path][2] != piece for other in seen[1:]):
                return f"a {'kink' if op.kink is not None else 'pole'} of {label}"
        return None


# -- given answers ---------------------------------------------------------------------------
def read_answers(path: str | None, expectations, xp) -> dict:
    """{key: number} from an --answers JSON file, then `--expect KEY=VALUE` (these win).

    A value is a number or a constant expression (`-4`, `1/3`, `pi/4`).
    """
    answers = {}
    if path:
        data = read_json_object(path, "the answers file", '{"value": -12, "x": -4}')
        for key, value in data.items():
            if isinstance(value, str):
                answers[key] = constant_value(value, xp, label=f"{key}=",
                                              what=f"the answers file {path},")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                answers[key] = _answer_number(xp, value, key, path)
            else:
                raise UsageError(f"the answer for {key} in {path} must be a number, not "
                                 f"{_json_type(value)}",
                                 hint='write a number, or a constant expression as text: "1/3"')
    for text in expectations:
        key, equals, value = text.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise UsageError(f"--expect {text}: expected NAME=VALUE",
                             hint="e.g. --expect value=-12 --expect x=-4 (∂f/∂x)")
        answers[key.strip()] = constant_value(value, xp, label=f"{key.strip()}=",
                                              what="--expect")
    return answers


def _answer_number(xp, value, key: str, path: str):
    try:
        return xp.convert(value)
    except OverflowError:  # an integer of 309 digits or more
        raise UsageError(f"the answer for {key} in {path} is too large for a float "
                         "(past 1.8e308)") from None


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a list" if isinstance(value, list) else "an object"


def named_nodes(graph: Graph) -> dict[str, int]:
    """The names an answer can use: the inputs and the assigned intermediate nodes."""
    return {node.name: node.id for node in graph.nodes
            if node.name is not None and node.kind != CONST}


def resolve(graph: Graph, key: str) -> tuple[str, int, str]:
    """What an answer's key names: (quantity shown, node id, "value" or "grad").

    `value` is the output's value, as is the output's own name (∂f/∂f = 1 is never the
    question); `value(q)` is q's value; `x` and `grad(x)` are ∂f/∂x.
    """
    out = render.output_name(graph)
    named = named_nodes(graph)
    wrapped = _WRAPPED.match(key)
    kind, name = (wrapped.group(1), wrapped.group(2).strip()) if wrapped else (None, key.strip())
    if kind is None and name == "value":
        return out, graph.output, "value"
    node = named.get(name, graph.output if name == out else None)
    if node is None:
        raise _unknown_answer(key, name, named, out)
    if kind is None:
        kind = "value" if node == graph.output else "grad"
    return (name if kind == "value" else f"∂{out}/∂{name}"), node, kind


def _unknown_answer(key: str, name: str, named: dict, out: str) -> UndefinedNameError:
    import difflib  # here, not at the top: only this message needs it

    close = difflib.get_close_matches(name, ["value", *named], n=1)
    names = ", ".join(named) or "none"
    hint = (f"did you mean {close[0]}? " if close else "") + \
        f"an answer is value (of {out}), NAME (∂{out}/∂NAME) or value(NAME), " \
        f"for NAME one of: {names}"
    return UndefinedNameError(f"the answer '{key}' names nothing in the expression", hint=hint)


def compare_answer(graph: Graph, result: Result, key: str, given: float,
                   tolerance: float) -> AnswerRow:
    quantity, node, kind = resolve(graph, key)
    computed = result.run.values[node] if kind == "value" else result.run.grads[node]
    if computed is None:
        name = graph.label(graph.nodes[node])
        raise UsageError(f"the answer '{key}': {name} depends on no input, so "
                         f"{quantity} is not computed",
                         hint="answers can check the value of a constant, not a gradient")
    error = relative_error(given, computed)
    # Values closer than 1e-12 count as equal: 0.1 + 0.2 - 0.3 is 5.6e-17, not 0.
    if error <= tolerance or abs(given - computed) <= ZERO:
        return AnswerRow(key, quantity, given, computed, error, PASS, "")
    note = ""
    if error < 1e-2:
        note = f"close: if the answer is rounded, use --tol 1e{math.ceil(math.log10(error))}"
    return AnswerRow(key, quantity, given, computed, error, FAIL, note)


# -- the report on a terminal -------------------------------------------------------------
def _error_cell(error: float | None) -> str:
    if error is None:
        return "—"
    return "0" if error == 0 else f"{error:.1e}"


_STYLES = {PASS: "green", FAIL: "bold red", UNRELIABLE: "yellow"}


def rich_tables(report: Report, precision: int = 6) -> list:
    """The gradient check and the answers as Rich tables (Rich is imported only here)."""
    from rich.table import Table
    from rich.text import Text

    graph = report.result.graph
    out = render.output_name(graph)
    show = lambda value: render.format_number(value, precision)  # noqa: E731
    one_line = "\n" not in graph.source.strip()
    title = f"{graph.source.strip() + '   ' if one_line else ''}" \
            f"(h = {report.step:g}, tol = {report.tolerance:g})"
    tables = []
    if report.gradients:
        table = Table(title=Text(title), title_justify="left", header_style="bold")
        for header, right in (("gradient", False), ("analytic", True), ("numerical", True),
                              ("rel. error", True), ("verdict", False), ("note", False)):
            table.add_column(header, justify="right" if right else "left", overflow="fold")
        for row in report.gradients:
            table.add_row(Text(f"∂{out}/∂{row.name}"), Text(show(row.analytic)),
                          Text(show(row.numerical)), Text(_error_cell(row.relative_error)),
                          Text(row.verdict.upper() if row.verdict == FAIL else row.verdict,
                               style=_STYLES[row.verdict]), Text(row.note))
        tables.append(table)
    if report.answers:
        table = Table(title=Text("answers" if report.gradients else title),
                      title_justify="left", header_style="bold")
        for header, right in (("answer", False), ("given", True), ("computed", True),
                              ("rel. error", True), ("verdict", False), ("note", False)):
            table.add_column(header, justify="right" if right else "left", overflow="fold")
        for row in report.answers:
            table.add_row(Text(row.quantity), Text(show(row.given)), Text(show(row.computed)),
                          Text(_error_cell(row.relative_error)),
                          Text(row.verdict.upper() if row.verdict == FAIL else row.verdict,
                               style=_STYLES[row.verdict]), Text(row.note))
        tables.append(table)
    return tables


def summary(report: Report, precision: int = 6) -> list[str]:
    """The lines under the tables: the output's value, the counts, and the verdict."""
    graph = report.result.graph
    value = render.format_number(report.result.run.values[graph.output], precision)
    parts = []
    if report.gradients:
        counts = report.counts(report.gradients)
        parts.append(f"gradients: {counts[PASS]} pass" +
                     "".join(f", {counts[v]} {v}" for v in (FAIL, UNRELIABLE) if counts[v]))
    else:
        parts.append("no inputs to check numerically")
    if report.answers:
        counts = report.counts(report.answers)
        parts.append(f"answers: {counts[PASS]} right" +
                     (f", {counts[FAIL]} wrong" if counts[FAIL] else ""))
    lines = [f"{render.output_name(graph)} = {value}   " + "; ".join(parts)]
    if report.counts(report.gradients)[UNRELIABLE]:
        lines.append("unreliable is not a failure: the difference cannot judge there (see "
                     "the note); try another --step or point")
    lines.append("check passed" if report.passed else "check FAILED")
    return lines
