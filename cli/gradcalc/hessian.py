"""Second derivatives: the Hessian and Hessian-vector products by forward over reverse.

The backward pass runs in dual numbers (gradcalc.dual) through the same op table: seeded
with tangent v on the inputs, each input's gradient comes back as ∂f/∂x_i + (H·v)_i·ε.
One pass per input (v = e_j) gives column j of H; one pass with v gives H·v without the
matrix (Pearlmutter's trick, as JAX's `jvp(grad(f))`). No finite differences.
"""
from __future__ import annotations

import math

from .api import run_graph
from .dual import Dual, DualArith, directional, refuse_arrays, tangent_of, value_of
from .errors import LimitError, UsageError
from .run import backward, forward

# Appended to a kink's gradient warning: what the Hessian does there.
KINK_NOTE = ("; second derivatives through it do not exist here either, and the Hessian "
             "takes the same convention")


class SecondOrder:
    """A Hessian (or H·v) of a scalar output at a point, with the first-order answer.

    `inputs`: the names, in the order of the matrix's rows and columns. `matrix`: n×n
    nested lists (None under --hvp); `product`: H·direction (None without). `warnings`:
    (node id or None, message), as Result.warnings.
    """

    def __init__(self, inputs, value, gradients, warnings, matrix=None, direction=None,
                 product=None):
        self.inputs = inputs
        self.value = value
        self.gradients = gradients
        self.warnings = warnings
        self.matrix = matrix
        self.direction = direction
        self.product = product


def hessian_vector_product(graph, values: dict, direction: dict, ties: str = "split"):
    """H·v at `values`: one backward pass in dual numbers seeded with tangents `direction`.

    Returns ([(H·v)_i per input, in graph.inputs order], warnings of the pass).
    Raises DomainError where the forward pass is undefined, as eval does.
    """
    xp = DualArith(ties)
    run = forward(graph, directional(values, direction), xp)
    seen = len(run.warnings)
    backward(graph, run, xp, Dual(1.0, 0.0))
    product = [_change_of(run.grads[i]) for i in graph.inputs.values()]
    return product, run.warnings[seen:]


def _change_of(gradient):
    """The tangent part of an input's gradient: 0 where none flows, and nan where the
    gradient itself is nan (∂f/∂y of x^y at x < 0), since a value that is not a number
    has no derivative, though a tangent of 0 times its nan slope is kept as 0."""
    if gradient is None:
        return 0.0
    return math.nan if value_of(gradient) != value_of(gradient) else tangent_of(gradient)


# A Hessian is one backward pass in dual numbers per input (about 2 µs a node): past this
# many node visits (some 20 s), H·v, one pass, is what is offered instead.
MAX_HESSIAN_WORK = 10_000_000
# What works instead of a Hessian over arrays (gradcalc.dual.refuse_arrays).
SCALARS_INSTEAD = ("write each element as an input of its own: for sum(w^2) at w=[1,2], "
                   "w0^2 + w1^2 at w0=1 w1=2")


def second_order(graph, values: dict, xp, direction=None,
                 command: str = "hessian") -> SecondOrder:
    """The Hessian of a scalar output over scalar inputs (or H·direction).

    `values` are floats (FloatArith `xp`); `direction` a list of floats, one per input in
    graph.inputs order. Raises ShapeError (naming `command`) for vectors and matrices,
    UsageError for a direction of the wrong length.
    """
    refuse_arrays(graph, values, command, SCALARS_INSTEAD)
    names = list(graph.inputs)
    if direction is None and len(names) * graph.work > MAX_HESSIAN_WORK:
        raise LimitError(f"the Hessian of {len(names):,} inputs takes a backward pass per "
                         f"input over {graph.work:,} nodes, past the "
                         f"{MAX_HESSIAN_WORK:,} node visits gradcalc makes at once",
                         hint="--hvp v gives H·v in one pass")
    result = run_graph(graph, values, xp=xp)
    kinks = []
    # inputs that take no gradient (a where's condition only): no second derivative either
    constant = {name for name, grad in result.gradients.items() if grad is None}

    def column(tangents):
        product, inner = hessian_vector_product(graph, values, tangents, xp.ties)
        kinks.extend(warning for warning in inner if warning not in kinks)
        return product

    if direction is not None:
        if len(direction) != len(names):
            example = ",".join(["1"] + ["0"] * (len(names) - 1))
            listed = f" ({', '.join(names)})" if names else ""
            raise UsageError(f"--hvp has {_count(len(direction), 'number')} and the "
                             f"expression {_count(len(names), 'input')}{listed}",
                             hint=f"give one number per input, in this order, e.g. --hvp "
                                  f"{example}" if names else
                             "drop --hvp: there is nothing to differentiate")
        product = _blank(column(dict(zip(names, direction))), names, constant)
        entries = [(names[i], None, v) for i, v in enumerate(product)]
        second = dict(direction=list(direction), product=product)
    else:
        columns = [column({name: 1.0}) for name in names]
        matrix = [_blank([columns[j][i] for j in range(len(names))], names, constant)
                  if names[i] not in constant else [None] * len(names)
                  for i in range(len(names))]
        # one entry per symmetric pair, and a lower one where only it is not finite (the
        # row of a gradient that is nan: ∂/∂x of ∂f/∂y does not exist, ∂/∂y of ∂f/∂x may)
        entries = [(a, b, matrix[i][j]) for i, a in enumerate(names)
                   for j, b in enumerate(names)
                   if j >= i or matrix[j][i] is None or xp.isfinite(matrix[j][i])]
        second = dict(matrix=matrix)
    # the gradient's kink warnings say what the Hessian does there too
    warnings = [(node, message + KINK_NOTE if (node, message) in kinks else message)
                for node, message in result.warnings]
    warnings += _not_finite(graph, [e for e in entries if e[2] is not None], xp)
    return SecondOrder(names, result.value, result.gradients, warnings, **second)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _blank(row: list, names: list, constant: set) -> list:
    return [None if name in constant else v for name, v in zip(names, row)]


def _not_finite(graph, entries, xp) -> list:
    """A warning per Hessian entry (or H·v element) that is inf or nan."""
    found = []
    for a, b, entry in entries:
        if not xp.isfinite(entry):
            what = f"(H·v) for {a}" if b is None else \
                (f"∂²f/∂{a}²" if a == b else f"∂²f/∂{a}∂{b}")
            found.append((graph.inputs[a], f"{what} is {xp.show(entry)}: the second "
                                           "derivative is not finite here"))
    return found


def parse_direction(text: str) -> list[float]:
    """--hvp's vector: numbers separated by commas, optionally in brackets ("[1, 0]").
    Raises UsageError for anything else (a nested list, an unclosed bracket, text)."""
    body = text.strip()
    if body.startswith("[") or body.endswith("]"):
        body = body.removeprefix("[").removesuffix("]")
        if not (text.strip().startswith("[") and text.strip().endswith("]")) or \
                "[" in body or "]" in body:
            raise UsageError(f"--hvp takes one flat list of numbers, and {text.strip()} is "
                             "not one (a bracket is unclosed, or the list is nested)",
                             hint='give one number per input, e.g. --hvp "1,0" or '
                                  '--hvp "[1,0]"')
    numbers = []
    for item in body.split(","):
        try:
            number = float(item)
        except ValueError:
            raise UsageError(f"--hvp needs numbers, and {item.strip()!r} is not one",
                             hint='give one number per input, e.g. --hvp "1,0"') from None
        if number != number or number in (float("inf"), float("-inf")):
            raise UsageError(f"--hvp needs finite numbers, and {item.strip()} is not",
                             hint='give one number per input, e.g. --hvp "1,0"')
        numbers.append(number)
    return numbers


def to_dict(second: SecondOrder, graph) -> dict:
    """The --json document: inputs, hessian (or direction and hvp), value, gradients,
    warnings; non-finite numbers as "inf", "-inf", "nan" (as eval's)."""
    from .render import json_number, warning_rows

    document = {"inputs": second.inputs}
    if second.matrix is not None:
        document["hessian"] = [[json_number(v) for v in row] for row in second.matrix]
    else:
        document["direction"] = second.direction
        document["hvp"] = [json_number(v) for v in second.product]
    document["value"] = json_number(second.value)
    document["gradients"] = {k: json_number(v) for k, v in second.gradients.items()}
    document["warnings"] = warning_rows(graph, second.warnings)
    return document


def text_lines(second: SecondOrder, precision: int) -> list[str]:
    """The value, the gradient, and the Hessian as a matrix with rows and columns named
    by input (or H·v per input), in columns aligned for the terminal."""
    from .render import format_number

    def show(v):
        return format_number(v, precision)

    names = second.inputs
    if not names:
        return [f"f = {show(second.value)}", "no inputs: there is nothing to differentiate"]
    lines = [f"f = {show(second.value)}",
             "∇f: " + ", ".join(f"∂f/∂{k} = {show(v)}" for k, v in second.gradients.items())]
    if second.matrix is None:
        lines.append("H·v, v = (" + ", ".join(show(v) for v in second.direction) + "):")
        rows = [[name, show(v)] for name, v in zip(names, second.product)]
    else:
        lines.append("Hessian, ∂²f/∂row∂column:")
        rows = [["", *names]] + [[name, *map(show, row)]
                                 for name, row in zip(names, second.matrix)]
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines += ["  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths)).rstrip()
              for row in rows]
    return lines


class SecondOrderCheck:
    """`check --order 2`: each Hessian entry beside central differences of the gradient,
    (∂f/∂x_i(x + h·e_j) − ∂f/∂x_i(x − h·e_j)) / 2h, as `entries` of (row, column,
    hessian, numerical, relative error, verdict, note). A verdict is checking's "pass",
    "fail" or "unreliable" (a step outside the domain: not a failure, as in --order 1)."""

    def __init__(self, second: SecondOrder, step: float, tolerance: float, entries: list):
        self.second = second
        self.step = step
        self.tolerance = tolerance
        self.entries = entries

    @property
    def passed(self) -> bool:
        from .checking import FAIL

        return all(entry[5] != FAIL for entry in self.entries)

    def to_dict(self, graph) -> dict:
        from .checking import FAIL
        from .render import json_number, warning_rows

        return {"order": 2, "step": self.step, "tolerance": self.tolerance,
                "passed": self.passed,
                "entries": [{"row": row, "column": column, "hessian": json_number(exact),
                             "numerical": _json_or_none(numerical),
                             "relative_error": _json_or_none(error),
                             "passed": verdict != FAIL, "verdict": verdict, "note": note}
                            for row, column, exact, numerical, error, verdict, note
                            in self.entries],
                "warnings": warning_rows(graph, self.second.warnings)}

    def text_lines(self, precision: int) -> list[str]:
        from .checking import FAIL, PASS
        from .render import format_number

        rows = [["entry", "Hessian", "numerical", "rel. error", "verdict"]]
        notes = []
        for row, column, exact, numerical, error, verdict, note in self.entries:
            rows.append([f"∂²f/∂{row}²" if row == column else f"∂²f/∂{row}∂{column}",
                         format_number(exact, precision),
                         "—" if numerical is None else format_number(numerical, precision),
                         "—" if error is None else f"{error:.1e}",
                         {PASS: "ok", FAIL: "FAIL"}.get(verdict, verdict)])
            if note is not None and note not in notes:
                notes.append(note)
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        verdict = "every entry agrees" if self.passed else "some entries disagree"
        if notes and self.passed:
            verdict = "no entry disagrees"
        unchecked = ["unreliable is not a failure: the difference cannot judge there (see "
                     "the note); try another --step or point"] if notes else []
        return ([f"Hessian against central differences of the gradient (h = {self.step:g}):"]
                + ["  " + "  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip()
                   for r in rows]
                + [f"  note: {note}" for note in notes]
                + [f"{verdict} (tolerance {self.tolerance:g})"] + unchecked)


def _json_or_none(number):
    from .render import json_number

    return None if number is None else json_number(number)


def check_second_order(graph, values: dict, xp, step: float, tolerance: float):
    """The Hessian checked against central differences of the gradient (2 gradient runs
    per input). An entry passes within `tolerance` relative to the larger of the two, or
    within the differences' own rounding error (about ε·|∂f/∂x_i|/h for row i). Where x_j ± h leaves the
    domain (log at x = 1e-6) or x_j ± h rounds to x_j, column j is unreliable, with a note
    saying why."""
    from .checking import FAIL, PASS, UNRELIABLE, relative_error

    second = second_order(graph, values, xp, command="check --order 2")
    names = second.inputs
    entries = []
    for j, column in enumerate(names):
        gradients, note, taken = _shifted_gradients(graph, values, xp, column, step)
        for i, row in enumerate(names):
            exact = second.matrix[i][j]
            if exact is None:
                continue
            if gradients is None:
                entries.append((row, column, exact, None, None, UNRELIABLE, note))
                continue
            below, above = gradients
            numerical = (above[row] - below[row]) / taken
            error = relative_error(exact, numerical)
            # the rounding in this row's gradient, not the largest gradient's (1e20·z
            # beside tanh(x) would let any ∂²f/∂x² pass)
            noise = 64 * 2.0 ** -52 * max(abs(below[row]), abs(above[row]), 1.0) / step
            passed = math.isfinite(exact) and math.isfinite(numerical) and \
                abs(exact - numerical) <= max(noise, tolerance * max(abs(exact), abs(numerical)))
            entries.append((row, column, exact, numerical, error, PASS if passed else FAIL,
                            None))
    return SecondOrderCheck(second, step, tolerance, entries)


def _shifted_gradients(graph, values: dict, xp, name: str, step: float):
    """((gradients at name − h, at name + h), None, the step taken), or (None, a note,
    None) where a step leaves the domain or is lost in rounding. The step taken is
    (x + h) − (x − h) as floats, not exactly 2h (as --order 1 divides)."""
    from .errors import DomainError

    x = values[name]
    below, above = x - step, x + step
    if below == x or above == x:
        return None, (f"h = {step:g} is below the resolution of {name} = {xp.show(x)}; "
                      "raise --step"), None
    runs = []
    for side, shifted in (("−", below), ("+", above)):
        try:
            runs.append(run_graph(graph, {**values, name: shifted}, xp=xp).gradients)
        except DomainError as exc:
            return None, f"at {name} {side} h = {xp.show(shifted)}: {exc.message}", None
    return tuple(runs), None, float(above - below)
