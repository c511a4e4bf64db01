"""The yardstick for the engine: forward and backward over a flat node list in plain Python.

No classes, no checks, no warnings, no stored local gradients: one `if` chain per node
and the arithmetic written inline. This is about as fast as pure Python can run a
computational graph, so gradcalc's engine is measured against it (issue target: within 2×).
"""
from __future__ import annotations

import math

INPUT, CONST, ADD, MUL, TANH = range(5)


def from_graph(graph, inputs: dict) -> list[tuple]:
    """The same graph as gradcalc lowered it, as (op, a, b) tuples: for an input `a` is
    its value, for a constant its value, else `a` and `b` are node indices."""
    codes = {"add": ADD, "mul": MUL, "tanh": TANH}
    nodes = []
    for node in graph.nodes:
        if node.kind == "input":
            nodes.append((INPUT, float(inputs[node.name]), 0))
        elif node.kind == "const":
            nodes.append((CONST, float(node.text), 0))
        else:
            code = codes[node.op.name]
            nodes.append((code, node.inputs[0], node.inputs[-1]))
    return nodes


def forward_backward(nodes: list[tuple]) -> tuple[list[float], list[float]]:
    """Values of every node, then ∂output/∂node by the chain rule, last node the output."""
    values = [0.0] * len(nodes)
    for i, (op, a, b) in enumerate(nodes):
        if op == ADD:
            values[i] = values[a] + values[b]
        elif op == MUL:
            values[i] = values[a] * values[b]
        elif op == TANH:
            values[i] = math.tanh(values[a])
        else:
            values[i] = a
    grads = [0.0] * len(nodes)
    grads[-1] = 1.0
    for i in range(len(nodes) - 1, -1, -1):
        op, a, b = nodes[i]
        g = grads[i]
        if op == ADD:
            grads[a] += g
            grads[b] += g
        elif op == MUL:
            grads[a] += g * values[b]
            grads[b] += g * values[a]
        elif op == TANH:
            v = values[i]
            grads[a] += g * (1.0 - v * v)
    return values, grads
