"""The Python API: the stages wired together for scripts and autograders.

`evaluate` answers one question; `compile` parses and lowers once and then runs
`forward(...)` / `backward()` at many points, as in the lecture's modular API.
"""
from __future__ import annotations

import math

from . import bindings as binding_values
from . import render
from .arith import ExactSizeError, FloatArith
from .errors import LimitError, StrictError, UsageError, UndefinedNameError
from .elements import check_elements
from .limits import DEFAULT, MAX_JACOBIAN, Limits, check_source
from .lower import CONST, GATE, Graph, lower, mark_needs_grad
from .parse import parse
from .run import Pass, backward, forward, jacobian
from .underflow import underflow_warnings

TIES = ("split", "first")


class Result:
    """One evaluation: the output's value, ∂output/∂input, and every node's row."""

    def __init__(self, graph: Graph, run: Pass, warnings, wrt=None):
        self.graph = graph
        self.run = run
        self.warnings = warnings  # [(node id or None, message)]
        self.wrt = wrt

    @property
    def value(self):
        return self.run.values[self.graph.output]

    @property
    def gradients(self) -> dict:
        return render.gradients(self.graph, self.run, self.wrt)

    @property
    def nodes(self) -> list[dict]:
        return render.node_rows(self.graph, self.run)

    def to_dict(self) -> dict:
        return render.json_document(self.graph, self.run, self.warnings, self.wrt)

    def to_json(self) -> str:
        return render.dumps(self.to_dict())

    def write_json(self, file) -> None:
        """to_json()'s text written to `file` piece by piece: for big graphs, in bounded memory."""
        render.write_json(self.graph, self.run, self.warnings, file.write, self.wrt)

    # In a notebook (gradcalc.notebook): the table, with the graph when Graphviz is there.
    def __repr__(self) -> str:
        from .notebook import result_repr

        return result_repr(self)

    def _repr_html_(self) -> str:
        from .notebook import result_bundle

        return result_bundle(self)["text/html"]

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from .notebook import result_bundle

        return result_bundle(self)


def prepare(source: str, raw: dict, *, ties: str = "split", exact: bool = False,
            expand: bool = False, upstream=None, limits: Limits = DEFAULT):
    """Parse and lower `source`, choose the number system, and resolve the bindings.

    Returns (graph, xp, values, upstream). numpy computes when the expression or a binding
    has vectors or matrices; otherwise plain floats (or rationals under `exact`). An input
    bound to an integer array (labels, indices) stays int64 and takes no gradient. Text
    past `limits` is refused before it is parsed (gradcalc.limits).
    """
    check_source(source, limits)
    for name, value in raw.items():
        if isinstance(value, str):
            check_source(value, limits, f"the value of {name}")
    program = parse(source)
    graph = lower(program, bound=set(raw), expand=expand, limits=limits)
    if not graph.inputs:
        _constants_only(program, graph)
    lowered = binding_values.lowered(raw)
    if upstream is not None:
        upstream = binding_values.lower_value(upstream, "--upstream=", "the option")
    arrays = graph.uses_arrays or binding_values.uses_arrays({**lowered, "": upstream})
    xp = number_system(ties, exact, arrays, limits.digits)
    values = binding_values.resolve(lowered, xp)
    mark_needs_grad(graph, binding_values.integer_inputs(values))
    if xp.name == "array":
        check_elements(graph, values, limits)
    if upstream is not None:
        upstream = binding_values.resolve_value(upstream, xp, "--upstream=", "the option")
    graph.warnings += _beyond_float_range(graph, xp)
    graph.warnings += _bindings_beyond_float_range(graph, lowered, xp)
    graph.warnings += [(graph.inputs[name], f"the value of {name} is not finite: "
                                            f"{xp.show(value)}")
                       for name, value in values.items()
                       if name in graph.inputs and not xp.isfinite(value)]
    return graph, xp, values, upstream


def _constants_only(program, graph: Graph) -> None:
    """A program without inputs: say how to make its constants inputs (`x = -2; ...`
    pasted from the lecture's code), and refuse one with nothing but bindings in it
    (`gradcalc eval x=1`, the expression forgotten)."""
    from . import hints

    rest, bindings = hints.constant_assignments(program)
    if bindings and not rest:
        raise UsageError(f"there is no expression: {program.source.strip()!r} only gives "
                         "values", program.source, (0, len(program.source)),
                         hint='write the expression first and the bindings after it, '
                              'e.g. `gradcalc eval "x^2" x=1`')
    if bindings:
        graph.warnings.append((None, "every input is a constant, so no gradient is "
                                     "computed; to get them, bind the inputs instead: "
                                     f'"{"; ".join(rest)}" {" ".join(bindings)}'))


def _beyond_float_range(graph: Graph, xp) -> list:
    """Warnings for number literals past what a float holds: `1e999` is inf, `1e-999` is 0
    (under --exact both are exact). Gate bodies too, warned about without a node."""
    if xp.name == "exact":
        return []
    warnings = []
    for body, node in graph.walk():
        if node.kind == CONST and (problem := _float_range_problem(node.text)) is not None:
            warnings.append((node.id if body is graph else None,
                             f"the number {node.text} {problem}"))
    return warnings


def _bindings_beyond_float_range(graph: Graph, lowered: dict, xp) -> list:
    """The same warnings for the literals in bindings (`x=1e-400`, or in --bindings JSON),
    on the input they bind."""
    return [(graph.inputs.get(name), f"in the binding {name}=...: {message}")
            for name, value in lowered.items() if hasattr(value, "nodes")
            for _, message in _beyond_float_range(value, xp)]


def _float_range_problem(text: str) -> str | None:
    """What happens to a number literal past the float range, or None if it fits."""
    value = float(text)
    if math.isinf(value):
        return "is past the largest float (about 1.8e308) and is taken as inf"
    if value == 0 and text.lower().partition("e")[0].strip("0.") != "":
        return "is below the smallest float (about 5e-324) and is taken as 0"
    return None


def check_wrt(graph: Graph, wrt) -> None:
    """--wrt may name inputs only."""
    unknown = [name for name in wrt if name not in graph.inputs]
    if unknown:
        raise UsageError(f"--wrt names {', '.join(unknown)}, which "
                         f"{'is not an input' if len(unknown) == 1 else 'are not inputs'}",
                         hint=f"the inputs are {', '.join(graph.inputs) or 'none'}")


def program_warnings(graph: Graph, bound) -> list:
    """The lowering's warnings, and one per binding the expression does not use."""
    return list(graph.warnings) + [
        (None, f"the binding {name}=... is not used by the expression (a typo?)")
        for name in bound if name not in graph.inputs]


def run_graph(graph: Graph, values: dict, *, xp, upstream=None, strict=False, wrt=None,
              every_node: bool = True) -> Result:
    """Forward and backward over a lowered graph; the warnings of both, checked by --strict.

    `upstream` is ∂L/∂output (default 1). A non-scalar output without one gets Jacobians:
    every gradient has the shape output.shape + node.shape. With `every_node` False, only
    the gradients of `wrt` are computed, and those of the nodes they pass through: the
    others' are None, for a caller that shows none of them (eval -o FILE.npz).
    """
    if wrt is not None:
        check_wrt(graph, wrt)
        if not every_node:
            mark_needs_grad(graph, graph.constant_inputs | (set(graph.inputs) - set(wrt)))
    warnings = program_warnings(graph, values)
    run = forward(graph, values, xp)
    output_shape = getattr(run.values[graph.output], "shape", ())
    try:
        if upstream is None and output_shape:
            _check_jacobian_size(graph, run)
            run = jacobian(graph, run, xp)
        else:
            if upstream is not None and getattr(upstream, "shape", ()) != output_shape:
                raise UsageError(f"--upstream has shape {_shape(upstream)} but the output has "
                                 f"shape {_shape(run.values[graph.output])}",
                                 hint="give dL/dout with the output's shape")
            upstream = xp.convert(1) if upstream is None else upstream
            run = backward(graph, run, xp, upstream)
            run.warnings += underflow_warnings(graph, run, xp, upstream)
    except ExactSizeError as exc:
        raise LimitError(f"{exc} in a gradient", graph.source,
                         hint="drop --exact to compute it in floating point") from None
    warnings += run.warnings
    for name, grad in render.gradients(graph, run, wrt).items():  # only what was asked
        if grad is not None and not xp.isfinite(grad):
            warnings.append((graph.inputs[name], f"the gradient for {name} is {xp.show(grad)}"))
    if strict and warnings:
        node, message = warnings[0]
        span = None if node is None else graph.nodes[node].span
        raise StrictError(f"{message} (an error under --strict)", graph.source, span,
                          hint="drop --strict to get the answer with this warning")
    return Result(graph, run, warnings, wrt)


def _check_jacobian_size(graph: Graph, run: Pass) -> None:
    """A non-scalar output's Jacobians hold output size × node size numbers for every
    node, computed by one backward pass per output element, through the whole body of
    every gate; refuse them before allocating gigabytes or running for hours."""
    out = getattr(run.values[graph.output], "size", 1)
    total = out * sum(getattr(run.values[node.id], "size", 1) *
                      (node.op.size if node.kind == GATE else 1)
                      for node in graph.nodes if node.needs_grad)
    if total > MAX_JACOBIAN:
        raise LimitError(f"the Jacobians of this {_shape(run.values[graph.output])} output "
                         f"would take {total:,} numbers to compute (gate bodies counted), "
                         f"more than the {MAX_JACOBIAN:,} gradcalc computes", graph.source,
                         hint="give --upstream (dL/dout, the output's shape) for the "
                              "gradient of a scalar loss, or reduce the output with sum(...)")


OPTIONS = ("ties", "upstream", "expand", "strict", "wrt", "exact", "limits")


def evaluate(source: str, bindings=None, /, *, ties: str = "split", upstream=None,
             expand: bool = False, strict: bool = False, wrt=None, exact: bool = False,
             limits: Limits = DEFAULT, **values) -> Result:
    """Values and gradients of every node of `source` at the given bindings.

    `bindings` maps names to values, so that any name can be bound, an option's name
    too: `evaluate("ties*2", {"ties": 3})`. Names may also be given as keywords
    (`evaluate("x*y", x=2, y=3)`): a keyword is an option if it is one of OPTIONS, else a
    binding, but one that is close to an option's name and not a name in `source`
    (`upstrem=3`) raises TypeError naming it rather than become an unused binding. A binding is a number, a nested list or numpy array, or a
    constant expression as text (`t="pi/4"`). With `exact=True` the arithmetic is
    rational (fractions.Fraction) wherever it can be. `limits` (a gradcalc.Limits) raises
    or lowers the resource limits. Errors: a gradcalc.GradcalcError subclass for bad input.
    """
    raw = _merged_bindings("evaluate", source, bindings, values)
    graph, xp, resolved, upstream = prepare(source, raw, ties=ties, exact=exact,
                                            expand=expand, upstream=upstream, limits=limits)
    return run_graph(graph, resolved, xp=xp, upstream=upstream, strict=strict, wrt=wrt)


def _merged_bindings(function: str, source: str, bindings, keywords: dict) -> dict:
    """The mapping and the keyword bindings as one dict; TypeError for a misspelled
    option (see refuse_misspelled_options) or a name given both ways."""
    if bindings is not None and not hasattr(bindings, "keys"):
        raise TypeError(f"{function}() takes the bindings as a mapping of names to values, "
                        f"not {type(bindings).__name__}")
    raw = dict(bindings) if bindings is not None else {}
    both = [name for name in keywords if name in raw]
    if both:
        raise TypeError(f"{function}() got {both[0]!r} both in the bindings and as a keyword")
    refuse_misspelled_options(function, source, keywords, OPTIONS)
    raw.update(keywords)
    return raw


def refuse_misspelled_options(function: str, source: str, keywords, options) -> None:
    """TypeError for a keyword binding that is close to an option's name and names
    nothing in `source` (`upstrem=3`): a misspelled option, not a binding."""
    import difflib
    import re

    for name in keywords:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
        if close and not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", source):
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}; "
                            f"did you mean {close[0]}=? (the expression has no name "
                            f"{name!r}; to bind a name like an option's, pass a mapping)")


def number_system(ties: str, exact: bool = False, arrays: bool = False,
                  max_digits: int = DEFAULT.digits) -> FloatArith:
    """Floats, rationals for --exact, or numpy arrays, with the max/min tie policy."""
    if ties not in TIES:
        raise UsageError(f"unknown tie policy {ties!r}", hint="use 'split' or 'first'")
    if arrays:
        if exact:
            raise UsageError("--exact works on scalars only, and this has vectors or matrices",
                             hint="drop --exact")
        from .arrays import ArrayArith  # numpy only when needed
        return ArrayArith(ties)
    if exact:
        from .exact import ExactArith  # fractions and decimal only when needed
        return ExactArith(ties, max_digits)
    return FloatArith(ties)


def _shape(value) -> str:
    shape = getattr(value, "shape", ())
    return "×".join(map(str, shape)) if shape else "scalar"


class Circuit:
    """A parsed and lowered expression, run again and again without parsing again."""

    def __init__(self, source: str, *, expand: bool = False, ties: str = "split",
                 limits: Limits = DEFAULT):
        check_source(source, limits)
        self.graph = lower(parse(source), bound=None, expand=expand, limits=limits)
        self.ties = ties
        self.limits = limits
        self.xp = number_system(ties, arrays=self.graph.uses_arrays)
        self.run: Pass | None = None

    @property
    def inputs(self) -> list[str]:
        return list(self.graph.inputs)

    def forward(self, bindings=None, /, **values):
        """Values of every node at these bindings (a mapping, keywords, or both, as for
        `evaluate`); returns the output's value. Raises UndefinedNameError for a missing
        input, TypeError for a keyword that is not an input (a mapping may hold more)."""
        unknown = [name for name in values if name not in self.graph.inputs]
        if unknown:
            raise TypeError(f"forward() got an unexpected keyword argument {unknown[0]!r}: "
                            f"the inputs are {', '.join(self.graph.inputs) or 'none'}")
        values = _merged_bindings("forward", self.graph.source, bindings, values)
        missing = [name for name in self.graph.inputs if name not in values]
        if missing:
            raise UndefinedNameError(f"no value for {', '.join(missing)}", self.graph.source,
                                     self.graph.nodes[self.graph.inputs[missing[0]]].span)
        lowered = binding_values.lowered(values)
        if binding_values.uses_arrays(lowered) and self.xp.name != "array":
            self.xp = number_system(self.ties, arrays=True)
        resolved = binding_values.resolve(lowered, self.xp)
        mark_needs_grad(self.graph, binding_values.integer_inputs(resolved))
        if self.xp.name == "array":  # shapes may differ from one call to the next
            check_elements(self.graph, resolved, self.limits)
        self.run = forward(self.graph, resolved, self.xp)
        return self.value

    def backward(self, upstream=1) -> dict:
        """∂output/∂node for every node (upstream 1 by default); returns the input gradients."""
        if self.run is None:
            raise UsageError("call forward(...) before backward()")
        backward(self.graph, self.run, self.xp, self.xp.convert(upstream))
        return self.gradients

    @property
    def value(self):
        return None if self.run is None else self.run.values[self.graph.output]

    @property
    def gradients(self) -> dict:
        if self.run is None or self.run.grads is None:
            return {}
        return render.gradients(self.graph, self.run)

    @property
    def warnings(self) -> list:
        return [] if self.run is None else list(self.run.warnings)


def compile(source: str, /, *, expand: bool = False, ties: str = "split",  # noqa: A001
            limits: Limits = DEFAULT) -> Circuit:
    """Parse and lower once, to run `forward(...)` and `backward()` at many points; free
    names other than pi and e are the inputs. A misspelled option is a TypeError."""
    return Circuit(source, expand=expand, ties=ties, limits=limits)
