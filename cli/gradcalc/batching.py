"""Batch: the value and the gradients of one expression at many points (README, "Batch").

The graph is lowered once. Each chunk of points then goes through it in one pass, every
input bound to a 1-D numpy array of that chunk's values, so the op table's rules run
elementwise over all points at once: the same rules as `gradcalc eval`, not a copy.
The two loops over the nodes are this module's own rather than run.forward/backward,
because a batch needs what a whole-array run does not give:

- per-point gradients (a gradient is never summed over points, even for a constant
  binding shared by all rows);
- the rows behind a failed domain test (`log` of a negative on row 3 of 10,000): the
  failing rows are taken out and the others go on;
- kink and overflow warnings counted per node over all rows, not repeated per row.

`gradcalc batch` reads and writes files a chunk at a time (gradcalc.batchfiles), so
that memory stays flat however long the input is; `gradcalc.batch` takes columns in
memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from . import chain, underflow
from .api import check_wrt, prepare, program_warnings
from .arith import FloatArith
from .arrays import ArrayArith
from .errors import (BindingError, DomainError, GradcalcError, UndefinedNameError, UsageError,
                     escaped)
from .lower import CONST, INPUT, OP, Graph, lower
from .parse import parse
from .run import forward

CHUNK = 65536  # points per pass: large enough that numpy, not Python, sets the pace
ON_ERROR = ("stop", "skip", "null")
SHOWN_PROBLEMS = 10  # bad rows listed one by one under --on-error skip|null


# -- the vectorized pass ---------------------------------------------------------------

class RowArith(ArrayArith):
    """numpy arrays of points, and which points failed the last whole-array test.

    The op table writes every domain and kink test as `xp.all(condition)`; a batch needs
    the points behind a False, so the condition is kept in `failed`.
    """

    def __init__(self, ties: str = "split"):
        super().__init__(ties)
        self.failed = None

    def all(self, condition) -> bool:
        if np.all(condition):
            return True
        self.failed = condition
        return False

    @staticmethod
    def zero(like):
        # Batch graphs are elementwise: broadcasting gives a zero its shape, for free.
        return np.float64(0)

    # Of equal arguments (0.0 and -0.0), numpy's maximum returns the later one and
    # Python's max, which gradcalc eval uses, the first: reversed, numpy agrees.
    @staticmethod
    def max(args):
        return reduce(np.maximum, reversed(args))

    @staticmethod
    def min(args):
        return reduce(np.minimum, reversed(args))

    @staticmethod
    def where(condition, if_true, if_false):
        # where(c, 1, 0) is the op table's indicator (max routes, relu gates). numpy's
        # where branches per element, several times slower than this cast on data
        # whose condition changes at random from point to point.
        if type(if_true) is int and type(if_false) is int and (if_true, if_false) == (1, 0):
            return condition * 1.0
        return np.where(condition, if_true, if_false)


@dataclass
class Outcome:
    """One chunk through the graph. `rows` are the positions (in the chunk) that were
    computed; the others failed a domain test, as `failures` says."""

    rows: np.ndarray
    value: np.ndarray
    gradients: dict
    failures: list = field(default_factory=list)  # (positions, the culprit's node id)
    notes: list = field(default_factory=list)  # (node id, message, positions)


class Engine:
    """A lowered elementwise graph, ready to run on chunks of points.

    `constants` are the values shared by all points (the other inputs vary per point);
    `wrt` the inputs whose gradients are wanted, in output order.
    """

    def __init__(self, graph: Graph, constants: dict, wrt: list[str], ties: str):
        self.graph = graph
        self.constants = constants
        self.wrt = wrt
        self.xp = RowArith(ties)
        nodes = graph.nodes
        self.const_values = {n.id: self.xp.number(n.text) for n in nodes if n.kind == CONST}
        # Backpropagate only through nodes that depend on a wanted input.
        wanted = [False] * len(nodes)
        for node in nodes:
            wanted[node.id] = (node.name in wrt if node.kind == INPUT else
                               any(wanted[i] for i in node.inputs))
        self.wanted = wanted

    def run(self, columns: dict, size: int) -> Outcome:
        """Values and gradients at `size` points; `columns` maps each varying input to a
        float64 array of length `size`."""
        graph = self.graph
        if size == 0:
            return self._empty([], [])
        with self.xp.quiet():
            values, rows, failures, notes = self._forward(columns, size)
            if rows.size == 0:
                return self._empty(failures, notes)
            grads = self._backward(values, rows, notes)
            self._note_underflows(values, grads, rows, notes)
        value = np.broadcast_to(values[graph.output], rows.shape)
        gradients = {}
        for name in self.wrt:
            # `+ 0.0` turns a -0.0 into 0.0, as gradcalc eval's sum from 0 does.
            grad = grads[graph.inputs[name]]
            grad = np.broadcast_to(0.0 if grad is None else grad, rows.shape) + 0.0
            finite = np.isfinite(grad)
            if not finite.all():
                notes.append((graph.inputs[name], f"the gradient for {name} is not finite "
                               "(inf or nan)", rows[~finite]))
            gradients[name] = grad
        return Outcome(rows, value, gradients, failures, notes)

    def _empty(self, failures: list, notes: list) -> Outcome:
        empty = np.empty(0)
        return Outcome(np.empty(0, dtype=np.intp), empty, {name: empty for name in self.wrt},
                       failures, notes)

    def _forward(self, columns: dict, size: int):
        xp, graph = self.xp, self.graph
        values = [None] * len(graph.nodes)
        rows = np.arange(size)
        failures, notes = [], []
        for node in graph.nodes:
            if node.kind == INPUT:
                name = node.name
                values[node.id] = columns[name] if name in columns else self.constants[name]
                continue
            if node.kind == CONST:
                values[node.id] = self.const_values[node.id]
                continue
            op = node.op
            args = [values[i] for i in node.inputs]
            while op.domain is not None:
                xp.failed = None
                problem = op.domain(xp, *args)
                if problem is None:
                    break
                good = xp.failed
                if np.ndim(good) == 0 or good.all():  # not a matter of some points:
                    # the expression or its shared bindings are at fault
                    raise self.scalar_error({name: v[rows[0]] for name, v in columns.items()})
                failures.append((rows[~good], node.inputs[problem[1]]))
                rows = rows[good]
                values = [v[good] if np.ndim(v) else v for v in values]
                if rows.size == 0:
                    return values, rows, failures, notes
                args = [values[i] for i in node.inputs]
            value = op.forward(xp, *args)
            if not np.isfinite(value).all():
                _note_overflow(node, op, value, args, rows, notes)
            values[node.id] = value
        return values, rows, failures, notes

    def _backward(self, values: list, rows: np.ndarray, notes: list) -> list:
        """Per-point gradients, by gradcalc.chain's rule: where a point is not reached or an
        edge's local gradient is a structural 0, nothing passes; elsewhere 0 · inf is nan,
        noted per point."""
        xp, nodes, wanted, label = self.xp, self.graph.nodes, self.wanted, self.graph.label
        grads = [None] * len(nodes)
        reached = [False] * len(nodes)
        grads[self.graph.output] = np.float64(1)
        reached[self.graph.output] = True
        for node in reversed(nodes):
            upstream = grads[node.id]
            if node.kind == INPUT or not wanted[node.id] or upstream is None:
                continue
            op = node.op
            args = [values[i] for i in node.inputs]
            out = values[node.id]
            live = reached[node.id]
            slopes = op.local(xp, out, *args)
            if op.kink is not None:
                xp.failed = None
                message = op.kink(xp, out, *args)
                if message is not None:
                    notes.append((node.id, message, _failed_rows(xp.failed, rows)))
            for i, slope in zip(node.inputs, slopes):
                if not wanted[i]:
                    continue
                part, passes, fresh = _chain(xp, upstream, live, slope,
                                             chain.blocked_by(op, slope))
                if chain.any_of(fresh):
                    notes.append((node.id, chain.undefined(xp, upstream, slope, fresh,
                                                           label(node, 24),
                                                           label(nodes[i], 24)),
                                  _failed_rows(~fresh, rows)))
                grads[i] = part if grads[i] is None else grads[i] + part
                reached[i] = passes if reached[i] is False else reached[i] | passes
            grads[node.id] = None  # used up: only the inputs' gradients are returned
        return grads

    def _note_underflows(self, values: list, grads: list, rows: np.ndarray,
                         notes: list) -> None:
        """The points where a 0 from underflow changes the value or a gradient, found as
        gradcalc.underflow finds them for eval: the pass again with the smallest float in
        place of each such 0 (a rare detour: only when some op's 0 is an underflow)."""
        nodes, xp = self.graph.nodes, self.xp
        origins = {}
        for node in nodes:
            if node.kind == OP and node.op.nonzero:
                mask = underflow.origin_mask(values[node.id], [values[i] for i in node.inputs])
                if mask.any():
                    origins[node.id] = np.broadcast_to(mask, rows.shape)
        if not origins:
            return
        again = list(values)
        for node in nodes[min(origins):]:
            if node.kind == OP:
                again[node.id] = node.op.forward(xp, *(again[i] for i in node.inputs))
            if node.id in origins:
                again[node.id] = underflow.smallest_where(
                    np.broadcast_to(again[node.id], rows.shape), origins[node.id])
        grads_again = self._backward(again, rows, [])
        out = self.graph.output
        hit = np.broadcast_to(underflow.moved(values[out], again[out]), rows.shape)
        for name in self.wrt:
            i = self.graph.inputs[name]
            if grads[i] is not None and grads_again[i] is not None:
                hit = hit | underflow.moved(grads[i], grads_again[i])
        for i, mask in origins.items():
            if (mask & hit).any():
                notes.append((i, underflow.message(nodes[i].op.name, "the value or a gradient "
                                                   "is not accurate"), rows[mask & hit]))

    def scalar_error(self, point: dict) -> GradcalcError:
        """The error `gradcalc eval` gives at one point (floats, the same op table)."""
        scalar = FloatArith(self.xp.ties)
        values = {name: float(value) for name, value in {**self.constants, **point}.items()}
        try:
            forward(self.graph, values, scalar)
        except GradcalcError as exc:
            return exc
        # numpy and the math module can disagree in the last digit right at a domain's
        # edge; then only the vectorized pass saw the failure.
        return DomainError("a value is outside a function's domain at this point",
                           self.graph.source, None)

    def columns_of(self, node_id: int) -> list[str]:
        """The varying inputs a node depends on (an explicit-stack walk)."""
        nodes, seen, found = self.graph.nodes, {node_id}, []
        pending = [node_id]
        while pending:
            node = nodes[pending.pop()]
            if node.kind == INPUT and node.name not in self.constants:
                found.append(node.name)
            for i in node.inputs:
                if i not in seen:
                    seen.add(i)
                    pending.append(i)
        order = list(self.graph.inputs)
        return sorted(found, key=order.index)


def _chain(xp, upstream, live, slope, blocked):
    """gradcalc.chain.through_local at every point, with the common edges made cheap: a
    slope of ±1 (add, sub, neg) and the output's own edges (upstream 1 everywhere)."""
    if live is True and blocked is False:
        if type(slope) is int and slope in (1, -1):
            return (upstream if slope == 1 else -upstream), True, False
        if not np.ndim(upstream) and upstream == 1:
            return slope, True, False
    return chain.through_local(xp, upstream, live, slope, blocked)


def _failed_rows(condition, rows: np.ndarray) -> np.ndarray:
    if condition is None or np.ndim(condition) == 0:
        return rows  # a test that does not vary by point: it holds for all of them
    return rows[~np.broadcast_to(condition, rows.shape)]


def _note_overflow(node, op, value, args, rows, notes) -> None:
    """Points where this node became inf or nan from finite arguments, per kind."""
    value = np.broadcast_to(value, rows.shape)
    fresh = ~np.isfinite(value)
    for arg in args:
        fresh &= np.isfinite(arg)
    for kind, where in (("inf", np.isposinf(value)), ("-inf", np.isneginf(value)),
                        ("nan", np.isnan(value))):
        hit = fresh & where
        if hit.any():
            notes.append((node.id, f"{op.name} overflowed to {kind} "
                          "(values past ±1.8e308 are not representable)", rows[hit]))


# -- planning: which names vary per point, which are shared ------------------------------

@dataclass
class Plan:
    engine: Engine
    varying: list[str]  # inputs read from each row, in the graph's order
    warnings: list  # (node id or None, message) known before any row is read


def plan(source: str, raw: dict, columns: list[str], *, wrt=None, ties: str = "split",
         place: str = "the input") -> Plan:
    """Lower `source` once. Its free names come from the input's `columns` or from the
    shared bindings `raw` (which win); every free name must be one or the other."""
    everything = lower(parse(source), bound=None)  # every free name is an input here
    missing = [name for name in everything.inputs if name not in raw and name not in columns]
    if missing:
        shown = ", ".join(columns) if columns else "none"
        raise UndefinedNameError(
            f"no value for {', '.join(missing)}: not a column of {place} and not bound",
            source, everything.nodes[everything.inputs[missing[0]]].span,
            hint=f"the columns are {shown}; bind the others for all rows, "
                 f"e.g. {missing[0]}=1")
    stand_ins = {name: 0.0 for name in columns
                 if name not in raw and name.isidentifier()}
    graph, _, values, _ = prepare(source, {**stand_ins, **raw}, ties=ties, expand=True)
    if graph.uses_arrays or any(np.ndim(values[name]) for name in raw):
        raise UsageError("batch evaluates expressions of numbers at each point, and this "
                         "one has vectors or matrices",
                         hint="use gradcalc eval for vectors, or one column per element")
    names = list(graph.inputs)
    if wrt is None:
        wrt = names
    check_wrt(graph, wrt)
    warnings = program_warnings(graph, raw)
    warnings += [(graph.inputs[name], f"{name} is bound for all rows; the column {name} "
                  f"of {place} is not used") for name in raw
                 if name in graph.inputs and name in columns]
    constants = {name: values[name] for name in names if name in raw}
    varying = [name for name in names if name not in raw]
    return Plan(Engine(graph, constants, list(wrt), ties), varying, warnings)


# -- one chunk: parse problems + domain failures, warnings tallied per node ---------------

@dataclass
class Computed:
    """A chunk's answers: `rows` are the positions (in the chunk) computed; `bad` maps
    the others to (column names, message) if unreadable, or (column names, node id) if
    a value there, at that node, is outside a function's domain."""

    rows: np.ndarray
    value: np.ndarray
    gradients: dict
    bad: dict
    notes: list


def compute(engine: Engine, numbers: dict, size: int, problems: dict) -> Computed:
    """Run the good rows of a chunk; rows in `problems` (position → (columns, message))
    could not be read and are not run."""
    if problems:
        good = np.ones(size, dtype=bool)
        good[list(problems)] = False
        positions = np.flatnonzero(good)
        numbers = {name: column[good] for name, column in numbers.items()}
    else:
        positions = None
    outcome = engine.run(numbers, size - len(problems))
    bad = dict(problems)
    lift = (lambda rows: rows) if positions is None else (lambda rows: positions[rows])
    for rows, culprit in outcome.failures:
        columns = engine.columns_of(culprit)
        for position in lift(rows).tolist():
            bad[position] = (columns, culprit)
    notes = [(node, message, lift(rows)) for node, message, rows in outcome.notes]
    return Computed(lift(outcome.rows), outcome.value, outcome.gradients, bad, notes)


class Tally:
    """Warnings counted per node over all rows, and the rows that could not be computed."""

    def __init__(self):
        self.notes: dict = {}  # (node id, message) → [rows, first row's name]
        self.bad_count = 0
        self.bad_shown: list[str] = []

    def note(self, node, message, count: int, first: str) -> None:
        entry = self.notes.setdefault((node, message), [0, first])
        entry[0] += count

    def bad_lines(self, on_error: str) -> list[str]:
        """What became of the rows that could not be computed (--on-error skip|null)."""
        if not self.bad_count:
            return []
        was = "was" if self.bad_count == 1 else "were"
        done = "left out" if on_error == "skip" else "written with empty values"
        lines = [f"warning: {_rows(self.bad_count)} could not be computed and {was} {done} "
                 f"(--on-error {on_error}):"]
        lines += [f"  {escaped(text)}" for text in self.bad_shown]
        if self.bad_count > len(self.bad_shown):
            lines.append(f"  ... and {self.bad_count - len(self.bad_shown):,} more")
        return lines

    def warnings(self) -> list:
        return [(node, f"{message} — in {_rows(count)} (first: {first})")
                for (node, message), (count, first) in self.notes.items()]


def _rows(count: int) -> str:
    return f"{count:,} row{'s' * (count != 1)}"


def row_error(engine: Engine, computed_bad, where: str, point: dict,
              go_on: str = "--on-error skip or --on-error null") -> GradcalcError:
    """The error for one bad row, `where` naming it ("data.csv, line 4"); a domain error
    is the one `gradcalc eval` gives at that point."""
    columns, problem = computed_bad
    place = where if not columns else \
        f"{where}, column{'s' * (len(columns) > 1)} {', '.join(columns)}"
    if isinstance(problem, str):
        return UsageError(f"{place}: {problem}",
                          hint=f"fix the row, or go on past bad rows with {go_on}")
    exc = engine.scalar_error(point)
    return type(exc)(f"{place}: {exc.message}", exc.source, exc.span, exc.hint)


# -- the command: input file → output file ---------------------------------------------

def chunk_size_for(graph: Graph) -> int:
    """Points per chunk: CHUNK, fewer for a large graph, so that the values and gradients
    of every node stay within about 64 MB."""
    return max(1, min(CHUNK, (1 << 22) // max(len(graph.nodes), 1)))


def run_files(source: str, raw: dict, *, input_path: str = "-", output_path: str = "-",
              input_format: str | None = None, output_format: str | None = None,
              wrt=None, keep: str = "all", on_error: str = "stop",
              chunk_size: int | None = None, ties: str = "split") -> list[str]:
    """`gradcalc batch`: read points, write values and gradients; returns the lines for
    standard error (warnings, and the rows skipped or left empty)."""
    from . import render
    try:
        from .batchfiles import JsonlReader, Writer, gradient_name, opened_input, \
            opened_output, output_format_of, read_ahead  # polars and pyarrow: only for files
    except ImportError as exc:
        if exc.name not in ("polars", "pyarrow"):
            raise
        raise UsageError(f"gradcalc batch reads and writes files with polars and pyarrow, "
                         f"and {exc.name} is not installed",
                         hint='install them: pip install "gradcalc[batch]"') from None

    with opened_input(input_path, input_format) as (reader, fmt, progress):
        name = reader.name
        plan_ = plan(source, raw, reader.columns, wrt=wrt, ties=ties, place=name)
        engine = plan_.engine
        reader.use(plan_.varying)
        inputs = plan_.varying if keep == "inputs" else []
        computed_names = ["value"] + [f"grad_{n}" for n in engine.wrt]
        kept = reader.columns if keep == "all" else inputs
        clash = [n for n in computed_names if n in kept]
        if clash:
            raise UsageError(f"{name} already has a column {clash[0]}, which the output adds",
                             hint="rename the column, or leave it out with --keep")
        clash = [n for n in kept if gradient_name(n, plan_.varying)]
        if clash:
            raise UsageError(f"{name} has a column {clash[0]}, but the output's grad_ columns "
                             "are gradients", hint="rename the column, or leave it out with "
                                                   "--keep inputs or --keep none")
        if isinstance(reader, JsonlReader) and keep == "all":
            reader.clashes = set(computed_names)
        out_format = output_format_of(output_path, output_format, fmt)
        # Text keeps the inputs as they were written; JSON and Parquet have numbers.
        numeric = inputs if out_format != "csv" else []
        kept = [n for n in kept if n not in numeric]
        size = chunk_size or min(reader.chunk, chunk_size_for(engine.graph))
        tally = Tally()
        with opened_output(output_path) as handle:
            writer = Writer(handle, out_format, reader, kept, numeric + computed_names)
            for chunk in read_ahead(reader.chunks(size)):
                computed, nulls = _settle(engine, chunk, on_error, tally, name, reader.unit)
                given = [chunk.numbers[n] for n in numeric]
                if on_error == "skip" and computed.bad:
                    chunk = chunk.take(computed.rows)
                    given = [column[computed.rows] for column in given]
                columns = given + [computed.value] + [computed.gradients[n] for n in engine.wrt]
                writer.write(chunk, columns, nulls)
                progress(len(chunk))
            writer.close()
    lines = render.warning_lines(engine.graph, plan_.warnings + tally.warnings())
    return lines + tally.bad_lines(on_error)


def _settle(engine: Engine, chunk, on_error: str, tally: Tally, name: str, unit: str):
    """Compute a chunk and deal with its bad rows as --on-error says: (computed, nulls)."""
    computed = compute(engine, chunk.numbers, len(chunk), chunk.problems)

    def error(position: int) -> GradcalcError:
        point = {n: column[position] for n, column in chunk.numbers.items()}
        return row_error(engine, computed.bad[position],
                         f"{name}, {unit} {chunk.lines[position]}", point)

    for node, message, rows in computed.notes:
        if len(rows):
            tally.note(node, message, len(rows), f"{unit} {chunk.lines[rows[0]]}")
    if not computed.bad:
        return computed, None
    positions = sorted(computed.bad)
    if on_error == "stop":
        raise error(positions[0])
    for position in positions[:SHOWN_PROBLEMS - len(tally.bad_shown)]:
        tally.bad_shown.append(error(position).message)
    tally.bad_count += len(positions)
    if on_error == "skip":
        return computed, None
    # null: every row is written; the bad ones without numbers.
    size = len(chunk)
    spread = Computed(np.arange(size), _spread(computed.value, computed.rows, size),
                      {n: _spread(g, computed.rows, size) for n, g in computed.gradients.items()},
                      computed.bad, computed.notes)
    nulls = np.ones(size, dtype=bool)
    nulls[computed.rows] = False
    return spread, nulls


def _spread(values: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    full = np.zeros(size)
    full[rows] = values
    return full


# -- the Python API: columns in memory → arrays ----------------------------------------

class BatchResult(dict):
    """`gradcalc.batch`'s answer: a dict of numpy arrays, "value" and "grad_<name>", one
    entry per row (a plain dict, so `pandas.DataFrame(result)` works).

    `rows`: the positions of the rows computed (all of them unless on_error="skip");
    `bad_rows`: the positions that could not be; `problems`: what was wrong with the
    first few of them; `warnings`: [(node id or None, message)], counted per node."""

    rows: np.ndarray
    bad_rows: np.ndarray
    problems: list
    warnings: list


def run_arrays(source: str, data, constants: dict, *, wrt=None, ties: str = "split",
               on_error: str = "stop", chunk_size: int | None = None) -> BatchResult:
    """`gradcalc.batch`: `data` maps names to columns (a dict of arrays, a DataFrame)."""
    if on_error not in ON_ERROR:
        raise UsageError(f"unknown on_error {on_error!r}", hint="use 'stop', 'skip' or 'null'")
    try:
        names = [str(name) for name in data.keys()]
    except AttributeError:
        raise BindingError(f"the points must be a mapping of names to columns (a dict of "
                           f"arrays, a DataFrame), not {type(data).__name__}") from None
    plan_ = plan(source, constants, names, wrt=wrt, ties=ties, place="the data")
    engine = plan_.engine
    columns = {name: _column(data, name) for name in plan_.varying}
    lengths = {len(column) for column in columns.values()}
    if len(lengths) > 1:
        raise BindingError("the columns have different lengths: " + ", ".join(
            f"{name} has {len(column)}" for name, column in columns.items()))
    size = lengths.pop() if lengths else _row_count(data, names)
    value = np.empty(size)
    gradients = {name: np.empty(size) for name in engine.wrt}
    done = np.zeros(size, dtype=bool)
    tally = Tally()
    step = chunk_size or chunk_size_for(engine.graph)
    for start in range(0, size, step):
        stop = min(start + step, size)
        numbers = {name: column[start:stop] for name, column in columns.items()}
        problems = {}
        for name, column in numbers.items():
            finite = np.isfinite(column)
            if finite.all():
                continue
            for position in np.flatnonzero(~finite).tolist():
                problems.setdefault(position, ([name], "the value is missing (NaN)"
                                               if np.isnan(column[position]) else
                                               f"{column[position]} is not a finite number"))
        computed = compute(engine, numbers, stop - start, problems)
        # A chunk with no bad row fills a slice; otherwise only its computed rows.
        rows = slice(start, stop) if len(computed.rows) == stop - start else \
            computed.rows + start
        value[rows] = computed.value
        for name, grad in computed.gradients.items():
            gradients[name][rows] = grad
        done[rows] = True
        for node, message, where in computed.notes:
            if len(where):
                tally.note(node, message, len(where), f"row {start + where[0]}")
        positions = sorted(computed.bad)
        shown = positions[:1] if on_error == "stop" else \
            positions[:SHOWN_PROBLEMS - len(tally.bad_shown)]
        for position in shown:  # messages only for the rows named: each runs eval's pass
            point = {name: column[position] for name, column in numbers.items()}
            error = row_error(engine, computed.bad[position], f"row {start + position}", point,
                              go_on='on_error="skip" or on_error="null"')
            if on_error == "stop":
                raise error
            tally.bad_shown.append(error.message)
        tally.bad_count += len(positions)
    if not done.all():
        for column in (value, *gradients.values()):
            column[~done] = np.nan  # the rows without an answer (on_error="null")
    keep = np.flatnonzero(done) if on_error == "skip" else slice(None)
    result = BatchResult(value=value[keep], **{f"grad_{name}": grad[keep]
                                               for name, grad in gradients.items()})
    result.rows = np.flatnonzero(done) if on_error == "skip" else np.arange(size)
    result.bad_rows = np.flatnonzero(~done)
    result.problems = list(tally.bad_shown)
    result.warnings = plan_.warnings + tally.warnings()
    return result


def _row_count(data, names: list[str]) -> int:
    """The rows of a table none of whose columns is an input (`2*b` with b shared)."""
    shape = getattr(data, "shape", None)
    return shape[0] if shape else len(data[names[0]]) if names else 0


def _column(data, name: str) -> np.ndarray:
    """One column as a 1-D float64 array (a list, an array, a pandas Series)."""
    try:
        column = np.asarray(data[name], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BindingError(f"the column {name} is not numbers: {exc}") from None
    if column.ndim != 1:
        raise BindingError(f"the column {name} has shape {column.shape}; batch takes one "
                           "number per row", hint="give each input as a 1-D array")
    return column
