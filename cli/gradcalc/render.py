"""Stage 4, render: a run's nodes as the JSON document of SPEC §4, or as the table a
student draws by hand (Rich for the terminal, plain Markdown for a write-up).

Rich is imported only when a table is drawn, so `--json` does not pay for it.
"""
from __future__ import annotations

import json
import math

from .lower import CONST, INPUT, Graph
from .run import Pass

SCHEMA = 1


def node_rows(graph: Graph, run: Pass) -> list[dict]:
    """One dict per node in forward order, with the keys of SPEC §4 and raw numbers."""
    rows = []
    for node in graph.nodes:
        local = run.local[node.id] if run.local is not None else None
        rows.append({
            "id": node.id,
            "label": graph.label(node),
            "op": node.op_name,
            "inputs": list(node.inputs),
            "value": run.values[node.id],
            "local": list(local) if local is not None else [None] * len(node.inputs),
            "grad": run.grads[node.id] if run.grads is not None else None,
            "span": list(node.span),
        })
    return rows


def gradients(graph: Graph, run: Pass, wrt=None) -> dict:
    names = graph.inputs if wrt is None else wrt
    return {name: run.grads[graph.inputs[name]] for name in names}


def warning_rows(graph: Graph, warnings) -> list[dict]:
    return [{"node": node, "message": message} for node, message in warnings]


def json_document(graph: Graph, run: Pass, warnings, wrt=None) -> dict:
    """The --json document: strict JSON, non-finite numbers as "inf", "-inf", "nan"."""
    nodes = node_rows(graph, run)
    for row in nodes:
        row["value"] = json_number(row["value"])
        row["local"] = [json_number(v) for v in row["local"]]
        row["grad"] = json_number(row["grad"])
    return {
        "schema": SCHEMA,
        "expression": graph.source,
        "value": json_number(run.values[graph.output]),
        "gradients": {k: json_number(v) for k, v in gradients(graph, run, wrt).items()},
        "output": graph.output,
        "nodes": nodes,
        "warnings": warning_rows(graph, warnings),
    }


def json_number(value):
    """A number as strict JSON allows it (RFC 8259 has no NaN or Infinity)."""
    if value is None:
        return None
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def dumps(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, allow_nan=False)


def format_number(value, precision: int = 6) -> str:
    """`precision` significant digits, no trailing zeros, no '-0'."""
    if value is None:
        return "—"
    text = f"{float(value):.{precision}g}"
    return "0" if text == "-0" else text


def _local_cell(graph: Graph, node, local, precision: int) -> str:
    if local is None or not node.inputs:
        return ""
    parts = []
    for i, slope in zip(node.inputs, local):
        if slope is None:
            continue
        source = graph.nodes[i]
        name = graph.label(source, width=12) if source.name else f"#{i}"
        parts.append(f"∂/∂{name} = {format_number(slope, precision)}")
    return "\n".join(parts)


def _op_cell(node) -> str:
    if node.kind in (INPUT, CONST):
        return node.kind
    symbol = node.op.symbol
    return node.op.name if symbol == node.op.name else f"{node.op.name} {symbol}"


def table_rows(graph: Graph, run: Pass, precision: int) -> list[list[str]]:
    """The cells of the table, shared by the terminal and Markdown renderings."""
    rows = []
    for node in graph.nodes:
        mark = " (input)" if node.kind == INPUT else ""
        if node.id == graph.output:
            mark = " (output)"
        rows.append([
            str(node.id),
            graph.label(node) + mark,
            _op_cell(node),
            format_number(run.values[node.id], precision),
            _local_cell(graph, node, run.local[node.id], precision),
            format_number(run.grads[node.id], precision),
        ])
    return rows


def output_name(graph: Graph) -> str:
    """What to call the output in ∂f/∂x: its assigned name, else f as in the lecture."""
    name = graph.nodes[graph.output].name
    if name is not None:
        return name
    return "f" if "f" not in graph.inputs else "out"


def _headers(graph: Graph) -> list[str]:
    out = output_name(graph)
    return ["#", "node", "op", "value", "local gradients", f"∂{out}/∂node"]


def rich_table(graph: Graph, run: Pass, precision: int = 6):
    """The table as a Rich renderable: inputs and output marked, numbers right-aligned."""
    from rich.table import Table  # lazy: only the table pays for Rich
    from rich.text import Text  # plain text: a '[' in the source is not Rich markup

    headers = _headers(graph)
    one_line = "\n" not in graph.source.strip()
    table = Table(title=Text(graph.source.strip()) if one_line else None,
                  title_justify="left", show_lines=False, header_style="bold")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in (0, 3, 5) else "left",
                         overflow="fold")
    for node, cells in zip(graph.nodes, table_rows(graph, run, precision)):
        style = "cyan" if node.kind == INPUT else "bold green" if node.id == graph.output \
            else "dim" if node.kind == CONST else None
        table.add_row(*(Text(cell) for cell in cells), style=style)
    return table


def markdown_table(graph: Graph, run: Pass, precision: int = 6) -> str:
    """The same table as GitHub-flavoured Markdown, for a write-up."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")

    headers = _headers(graph)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in (0, 3, 5) else "---" for i in range(len(headers))) + "|"]
    for cells in table_rows(graph, run, precision):
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines)


def summary(graph: Graph, run: Pass, precision: int = 6, wrt=None) -> str:
    """One line under the table: the output's value and its gradient per input."""
    out = output_name(graph)
    parts = [f"{out} = {format_number(run.values[graph.output], precision)}"]
    parts += [f"∂{out}/∂{name} = {format_number(g, precision)}"
              for name, g in gradients(graph, run, wrt).items()]
    return "   ".join(parts)


def warning_lines(graph: Graph, warnings) -> list[str]:
    lines = []
    for node, message in warnings:
        where = "" if node is None else f"node {node} ({graph.label(graph.nodes[node], 24)}): "
        lines.append(f"warning: {where}{message}")
    return lines
