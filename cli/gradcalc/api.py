"""The Python API of SPEC §6: the stages wired together for scripts and autograders.

`evaluate` answers one question; `compile` parses and lowers once and then runs
`forward(...)` / `backward()` at many points, as in the lecture's modular API.
"""
from __future__ import annotations

from . import bindings as binding_values
from . import render
from .arith import ExactArith, FloatArith
from .errors import StrictError, UsageError, UndefinedNameError
from .lower import Graph, lower
from .parse import parse
from .run import Pass, backward, forward

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


def run_graph(graph: Graph, values: dict, *, xp, upstream=1.0, strict=False, wrt=None) -> Result:
    """Forward and backward over a lowered graph; the warnings of both, checked by --strict."""
    if wrt is not None:
        unknown = [name for name in wrt if name not in graph.inputs]
        if unknown:
            raise UsageError(f"--wrt names {', '.join(unknown)}, which "
                             f"{'is not an input' if len(unknown) == 1 else 'are not inputs'}",
                             hint=f"the inputs are {', '.join(graph.inputs) or 'none'}")
    warnings = list(graph.warnings)
    warnings += [(None, f"the binding {name}=... is not used by the expression (a typo?)")
                 for name in values if name not in graph.inputs]
    run = backward(graph, forward(graph, values, xp), xp, upstream)
    warnings += run.warnings
    for name, grad in render.gradients(graph, run).items():
        if not xp.isfinite(grad):
            warnings.append((graph.inputs[name], f"the gradient for {name} is {grad}"))
    if strict and warnings:
        node, message = warnings[0]
        span = None if node is None else graph.nodes[node].span
        raise StrictError(f"{message} (an error under --strict)", graph.source, span,
                          hint="drop --strict to get the answer with this warning")
    return Result(graph, run, warnings, wrt)


def evaluate(source: str, /, *, ties: str = "split", upstream=1, expand: bool = False,
             strict: bool = False, wrt=None, exact: bool = False, **values) -> Result:
    """Values and gradients of every node of `source` at the given bindings.

    Bindings are numbers or constant expressions as text (`t="pi/4"`). With `exact=True`
    the arithmetic is rational (fractions.Fraction) wherever it can be.
    """
    xp = number_system(ties, exact)
    resolved = binding_values.from_mapping(values, xp)
    graph = lower(parse(source), bound=set(resolved), expand=expand)
    return run_graph(graph, resolved, xp=xp, upstream=xp.convert(upstream),
                     strict=strict, wrt=wrt)


def number_system(ties: str, exact: bool = False) -> FloatArith:
    """Floats, or rationals for --exact, with the chosen max/min tie policy."""
    if ties not in TIES:
        raise UsageError(f"unknown tie policy {ties!r}", hint="use 'split' or 'first'")
    return ExactArith(ties) if exact else FloatArith(ties)


class Circuit:
    """A parsed and lowered expression, run again and again without parsing again."""

    def __init__(self, source: str, *, expand: bool = False, ties: str = "split"):
        self.graph = lower(parse(source), bound=None, expand=expand)
        self.xp = number_system(ties)
        self.run: Pass | None = None

    @property
    def inputs(self) -> list[str]:
        return list(self.graph.inputs)

    def forward(self, **values):
        """Values of every node at these bindings; returns the output's value."""
        missing = [name for name in self.graph.inputs if name not in values]
        if missing:
            raise UndefinedNameError(f"no value for {', '.join(missing)}", self.graph.source,
                                     self.graph.nodes[self.graph.inputs[missing[0]]].span)
        resolved = binding_values.from_mapping(values, self.xp)
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


def compile(source: str, *, expand: bool = False, ties: str = "split") -> Circuit:  # noqa: A001
    """Parse and lower once (SPEC §6); free names other than pi and e are the inputs."""
    return Circuit(source, expand=expand, ties=ties)
