"""The element limit (--max-elements): how many numbers the values of a run hold in all,
known from the shapes before anything is allocated.

A program of a few hundred bytes can ask for gigabytes: an outer product of two long
vectors, or a few operations on a large matrix binding, each a new matrix. The shape of
every node follows from its arguments' shapes (the op table's `shape`, or broadcasting for
an elementwise op), so the whole run is measured first, gate bodies once per call (their
passes are kept for backpropagation), and refused at the node where the count passes
the limit.
"""
from __future__ import annotations

import math

from .limits import Limits, exceeded
from .lower import CONST, GATE, INPUT, Graph

Shape = tuple  # a value's shape; None where it cannot be known from the shapes alone


def check_elements(graph: Graph, values: dict, limits: Limits) -> None:
    """Raise LimitError if the values of one pass over `graph` at these inputs (numpy
    arrays or numbers) would hold more than `limits.elements` numbers."""
    counter = _Counter(graph, limits.elements)
    counter.shapes(graph, {name: _shape_of(value) for name, value in values.items()})


def _shape_of(value) -> Shape:
    return tuple(getattr(value, "shape", ()))


class _Counter:
    """Walks a graph's shapes, adding up elements; a gate's body is walked once per
    distinct argument shapes and counted at every call."""

    def __init__(self, top: Graph, limit: int):
        self.top, self.limit, self.total = top, limit, 0
        self.bodies: dict = {}  # (gate id, argument shapes) → (output shape, elements)
        self.node = None  # the node of the top graph being counted, for the caret

    def shapes(self, graph: Graph, inputs: dict) -> Shape:
        """The shape of `graph`'s output, counting every node's elements on the way."""
        shapes: list = [None] * len(graph.nodes)
        for node in graph.nodes:
            if graph is self.top:
                self.node = node
            args = [shapes[i] for i in node.inputs]
            if node.kind == INPUT:
                shape = inputs.get(node.name, ())
            elif node.kind == CONST:
                shape = ()
            elif None in args:
                shape = None
            elif node.kind == GATE:
                shape = self.gate(node.op, tuple(args))
                shapes[node.id] = shape
                continue  # counted in the body
            else:
                shape = _op_shape(node.op, args)
            shapes[node.id] = shape
            self.add(1 if shape is None else math.prod(shape))
        return shapes[graph.output]

    def gate(self, gate, args: tuple) -> Shape:
        key = (id(gate), args)
        if key not in self.bodies:
            before = self.total
            shape = self.shapes(gate.body, dict(zip(gate.params, args)))
            self.bodies[key] = (shape, self.total - before)
            return shape
        shape, elements = self.bodies[key]
        self.add(elements)
        return shape

    def add(self, elements: int) -> None:
        self.total += elements
        if self.total > self.limit:
            node = self.node
            raise exceeded("elements", f"the values of this program would hold more than "
                                       f"{self.limit:,} numbers in all once "
                                       f"{self.top.label(node)} is computed",
                           self.top.source, node.span, hint="use smaller vectors and matrices")


def _op_shape(op, args: list) -> Shape:
    """An op's output shape: its `shape` function, broadcasting for an elementwise op,
    None for an array op that has no `shape` (not counted)."""
    if op.shape is not None:
        return op.shape(*args)
    if op.vjp is not None:
        return None
    try:
        return _broadcast(args)
    except ValueError:  # shapes that do not fit: the forward pass says so, with its message
        return None


def _broadcast(shapes: list) -> Shape:
    """numpy's broadcasting rule, on shapes alone (without importing numpy)."""
    ndim = max(map(len, shapes), default=0)
    result = []
    for axis in range(-ndim, 0):
        sizes = {shape[axis] for shape in shapes if len(shape) >= -axis} - {1}
        if len(sizes) > 1:
            raise ValueError("shapes do not broadcast")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)
