"""`gradcalc check`: analytic gradients against central differences, and given answers
against the computed ones, for scalars, vectors and matrices alike.

The graph is lowered once; the engine runs again at x − h and x + h for every checked
element of every input (CS231n's `eval_numerical_gradient`; `sample` checks a few random
elements, as its `grad_check_sparse`). A difference quotient says nothing about the
derivative at x when the step crosses a point where some op moves to another smooth
piece (relu's argument changes sign, max changes its winner, a divisor changes sign).
Every op says where that happens through its `branch` in the op table; a row whose step
crosses one is marked unreliable, not failed.

A difference has its own error: rounding, estimated from every intermediate value (an
intermediate of 1e10 rounds at 2e-6, whatever |f| is), and truncation, estimated from a
second difference and from how the analytic gradient changes across the step. A
disagreement within that error is no evidence against the gradient.
"""
from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field

from . import render
from .api import Result, run_graph
from .bindings import constant_value
from .defaults import CHECK_STEP as STEP, CHECK_TOLERANCE as TOLERANCE
from .errors import DomainError, ShapeError, UndefinedNameError, UsageError
from .limits import DEFAULT, Limits, exceeded
from .lower import CONST, GATE, INPUT, OP, Graph
from .run import backward, forward

EPS = sys.float_info.epsilon
NOISE_ULPS = 4  # the rounding error of one evaluation of f, in units of eps·Σ|node·∂f/∂node|
ANSWER_ULPS = 8  # a computed answer's own rounding error, in units of its error scale
SHOWN = 5  # the worst elements a note names
SMALLEST_STEP = 1e-13  # relative to max(1, |x|): the last step tried for a curved function

PASS, FAIL, UNRELIABLE, CARRIED = "pass", "fail", "unreliable", "carried"

# CS231n's reading of a relative error (cs231n.github.io/neural-networks-3/#gradcheck).
READINGS = ((1e-7, "good (≤ 1e-7)"), (1e-4, "fine only near a kink (≤ 1e-4)"),
            (1e-2, "uncomfortable (≤ 1e-2)"), (math.inf, "probably wrong (> 1e-2)"))

_WRAPPED = re.compile(r"\s*(value|grad)\s*\((.*)\)\s*\Z")
_DECIMAL = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*\Z")


@dataclass
class Element:
    """One element of an input checked: backpropagation against the central difference."""

    index: tuple  # () for a scalar input
    analytic: float
    numerical: float | None  # None where x ± h cannot be evaluated
    relative_error: float | None
    verdict: str
    note: str


@dataclass
class GradientRow:
    """∂f/∂input by backpropagation and by central differences: for a vector or matrix,
    the checked elements, and the row's relative error is their largest."""

    name: str
    point: object
    analytic: object
    numerical: float | None  # the scalar's difference; None for an array (see elements)
    relative_error: float | None
    verdict: str
    note: str
    elements: list[Element] = field(default_factory=list)
    shape: tuple = ()


@dataclass
class AnswerRow:
    """One given answer: what its key names, the given and the computed numbers, and for
    an array the elements that are wrong, as (index, given, computed)."""

    key: str  # as written: "x", "value", "grad(q)", "value(q)"
    quantity: str  # what it names, as the table writes it: "∂f/∂x", "f", "q"
    given: object
    computed: object
    relative_error: float
    verdict: str
    note: str
    wrong: list = field(default_factory=list)


@dataclass
class Given:
    """An answer as written: its value, and the decimal place of its last written digit
    (-2 for -0.20) per element, or None where no digits were written (1/3, a .npy file)."""

    value: object
    places: object = None


@dataclass
class Judge:
    """When an answer is right: within the relative `tolerance`, the absolute `atol`, or
    (`rounded`) when the computed value rounds to it at the digits it is written with."""

    tolerance: float = TOLERANCE
    atol: float = 0.0
    rounded: bool = False

    def __post_init__(self):
        for option, number in (("--tol", self.tolerance), ("--atol", self.atol)):
            if not (math.isfinite(number) and number >= 0):
                raise UsageError(f"{option} must be a finite number ≥ 0, not {number}")

    def right(self, given: float, computed: float, place, noise: float = 0.0) -> bool:
        """One element. A wrong sign is always wrong; `noise` is the computed value's own
        rounding error (0.1 + 0.2 − 0.3 is 5.6e-17, and 0 is the right answer)."""
        if not (math.isfinite(given) and math.isfinite(computed)):
            return given == computed or (math.isnan(given) and math.isnan(computed))
        if given and computed and (given < 0) != (computed < 0):
            return False
        difference = abs(given - computed)
        if difference <= max(noise, self.atol, self.tolerance * max(abs(given), abs(computed))):
            return True
        return self.rounded and place is not None and \
            difference <= 0.5 * 10.0 ** place + 4 * EPS * abs(computed)


@dataclass
class Report:
    result: Result
    step: float
    judge: Judge
    gradients: list[GradientRow]
    answers: list[AnswerRow]
    sample: int | None = None

    @property
    def tolerance(self) -> float:
        return self.judge.tolerance

    @property
    def rows(self) -> list:
        """Every row with its verdict: the gradient check's, then the answers'."""
        return [*self.gradients, *self.answers]

    @property
    def passed(self) -> bool:
        """Exit code 0 or 1: an unreliable row is not a failure."""
        return all(row.verdict != FAIL for row in self.rows)

    def counts(self, rows) -> dict:
        return {verdict: sum(row.verdict == verdict for row in rows)
                for verdict in (PASS, FAIL, UNRELIABLE)}

    def to_dict(self) -> dict:
        """The `check --json` document (README, "The JSON report")."""
        graph, run = self.result.graph, self.result.run
        number = render.json_number
        document = {
            "schema": render.SCHEMA,
            "expression": graph.source,
            "passed": self.passed,
            "value": number(run.values[graph.output]),
            "step": self.step,
            "tolerance": self.judge.tolerance,
            "atol": self.judge.atol,
            "rounded": self.judge.rounded,
            "sample": self.sample,
            "gradient_check": [_gradient_json(row) for row in self.gradients],
            "answers": [_answer_json(row) for row in self.answers],
            "counts": {"gradient_check": self.counts(self.gradients),
                       "answers": self.counts(self.answers)},
            "warnings": render.warning_rows(graph, self.result.warnings),
        }
        return document

    def to_json(self) -> str:
        return render.dumps(self.to_dict())

    def __repr__(self) -> str:  # in a notebook: the terminal's tables (gradcalc.notebook)
        from .notebook import report_repr

        return report_repr(self)

    def _repr_html_(self) -> str:
        from .notebook import report_html

        return report_html(self)


def _gradient_json(row: GradientRow) -> dict:
    number = render.json_number
    document = {"input": row.name, "at": number(row.point), "analytic": number(row.analytic),
                "numerical": number(row.numerical),
                "relative_error": number(row.relative_error), "verdict": row.verdict,
                "note": row.note}
    if row.shape:
        document["shape"] = list(row.shape)
        document["elements"] = [
            {"index": list(e.index), "analytic": number(e.analytic),
             "numerical": number(e.numerical), "relative_error": number(e.relative_error),
             "verdict": e.verdict, "note": e.note} for e in row.elements]
    return document


def _answer_json(row: AnswerRow) -> dict:
    number = render.json_number
    document = {"name": row.key, "quantity": row.quantity, "given": number(row.given),
                "computed": number(row.computed),
                "relative_error": number(row.relative_error), "verdict": row.verdict,
                "note": row.note}
    if getattr(row.computed, "ndim", 0):
        document["wrong"] = [{"index": list(index), "given": number(given),
                              "computed": number(computed)}
                             for index, given, computed in row.wrong]
    return document


def check(graph: Graph, values: dict, xp, *, step: float = STEP, judge: Judge | None = None,
          answers: dict | None = None, sample: int | None = None, seed: int = 0,
          limits: Limits = DEFAULT) -> Report:
    """The gradient check of every input, and the comparison of `answers` ({key: Given, or
    a value as given_answer reads it}).

    `sample` checks that many random elements of each vector or matrix input (all of a
    smaller one), drawn with `seed`. The output must be a scalar (a loss). Raises
    LimitError when its passes over the graph (PASSES_PER_ELEMENT per element checked, and
    two more) would compute more than CHECK_WORK × `limits.nodes` nodes."""
    judge = judge or Judge()
    if not math.isfinite(step):
        raise UsageError(f"--step must be a finite number, not {step}")
    if sample is not None and sample < 1:
        raise UsageError(f"--sample must be at least 1, not {sample}")
    _check_work(graph, values, sample, limits)
    result = run_graph(graph, values, xp=xp)
    _check_work(graph, values, sample, limits, result.run)
    output = result.run.values[graph.output]
    if getattr(output, "ndim", 0):
        raise ShapeError(f"check needs a scalar output (a loss), and this one has shape "
                         f"{_shape_text(output)}", graph.source, graph.nodes[graph.output].span,
                         hint="check a scalar of it, e.g. sum(...) or one element [i]")
    kinks = Kinks(graph, xp)
    scale = error_scale(result.run, xp)
    # An input used only as an index, a label or a condition takes no gradient to check.
    rows = [gradient_row(graph, values, xp, name, result, kinks, step, judge.tolerance,
                         scale, _indices(values[name], sample, seed))
            for name, node in graph.inputs.items() if graph.nodes[node].needs_grad]
    noise = AnswerNoise(graph, result.run, xp)
    other = _other_ties(graph, values, xp, result) if answers else None
    given = [compare_answer(graph, result, key, value if isinstance(value, Given) else
                            given_answer(value, xp, f"{key}=", "the answers"), judge, noise,
                            other, xp)
             for key, value in (answers or {}).items()]
    return Report(result, step, judge, rows, given, sample)


# Forward passes per element checked: x ± h, and x ± 2h for the difference's error bound.
PASSES_PER_ELEMENT = 4
# The work a check may do: in scalars, CHECK_WORK × the node limit nodes (a graph at
# --max-nodes may be checked in 4 inputs, a smaller one in more); with vectors and
# matrices, ARRAY_CHECK_WORK × the element limit numbers computed (seconds of numpy).
CHECK_WORK = 20
ARRAY_CHECK_WORK = 200


def _check_work(graph: Graph, values: dict, sample: int | None, limits: Limits,
                run=None) -> None:
    """Refuse a check whose difference passes would compute more than the work above,
    before any of them runs: nodes for scalars (gate bodies counted, as Graph.work does),
    numbers for arrays (every element of every node, from the first pass `run`)."""
    elements = sum(min(getattr(values[name], "size", 1), sample or math.inf)
                   for name in graph.inputs)
    passes = PASSES_PER_ELEMENT * elements + 2
    if run is None or not any(getattr(value, "ndim", 0) for value in run.values):
        work, unit, budget = passes * graph.work, "nodes", CHECK_WORK * limits.nodes
        limit = f"{CHECK_WORK} × the node limit of {limits.nodes:,}"
        which = "nodes"
    else:
        per_pass = sum(getattr(value, "size", 1) for value in run.values)
        work, unit = passes * per_pass, "numbers"
        budget = ARRAY_CHECK_WORK * limits.elements
        limit = f"{ARRAY_CHECK_WORK} × the element limit of {limits.elements:,}"
        which = "elements"
    if work > budget:
        raise exceeded(which, f"checking {elements:,} input elements would compute "
                              f"{work:,} {unit} ({passes:,} passes), more than {limit}",
                       graph.source, hint="check fewer elements (--sample K), or bind some "
                                          "inputs to numbers in the program")


def relative_error(a: float, b: float) -> float:
    """|a − b| / max(|a|, |b|); 0 when both are 0, inf when only one of them is finite."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0 if a == b else math.inf
    largest = max(abs(a), abs(b))
    return 0.0 if largest == 0 else abs(a - b) / largest


def reading(error: float) -> str:
    return next(text for bound, text in READINGS if error <= bound)


def _shape_text(value) -> str:
    shape = getattr(value, "shape", ())
    return "×".join(map(str, shape)) if shape else "scalar"


def _indices(value, sample: int | None, seed: int) -> list[tuple]:
    """The elements to check: () for a scalar; every index, or `sample` random ones."""
    shape = getattr(value, "shape", ())
    if not shape:
        return [()]
    size = math.prod(shape)
    flat = range(size)
    if sample is not None and sample < size:
        import random

        flat = sorted(random.Random(seed).sample(range(size), sample))
    return [_unravel(i, shape) for i in flat]


def _unravel(flat: int, shape: tuple) -> tuple:
    index = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        index.append(i)
    return tuple(reversed(index))


def _index_text(index: tuple) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def error_scale(run, xp) -> float:
    """Σ |node · ∂f/∂node| over the nodes that depend on an input: the rounding of node n
    moves f by about eps·|n·∂f/∂n|, so f's own rounding error is about eps times this.
    Past the float range it is inf: then no difference is read as a failure (unreliable)."""
    total = 0.0
    with xp.quiet():  # a product past 1.8e308 is inf, as said, not a numpy warning
        for value, grad in zip(run.values, run.grads):
            if grad is not None:
                total += _abs_sum(value * grad)
    return total


def _abs_sum(value) -> float:
    if getattr(value, "ndim", 0):
        return float(abs(value).sum())
    return abs(float(value))


# -- the numerical gradient check ---------------------------------------------------------
def gradient_row(graph: Graph, values: dict, xp, name: str, center: Result, kinks: Kinks,
                 step: float, tolerance: float, scale: float, indices: list) -> GradientRow:
    """One input: each element of `indices` checked, and the verdict of the worst."""
    x = values[name]
    analytic = center.run.grads[graph.inputs[name]]
    elements = [element_check(graph, values, xp, name, index, center, kinks, step,
                              tolerance, scale) for index in indices]
    shape = getattr(x, "shape", ())
    if not shape:
        (element,) = elements
        return GradientRow(name, x, analytic, element.numerical, element.relative_error,
                           element.verdict, element.note)
    errors = [e.relative_error for e in elements if e.relative_error is not None]
    worst = max(errors) if errors else None
    verdict, note = _array_verdict(elements, math.prod(shape), worst)
    return GradientRow(name, x, analytic, None, worst, verdict, note, elements, shape)


def _array_verdict(elements: list[Element], size: int, worst: float | None):
    """The row of a vector or matrix: failed if an element fails, unreliable if one is
    (and none fails); the note names the worst elements by index."""
    sampled = len(elements) < size
    for verdict in (FAIL, UNRELIABLE):
        found = [e for e in elements if e.verdict == verdict]
        if found:
            found.sort(key=lambda e: -(e.relative_error or 0.0))
            shown = "; ".join(_element_note(e) for e in found[:SHOWN])
            more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            of = f"{len(elements)} sampled elements (of {size})" if sampled else \
                f"{size} elements"
            return verdict, f"{len(found)} of {of} {verdict}: {shown}{more}"
    checked = f"{len(elements)} of {size} elements" if sampled else f"{size} elements"
    return PASS, f"{reading(worst or 0.0)}; {checked} checked"


def _element_note(element: Element) -> str:
    show = render.format_number
    head = f"{_index_text(element.index)} analytic {show(element.analytic)}, numerical " \
           f"{show(element.numerical)}"
    return head if element.verdict == FAIL else f"{head} ({element.note})"


def _shifted(values: dict, name: str, index: tuple, point: float) -> dict:
    """The bindings with one element of `name` moved to `point`."""
    if not index:
        return {**values, name: point}
    moved = values[name].copy()
    moved[index] = point
    return {**values, name: moved}


def element_check(graph: Graph, values: dict, xp, name: str, index: tuple, center: Result,
                  kinks: Kinks, step: float, tolerance: float, scale: float) -> Element:
    """Central difference (f(x+h) − f(x−h)) / ((x+h) − (x−h)) against backpropagation."""
    x = values[name][index] if index else values[name]
    analytic = float(center.run.grads[graph.inputs[name]][index] if index else
                     center.run.grads[graph.inputs[name]])
    label = f"{name}{_index_text(index)}" if index else name
    below, above = x - step, x + step

    def unreliable(note, numerical=None, error=None):
        return Element(index, analytic, numerical, error, UNRELIABLE, note)

    if below == x or above == x:
        return unreliable(f"h = {step:g} is below the resolution of {label} = {xp.show(x)}; "
                          "raise --step")
    runs = []
    for side, shifted in (("−", below), ("+", above)):
        try:
            runs.append(forward(graph, _shifted(values, name, index, shifted), xp))
        except DomainError as exc:
            return unreliable(f"at {label} {side} h = {xp.show(shifted)}: {exc.message}")
    f_below, f_above = (float(run.values[graph.output]) for run in runs)
    if not (math.isfinite(f_below) and math.isfinite(f_above)):
        return unreliable(f"{render.output_name(graph)} is not finite at {label} ± h")
    # The step actually taken: x ± h is rounded to a float, so it is not exactly 2h.
    numerical = (f_above - f_below) / float(above - below)
    error = relative_error(analytic, numerical)
    crossed = kinks.crossed(runs[0], center.run, runs[1])
    if crossed is not None:
        return unreliable(f"{label} ± h crosses {crossed}", numerical, error)
    if not math.isfinite(analytic):
        return Element(index, analytic, numerical, error, FAIL,
                       f"the analytic gradient is {analytic}")
    if error <= tolerance:
        return Element(index, analytic, numerical, error, PASS, reading(error))
    curved = too_curved(graph, values, xp, name, index, label, runs, analytic, step,
                        tolerance, kinks, center, scale)
    if curved is not None:
        return Element(index, analytic, numerical, error, *curved)
    noise = NOISE_ULPS * EPS * max(scale, abs(f_below), abs(f_above)) / step
    bound = truncation_bound(graph, values, xp, name, index, center, kinks, step, numerical)
    if abs(analytic - numerical) <= bound + noise:
        cause, advice = ("rounding in the intermediates", "a larger") if noise > bound else \
            ("truncation", "a smaller")
        return unreliable(f"the difference's own error (±{bound + noise:.1e}, mostly "
                          f"{cause}) is larger than the disagreement; try {advice} --step",
                          numerical, error)
    return Element(index, analytic, numerical, error, FAIL, reading(error))


def truncation_bound(graph: Graph, values: dict, xp, name: str, index: tuple,
                     center: Result, kinks: Kinks, step: float, numerical: float) -> float:
    """How far the central difference may be from the derivative by truncation, estimated
    from the difference with step 2h, whose truncation error is 4 times as large: x^3 at
    0 has derivative 0, its difference is h², and their relative error is 1."""
    x = values[name][index] if index else values[name]
    below, above = x - 2 * step, x + 2 * step
    try:
        runs = [forward(graph, _shifted(values, name, index, shifted), xp)
                for shifted in (below, above)]
    except DomainError:
        return 0.0
    f_below, f_above = (float(run.values[graph.output]) for run in runs)
    if not (math.isfinite(f_below) and math.isfinite(f_above)) or \
            kinks.crossed(runs[0], center.run, runs[1]) is not None:
        return 0.0
    wide = (f_above - f_below) / float(above - below)
    return 2 * abs(wide - numerical) / 3


def too_curved(graph: Graph, values: dict, xp, name: str, index: tuple, label: str, runs,
               analytic: float, step: float, tolerance: float, kinks: Kinks,
               center: Result, scale: float) -> tuple[str, str] | None:
    """(verdict, note) when h is too large for the function's curvature: the analytic
    gradient changes across x ± h by a fair part of its own size (sin(1e8·x): the step
    spans 300 periods). Smaller steps are tried: the first where the difference agrees is
    named; one where it disagrees beyond its own rounding error is a failure."""
    slopes = _slopes_at(graph, xp, runs, name, index)
    if slopes is None or not _changes_across(analytic, *slopes):
        return None
    x = values[name][index] if index else values[name]
    head = (f"h = {step:g} is too large for the curvature here (∂/∂{label} goes from "
            f"{render.format_number(slopes[0])} to {render.format_number(slopes[1])} across "
            "x ± h)")
    smaller = step / 10
    while smaller >= SMALLEST_STEP * max(1.0, abs(float(x))):
        try:
            near = [forward(graph, _shifted(values, name, index, x + side * smaller), xp)
                    for side in (-1, 1)]
        except DomainError:
            break
        if kinks.crossed(near[0], center.run, near[1]) is not None:
            break
        near_slopes = _slopes_at(graph, xp, near, name, index)
        if near_slopes is not None and not _changes_across(analytic, *near_slopes):
            f_below, f_above = (float(run.values[graph.output]) for run in near)
            numerical = (f_above - f_below) / float((x + smaller) - (x - smaller))
            if relative_error(analytic, numerical) <= tolerance:
                return UNRELIABLE, f"{head}; with --step {smaller:.0e} it passes"
            noise = NOISE_ULPS * EPS * max(scale, abs(f_below), abs(f_above)) / smaller
            if abs(analytic - numerical) > noise + abs(near_slopes[1] - near_slopes[0]):
                return FAIL, f"{reading(relative_error(analytic, numerical))} at --step " \
                             f"{smaller:.0e} ({head})"
        smaller /= 10
    return UNRELIABLE, (f"{head}, and no step gives a difference accurate to --tol here: "
                        "rounding grows as the step shrinks")


def _slopes_at(graph: Graph, xp, runs, name: str, index: tuple):
    """The analytic ∂f/∂element at x − h and x + h (backprop on the runs made there)."""
    slopes = []
    for run in runs:
        try:
            backward(graph, run, xp, xp.convert(1))
        except (ArithmeticError, ValueError):
            return None
        grad = run.grads[graph.inputs[name]]
        slopes.append(float(grad[index] if index else grad))
    return slopes if all(map(math.isfinite, slopes)) else None


def _changes_across(center: float, below: float, above: float) -> bool:
    """Whether the gradient moves across the step by a fair part of its own size: then the
    difference, an average of the gradient over the step, cannot stand for it."""
    return abs(above - below) > 0.1 * max(abs(center), abs(below), abs(above))


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
        """The first kink or pole whose piece differs between the runs (x−h, x, x+h);
        a piece of an array op is compared element by element."""
        seen = [self.pieces(run.values) for run in runs]
        for path, (label, op, piece) in seen[0].items():
            if any(not _same_piece(other[path][2], piece) for other in seen[1:]):
                return f"a {'kink' if op.kink is not None else 'pole'} of {label}"
        return None


def _same_piece(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        bool((x == y).all()) if getattr(x, "ndim", 0) or getattr(y, "ndim", 0) else x == y
        for x, y in zip(a, b))


# -- given answers ---------------------------------------------------------------------------
def read_answers(path: str | None, expectations, xp) -> dict:
    """{key: Given} from an --answers JSON file, then `--expect KEY=VALUE` (these win).

    A value is a number, a nested list, a constant expression (`-4`, `1/3`, `pi/4`), or
    `@FILE.npy` (numpy's format, read without pickles).
    """
    from decimal import Decimal  # the digits as written, for --rounded

    from .bindings import read_json_object

    answers = {}
    if path:
        data = read_json_object(path, "the answers file", '{"value": -12, "x": -4}',
                                parse_float=Decimal)
        for key, value in data.items():
            answers[key] = given_answer(value, xp, f"{key}=", f"the answers file {path},")
    for text in expectations:
        key, equals, value = text.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise UsageError(f"--expect {text}: expected NAME=VALUE",
                             hint="e.g. --expect value=-12 --expect x=-4 (∂f/∂x)")
        answers[key.strip()] = given_answer(value, xp, f"{key.strip()}=", "--expect")
    return answers


def given_answer(raw, xp, label: str, what: str) -> Given:
    """One answer as given: text (a number, a list, a constant expression, @FILE.npy), a
    number, a nested list, or a numpy array; with the digits it is written with."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("@"):
            return Given(load_npy(text[1:], _answer_name(label, what)))
        if "[" in text:  # a list literal: numpy computes it
            from .arrays import ArrayArith

            return Given(constant_value(text, ArrayArith(xp.ties), label=label, what=what),
                         _text_places(text))
        return Given(constant_value(text, xp, label=label, what=what), _text_places(text))
    if isinstance(raw, list):
        return Given(_array(raw, label, what), _places(raw))
    if _is_number(raw):
        try:
            number = float(raw)
        except OverflowError:  # an integer of 309 digits or more
            number = math.inf
        if math.isinf(number):  # or a Decimal past 1.8e308
            raise UsageError(f"{_answer_name(label, what)} is too large for a float (past "
                             "1.8e308)", hint="write the answer a float can hold")
        return Given(xp.convert(number), _places(raw))
    if hasattr(raw, "__array__"):
        return Given(_array(raw, label, what))
    raise UsageError(f"{_answer_name(label, what)} must be a number, not {_json_type(raw)}",
                     hint='write a number, a list of numbers, or a constant expression as '
                          'text: "1/3"')


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or \
        type(value).__name__ == "Decimal"


def _array(raw, label: str, what: str):
    """A nested list or an array as float64 (numpy is imported only for array answers)."""
    from .arrays import ArrayArith

    if isinstance(raw, list):
        stack = [raw]
        while stack:  # iteratively: a deeply nested list must not reach the recursion limit
            for item in stack.pop():
                if isinstance(item, list):
                    stack.append(item)
                elif not _is_number(item):
                    raise UsageError(f"{_answer_name(label, what)} holds "
                                     f"{_json_type(item)}, not a number",
                                     hint="an array answer is a nested list of numbers")
    try:
        return ArrayArith.convert(_floats(raw) if isinstance(raw, list) else raw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{_answer_name(label, what)} is not usable: {exc}",
                         hint="give a number or a nested list of numbers") from None


def _answer_name(label: str, what: str) -> str:
    """"the answer for x in the answers file a.json" (either part may be missing)."""
    name = f" for {label[:-1]}" if label else ""
    place = f" in {what.rstrip(',')}" if what else ""
    return f"the answer{name}{place}"


def _floats(nested: list) -> list:
    """Decimals (read from JSON with their digits) as floats, at any depth."""
    import numpy as np

    return np.vectorize(float, otypes=[float])(np.array(nested, dtype=object)).tolist() \
        if nested else []


def load_npy(path: str, what: str):
    """A .npy file of numbers (np.load without pickles)."""
    import numpy as np

    from .arrays import ArrayArith

    try:
        array = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"cannot read {what} from {path}: {exc.strerror or exc}",
                         hint="check the path; the file is written by numpy.save") from None
    except ValueError as exc:
        raise UsageError(f"{what}: {path} is not a numpy .npy file of numbers ({exc})",
                         hint="write it with numpy.save(path, array) from a float array") \
            from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise UsageError(f"{what}: {path} does not hold one array of numbers",
                         hint="write it with numpy.save(path, array) from a float array")
    try:
        return ArrayArith.convert(array.astype(np.float64))
    except ValueError as exc:
        raise UsageError(f"{what}: {path}: {exc}") from None


def _place(number) -> int | None:
    """The decimal place of the last digit written: -2 for 0.20, 0 for 4, -4 for 1.5e-3."""
    from decimal import Decimal

    if isinstance(number, int):
        return 0
    decimal = number if isinstance(number, Decimal) else Decimal(repr(float(number)))
    exponent = decimal.as_tuple().exponent
    return exponent if isinstance(exponent, int) else None


def _places(raw):
    """_place of a number, or a flat list of them for a nested list."""
    if not isinstance(raw, list):
        return _place(raw)
    return [_place(item) for item in _flatten(raw)]


def _flatten(nested) -> list:
    flat, stack = [], [iter(nested)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _text_places(text: str):
    """The written digits of a number or a list of numbers as text; None for 1/3."""
    from decimal import Decimal

    if _DECIMAL.match(text):
        return _place(Decimal(text.strip()))
    if text.startswith("["):
        try:
            return _places(json.loads(text, parse_float=Decimal, parse_int=Decimal))
        except (ValueError, TypeError):
            return None
    return None


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "text"
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


def computed_answer(graph: Graph, result: Result, key: str):
    """(quantity, node id, kind, computed value) of an answer's key."""
    quantity, node, kind = resolve(graph, key)
    computed = result.run.values[node] if kind == "value" else result.run.grads[node]
    if computed is None:
        name = graph.label(graph.nodes[node])
        raise UsageError(f"the answer '{key}': {name} depends on no input, so "
                         f"{quantity} is not computed",
                         hint="answers can check the value of a constant, not a gradient")
    return quantity, node, kind, computed


def check_shape(key: str, quantity: str, given, computed) -> None:
    """An answer has the shape of what it names; a wrong shape names both."""
    if getattr(given, "shape", ()) != getattr(computed, "shape", ()):
        shape = getattr(computed, "shape", ())
        raise ShapeError(f"the answer '{key}' {_is_shaped(given)} but {quantity} "
                         f"{_is_shaped(computed)}",
                         hint=f"give {quantity} as a nested list of shape "
                              f"{_shape_text(computed)}" if shape else
                              f"give {quantity} as one number")


def _is_shaped(value) -> str:
    shape = getattr(value, "shape", ())
    return f"has shape {_shape_text(value)}" if shape else "is a scalar"


def elements(value) -> list[float]:
    """A number or an array as a flat list of floats (row-major)."""
    if getattr(value, "ndim", 0):
        return value.ravel().tolist()
    return [float(value)]


def _place_list(places, size: int) -> list:
    if isinstance(places, list):
        return places if len(places) == size else [None] * size
    return [places] * size


def judged(judge: Judge, given: Given, computed, noise: list) -> list[bool]:
    """Each element right or not (flat, row-major)."""
    flat = elements(computed)
    return [judge.right(g, c, p, n) for g, c, p, n in
            zip(elements(given.value), flat, _place_list(given.places, len(flat)), noise)]


def _other_ties(graph: Graph, values: dict, xp, result: Result) -> Result | None:
    """The run under the other --ties policy, when some tie or kink is hit exactly (its
    warnings say so): where a gradient differs between the two, it depends on the
    subgradient taken, and any subgradient is a right answer."""
    if not result.warnings:
        return None
    try:
        return run_graph(graph, values, xp=type(xp)("first" if xp.ties == "split" else "split"))
    except (DomainError, ShapeError):
        return None


def _tie_note(judge: Judge, xp, other: Result | None, node: int, kind: str,
              pairs: list, right: list) -> str:
    """When every wrong element is at a tie or kink (its gradient differs under the other
    --ties policy): the policy under which the answer is right, or that it is a
    subgradient there (between the tie given all to one side and all to the other)."""
    if other is None or kind == "value" or other.run.grads[node] is None:
        return ""
    policy = "first" if xp.ties == "split" else "split"
    alternatives = elements(other.run.grads[node])
    wrong = [(given, computed, alternative) for (given, computed), alternative, ok
             in zip(pairs, alternatives, right) if not ok]
    if not all(not judge.right(alternative, computed, None) for _, computed, alternative
               in wrong):
        return ""
    if all(judge.right(given, alternative, None) for given, _, alternative in wrong):
        return f"at a tie or kink: right with --ties {policy}"
    if all(_within_subgradients(judge, given, computed, alternative, xp.ties)
           for given, computed, alternative in wrong):
        return "at a tie or kink, where any subgradient is right: --ties split or " \
            "first picks the one to compare with"
    return ""


def _within_subgradients(judge: Judge, given: float, computed: float, alternative: float,
                         ties: str) -> bool:
    """Between the gradient with the tie given all to one side (first) and all to the
    other (2·split − first)."""
    split, first = (computed, alternative) if ties == "split" else (alternative, computed)
    low, high = sorted((first, 2 * split - first))
    return low <= given <= high or judge.right(given, low, None) or \
        judge.right(given, high, None)


def compare_answer(graph: Graph, result: Result, key: str, given: Given, judge: Judge,
                   noise: AnswerNoise, other: Result | None = None, xp=None) -> AnswerRow:
    """An answer judged element by element; `other` is the run under the other --ties
    policy (_other_ties), which names the policy a wrong answer at a tie follows."""
    quantity, node, kind, computed = computed_answer(graph, result, key)
    check_shape(key, quantity, given.value, computed)
    own_error = noise.of(node, kind, computed)
    right = judged(judge, given, computed, own_error)
    pairs = list(zip(elements(given.value), elements(computed)))
    error = max((relative_error(g, c) for g, c in pairs), default=0.0)
    if all(right):
        return AnswerRow(key, quantity, given.value, computed, error, PASS, "")
    shape = getattr(computed, "shape", ())
    wrong = [(_unravel(i, shape), g, c) for i, ((g, c), ok) in enumerate(zip(pairs, right))
             if not ok] if shape else []
    note = wrong_note(wrong, len(pairs)) if shape else \
        near_miss(judge, given, computed, own_error, error)
    tie = _tie_note(judge, xp, other, node, kind, pairs, right)
    note = "; ".join(part for part in (note, tie) if part)
    return AnswerRow(key, quantity, given.value, computed, error, FAIL, note, wrong)


def wrong_note(wrong: list, size: int) -> str:
    """Which elements of an array answer are wrong, with the right values."""
    show = render.format_number
    named = "; ".join(f"{_index_text(i)} given {show(g)}, right {show(c)}"
                      for i, g, c in wrong[:SHOWN])
    more = f"; and {len(wrong) - SHOWN} more" if len(wrong) > SHOWN else ""
    return f"{len(wrong)} of {size} elements wrong: {named}{more}"


def near_miss(judge: Judge, given: Given, computed, noise: list, error: float) -> str:
    """A wrong scalar that is close: the option under which it would be right."""
    if not judge.rounded and all(judged(Judge(judge.tolerance, judge.atol, True), given,
                                        computed, noise)):
        return "right when rounded to the digits given: use --rounded"
    if 0 < error < 1e-2 and given.value * computed > 0:
        return f"close: if the answer is rounded, use --rounded or --tol " \
               f"1e{math.ceil(math.log10(error))}"
    return ""


class AnswerNoise:
    """A computed answer's own rounding error, per element: for floats, a running error
    analysis (each node's rounding, eps·|node|, carried to the answer by the absolute
    local gradients); for arrays, eps·|answer|."""

    def __init__(self, graph: Graph, run, xp):
        self.graph, self.run, self.xp = graph, run, xp
        self._values = self._grads = None

    def of(self, node: int, kind: str, computed) -> list[float]:
        if self.xp.name == "array":
            return [ANSWER_ULPS * EPS * abs(c) for c in elements(computed)]
        if kind == "value":
            if self._values is None:
                self._values = _running_error(self.graph, self.run, self.xp)
            return [ANSWER_ULPS * self._values[node]]
        if self._grads is None:
            self._grads = _absolute_backward(self.graph, self.run, self.xp)
        return [ANSWER_ULPS * EPS * self._grads[node]]


def local_slopes(graph: Graph, node, run, xp) -> list:
    """∂node/∂argument for a scalar node: the op table's local gradients (a gate's from
    the backward pass, or 1 where it left none)."""
    args = [run.values[i] for i in node.inputs]
    if node.kind == OP and node.op.local is not None:
        try:
            return [float(s) for s in node.op.local(xp, run.values[node.id], *args)]
        except (ArithmeticError, ValueError, TypeError):
            return [1.0] * len(args)
    recorded = run.local[node.id] if run.local is not None else None
    if recorded is None:
        return [1.0] * len(args)
    return [1.0 if s is None else float(s) for s in recorded]


def _running_error(graph: Graph, run, xp) -> list[float]:
    """Each node's rounding error, forwards: eps·|node| plus its arguments' errors times
    the absolute local gradients (Wilkinson's running error analysis, to first order)."""
    error = [0.0] * len(graph.nodes)
    for node in graph.nodes:
        value = abs(float(run.values[node.id]))
        if node.kind == CONST:
            error[node.id] = 0.5 * EPS * value
        elif node.kind != INPUT:
            carried = sum(abs(s) * error[i] for s, i in
                          zip(local_slopes(graph, node, run, xp), node.inputs) if error[i])
            error[node.id] = EPS * value + carried
    return error


def _absolute_backward(graph: Graph, run, xp) -> list[float]:
    """Backprop with absolute local gradients: the size of the terms whose sum is each
    gradient, so that a gradient that cancels to 5e-17 is read at the scale of its terms."""
    total = [0.0] * len(graph.nodes)
    total[graph.output] = 1.0
    for node in reversed(graph.nodes):
        if node.kind in (INPUT, CONST) or not total[node.id]:
            continue
        for slope, i in zip(local_slopes(graph, node, run, xp), node.inputs):
            term = total[node.id] * abs(slope)
            if math.isfinite(term):
                total[i] += term
    return total


# -- the report on a terminal -------------------------------------------------------------
def _error_cell(error: float | None) -> str:
    if error is None:
        return "—"
    return "0" if error == 0 else f"{error:.1e}"


_STYLES = {PASS: "green", FAIL: "bold red", UNRELIABLE: "yellow", CARRIED: "cyan"}


def _options_title(report: Report) -> str:
    judge = report.judge
    parts = [f"h = {report.step:g}", f"tol = {judge.tolerance:g}"]
    if judge.atol:
        parts.append(f"atol = {judge.atol:g}")
    if judge.rounded:
        parts.append("rounded")
    if report.sample is not None:
        parts.append(f"sample = {report.sample}")
    return "(" + ", ".join(parts) + ")"


def rich_tables(report: Report, precision: int = 6) -> list:
    """The gradient check and the answers as Rich tables (Rich is imported only here)."""
    from rich.table import Table
    from rich.text import Text

    graph = report.result.graph
    out = render.output_name(graph)
    show = lambda value: render.format_number(value, precision)  # noqa: E731
    one_line = "\n" not in graph.source.strip()
    title = f"{graph.source.strip() + '   ' if one_line else ''}{_options_title(report)}"
    tables = []
    if report.gradients:
        table = Table(title=Text(title), title_justify="left", header_style="bold")
        for header, right in (("gradient", False), ("analytic", True), ("numerical", True),
                              ("rel. error", True), ("verdict", False), ("note", False)):
            table.add_column(header, justify="right" if right else "left", overflow="fold")
        for row in report.gradients:
            table.add_row(Text(f"∂{out}/∂{row.name}"), Text(show(row.analytic)),
                          Text(show(row.numerical) if not row.shape else "(per element)"),
                          Text(_error_cell(row.relative_error)),
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
