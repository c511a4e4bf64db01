"""Stage 4, render (pictures): the graph as Graphviz DOT or Mermaid text, and DOT drawn as
SVG or PNG by Graphviz's `dot` program.

The picture follows the CS231n lecture figures: inputs on the left, the output on the
right, gates as round nodes showing their operation's symbol, and on every edge the value
flowing forward (green, above) and the gradient of the output with respect to that value
(red, below). A last edge leads from the output node to a marker with the output's name,
carrying its value and the upstream gradient the backward pass started from.
"""
from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass

from . import chain
from .errors import UsageError
from .lower import CONST, INPUT, Graph
from .render import format_number, output_name, symbol
from .run import Pass

VALUE_COLOUR = "#1a7f37"
GRAD_COLOUR = "#cf222e"
MUTED_COLOUR = "#57606a"
WARN_COLOUR = "#bc4c00"
_EXTENSIONS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid",
               ".svg": "svg", ".png": "png", ".tex": "tikz"}
_TITLE_WIDTH = 80


@dataclass(frozen=True)
class Edge:
    """One arrow of the picture, between picture nodes: `n3` is graph node 3, `b3` the
    point where node 3's value branches to several consumers, `output` the marker."""

    tail: str
    head: str
    value: object  # None: no label (an edge out of a constant: the node shows its value)
    grad: object  # ∂output/∂(the value on this edge); None where it is not computed


def edges(graph: Graph, run: Pass) -> list[Edge]:
    """Every arrow of the picture: into branch points first, then in forward order, then
    the arrow into the output marker.

    The gradient on an arrow is ∂output/∂(the value it carries): the consumer's gradient
    times the local gradient of that input. A node that feeds several consumers first
    leads to a branch point, on an arrow with the node's own gradient; the arrows out of
    the branch point carry their shares, which add up to it ("gradients add at branches").
    An arrow carries 0 where the backward pass passed nothing (its node is not reached, or
    its local gradient is a structural 0, gradcalc.chain), even if the other factor is
    infinite; elsewhere the product, nan for 0 · inf, as in the backward pass.
    """
    nodes = graph.nodes
    grads = run.grads if run.grads is not None else [None] * len(nodes)

    def reached(node_id: int) -> bool:
        return run.live is None or chain.any_of(run.live[node_id])

    def blocked(op, slope) -> bool:
        return getattr(op, "structural", False) and chain.any_of(slope == 0)

    uses = [0] * len(nodes)
    for node in nodes:
        for tail in node.inputs:
            uses[tail] += 1
    uses[graph.output] += 1

    def labelled(tail: int, head: str, grad) -> Edge:
        source = f"b{tail}" if uses[tail] > 1 else f"n{tail}"
        if nodes[tail].kind == CONST:
            return Edge(source, head, None, None)
        return Edge(source, head, run.values[tail], grad)

    found = [Edge(f"n{n.id}", f"b{n.id}", None if n.kind == CONST else run.values[n.id],
                  None if n.kind == CONST else grads[n.id])
             for n in nodes if uses[n.id] > 1]
    for node in nodes:
        local = run.local[node.id] if run.local is not None else None
        upstream = grads[node.id]
        shares = run.shares.get(node.id)  # vectors: what the backward pass sent each way
        for position, tail in enumerate(node.inputs):
            slope = local[position] if local is not None else None
            if upstream is None or (slope is None and shares is None):
                grad = None
            elif shares is not None:
                grad = shares[position]
            elif not reached(node.id) or blocked(node.op, slope):
                grad = 0.0
            else:
                with _quiet_numpy():  # inf · 0 is nan on the edge as in the run, unannounced
                    grad = upstream * slope
            found.append(labelled(tail, f"n{node.id}", grad))
    found.append(labelled(graph.output, "output", grads[graph.output]))
    return found




def _quiet_numpy():
    """numpy's floating-point warnings off, if numpy computed this run (else nothing)."""
    numpy = sys.modules.get("numpy")
    return numpy.errstate(all="ignore") if numpy is not None else contextlib.nullcontext()


def _branch_points(picture_edges: list[Edge]) -> list[str]:
    return [edge.head for edge in picture_edges if edge.head.startswith("b")]


def _warned(warnings) -> dict[int, list[str]]:
    by_node: dict[int, list[str]] = {}
    for node, message in warnings:
        if node is not None:
            by_node.setdefault(node, []).append(message)
    return by_node


# Edges per node of the largest picture drawn: Graphviz's layout time grows with the
# edges, and a dense graph of 29 nodes (each using all before it) took it 29 s.
EDGES_PER_NODE = 2
# Seconds Graphviz may take to draw (SVG, PNG) before it is stopped.
GRAPHVIZ_SECONDS = 30


def check_size(graph: Graph, max_nodes: int) -> None:
    """Refuse a picture nobody can read (and that Graphviz would take long to lay out):
    more than `max_nodes` nodes, or more than EDGES_PER_NODE × `max_nodes` edges."""
    count = len(graph.nodes)
    if count > max_nodes:
        raise UsageError(
            f"the graph has {count} nodes, more than a readable picture holds ({max_nodes})",
            hint=f"pass --max-nodes {count} to draw it anyway, or read the numbers with "
                 "`gradcalc eval` (--json for scripts)")
    edges = sum(len(node.inputs) for node in graph.nodes)
    if edges > EDGES_PER_NODE * max_nodes:
        needed = -(-edges // EDGES_PER_NODE)
        raise UsageError(
            f"the graph has {edges} edges, more than a readable picture holds "
            f"({EDGES_PER_NODE * max_nodes}, {EDGES_PER_NODE} per node of --max-nodes)",
            hint=f"pass --max-nodes {needed} to draw it anyway, or read the numbers with "
                 "`gradcalc eval` (--json for scripts)")


def format_for(path: str | None, fmt: str | None) -> str:
    """The --format given, else the one -o FILE's extension names, else DOT."""
    if fmt is not None:
        return fmt
    if path is None:
        return "dot"
    suffix = path[path.rfind("."):].lower() if "." in path else ""
    if suffix not in _EXTENSIONS:
        raise UsageError(f"cannot tell the picture format from the file name {path}",
                         hint="pass --format dot|mermaid|tikz|svg|png, or name the file "
                              "*.dot, *.mmd, *.tex, *.svg or *.png")
    return _EXTENSIONS[suffix]


def _title(graph: Graph) -> str | None:
    """The program's text above the picture when it is one line (as in the table)."""
    text = " ".join(graph.source.split())
    if "\n" in graph.source.strip() or not text:
        return None
    if len(text) > _TITLE_WIDTH:
        half = _TITLE_WIDTH // 2 - 1
        text = f"{text[:half]}…{text[-half:]}"
    return text


def number(value, precision: int) -> str:
    """`precision` significant digits as in the table, but 1230 rather than 1.23e+03:
    on a picture a whole number below a million reads better without an exponent."""
    text = format_number(value, precision)
    if "e+" in text and not getattr(value, "ndim", 0) and abs(float(text)) < 1e6:
        return f"{float(text):.0f}"
    return text


# -- Graphviz DOT ---------------------------------------------------------------------

def _html(text: str) -> str:
    """Text for a Graphviz HTML-like label: the XML specials escaped, Unicode kept."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _quoted(text: str) -> str:
    """A DOT double-quoted string (for tooltips): backslash and quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_attributes(edge: Edge, precision: int) -> str:
    if edge.value is None:
        return ""
    value = f'<font color="{VALUE_COLOUR}">{_html(number(edge.value, precision))}</font>'
    if edge.grad is None:
        return f" [label=<{value}>]"
    grad = f'<font color="{GRAD_COLOUR}">{_html(number(edge.grad, precision))}</font>'
    return f" [label=<{value}<br/>{grad}>]"


def _dot_node(graph: Graph, node, warnings: list[str], formulas=None) -> str:
    """A node's DOT line. A node with warnings (a kink, an overflow) is drawn in orange,
    its warnings in the tooltip that an SVG viewer shows on hover. With `formulas`
    (gradcalc.symbolic.Formulas), under the node its value's formula (green) and
    ∂output/∂node's (red)."""
    tooltip = "\n".join([graph.label(node)] + [f"warning: {m}" for m in warnings])
    if node.kind in (INPUT, CONST):
        text = node.name if node.name is not None else node.text
        style = "" if node.kind == INPUT else f', fontsize=11, fontcolor="{MUTED_COLOUR}"'
        if warnings:
            style += f', fontcolor="{WARN_COLOUR}"'
        label = _html(text)
        if formulas is not None and node.kind == INPUT:
            label += _formula_lines(graph, node, formulas, value=False)
        return f"n{node.id} [shape=plaintext, label=<{label}>{style}, " \
               f"tooltip={_quoted(tooltip)}]"
    symbol = node.op.symbol
    shape = "circle" if len(symbol) <= 4 and formulas is None else "ellipse"
    label = _html(symbol)
    if node.name is not None:  # a named intermediate (q = x + y) keeps its name
        label += f'<br/><font point-size="10" color="{MUTED_COLOUR}">{_html(node.name)}</font>'
    if formulas is not None:
        label += _formula_lines(graph, node, formulas)
    style = f', color="{WARN_COLOUR}", penwidth=2' if warnings else ""
    return f"n{node.id} [shape={shape}, label=<{label}>{style}, tooltip={_quoted(tooltip)}]"


def formula_texts(graph: Graph, node, formulas, value: bool = True) -> list[tuple[str, str]]:
    """The formulas a picture shows on `node`, as (colour, line): its value's (unless
    `value` is False: an input is its name) and `∂f/∂q = ...`, ∂output/∂node's."""
    from .symbolic import picture_lines

    texts = []
    if value:
        texts += [(VALUE_COLOUR, line) for line in picture_lines(formulas.values[node.id])]
    grad = formulas.grads[node.id]
    if grad is not None:
        lines = picture_lines(grad)
        name = symbol(graph, node.id).replace("*", "·")
        lines[0] = f"∂{output_name(graph)}/∂{name} = {lines[0]}"
        texts += [(GRAD_COLOUR, line) for line in lines]
    return texts


def _formula_lines(graph: Graph, node, formulas, value: bool = True) -> str:
    return "".join(f'<br/><font point-size="10" color="{colour}">{_html(line)}</font>'
                   for colour, line in formula_texts(graph, node, formulas, value))


def dot(graph: Graph, run: Pass, precision: int = 3, warnings=(), formulas=None) -> str:
    """The picture as Graphviz DOT text (needs nothing to produce; `dot` draws it).
    `warnings` are (node id or None, message): flagged nodes get an orange border.
    `formulas` (gradcalc.symbolic.Formulas, graph --symbolic): each node shows its own."""
    font = "DejaVu Sans,Helvetica,Arial,sans-serif"
    lines = ["digraph gradcalc {",
             "  rankdir=LR; ordering=in; nodesep=0.5; ranksep=0.5;",
             f'  node [fontname="{font}", fontsize=14, margin=0.04];',
             f'  edge [fontname="{font}", fontsize=11, color="#444444", arrowsize=0.7];']
    title = _title(graph)
    if title is not None:
        lines.append('  labelloc=t; fontname="DejaVu Sans Mono,Courier,monospace"; '
                     f"fontsize=12; label=<{_html(title)}>;")
    warned = _warned(warnings)
    for node in graph.nodes:
        lines.append("  " + _dot_node(graph, node, warned.get(node.id, []), formulas))
    if graph.inputs:  # inputs in the first column, as in the lecture's figures
        lines.append("  {rank=source; " + " ".join(f"n{i};" for i in graph.inputs.values()) + "}")
    picture_edges = edges(graph, run)
    for point in _branch_points(picture_edges):
        lines.append(f'  {point} [shape=point, width=0.06, tooltip="branch"]')
    out = output_name(graph)
    lines.append(f'  output [shape=plaintext, fontname="{font}", label=<<b>{_html(out)}</b>>, '
                 f"tooltip={_quoted('the output, ' + out)}]")
    lines.append("  {rank=sink; output;}")
    for edge in picture_edges:
        lines.append(f"  {edge.tail} -> {edge.head}{_edge_attributes(edge, precision)}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Mermaid --------------------------------------------------------------------------

def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: Mermaid's entity codes for its specials."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}
    return "".join(codes.get(c, c) for c in text)


def mermaid(graph: Graph, run: Pass, precision: int = 3, warnings=(), formulas=None) -> str:
    """The picture as a Mermaid flowchart (for Markdown that renders Mermaid).

    Mermaid draws an edge label in one colour, so the gradient's line is marked with ∂
    (and with `formulas`, ∂output/∂node's formula on each node).
    """
    lines = []
    title = _title(graph)
    if title is not None:  # a JSON string is a valid YAML scalar
        lines += ["---", f"title: {json.dumps(title, ensure_ascii=False)}", "---"]
    lines.append("flowchart LR")
    warned = _warned(warnings)
    for node in graph.nodes:
        extra = "" if formulas is None or node.kind == CONST else "".join(
            "<br/>" + _mermaid_text(line)
            for _, line in formula_texts(graph, node, formulas, node.kind != INPUT))
        if node.kind == INPUT:
            lines.append(f'  n{node.id}["{_mermaid_text(node.name)}{extra}"]:::input')
        elif node.kind == CONST:
            text = node.name if node.name is not None else node.text
            lines.append(f'  n{node.id}["{_mermaid_text(text)}"]:::const')
        else:
            label = _mermaid_text(node.op.symbol)
            if node.name is not None:
                label += "<br/>" + _mermaid_text(node.name)
            label += extra
            flag = ":::warned" if node.id in warned else ""
            lines.append(f'  n{node.id}(("{label}")){flag}')
    picture_edges = edges(graph, run)
    for point in _branch_points(picture_edges):
        lines.append(f'  {point}((" ")):::branch')
    lines.append(f'  output["{_mermaid_text(output_name(graph))}"]:::output')
    for edge in picture_edges:
        if edge.value is None:
            lines.append(f"  {edge.tail} --> {edge.head}")
            continue
        label = _mermaid_text(number(edge.value, precision))
        if edge.grad is not None:
            label += "<br/>∂ " + _mermaid_text(number(edge.grad, precision))
        lines.append(f'  {edge.tail} -->|"{label}"| {edge.head}')
    lines += ["  classDef input fill:none,stroke:none",
              f"  classDef const fill:none,stroke:none,color:{MUTED_COLOUR},font-size:11px",
              "  classDef output fill:none,stroke:none,font-weight:bold",
              "  classDef branch fill:#444444,stroke:#444444",
              f"  classDef warned stroke:{WARN_COLOUR},stroke-width:2px"]
    return "\n".join(lines) + "\n"


def tikz(graph: Graph, run: Pass, precision: int = 3, warnings=(), formulas=None) -> str:
    """The picture as a TikZ picture for LaTeX (gradcalc.latex)."""
    from . import latex

    return latex.tikz(graph, run, precision, warnings, formulas)


TEXT_FORMATS = {"dot": dot, "mermaid": mermaid, "tikz": tikz}  # the formats written as text


# -- Graphviz -------------------------------------------------------------------------

def draw(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG drawn by Graphviz's `dot` program, with a clear error when it is missing."""
    import shutil  # here, not at the top: every command would pay ~10 ms for these two
    import subprocess

    program = shutil.which("dot")
    if program is None:
        raise _missing_graphviz(fmt)
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode("utf-8"),
                              capture_output=True, check=False, timeout=GRAPHVIZ_SECONDS)
    except OSError as exc:
        raise _missing_graphviz(fmt, f"cannot be run: {exc.strerror}") from None
    except subprocess.TimeoutExpired:  # dot was stopped (killed and waited for)
        raise UsageError(f"Graphviz's dot took longer than {GRAPHVIZ_SECONDS} s to draw the "
                         "picture, and was stopped",
                         hint="--format dot writes the DOT text, to draw elsewhere; or "
                              "draw a smaller graph") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        raise UsageError(f"Graphviz's dot could not draw the picture: {message}",
                         hint="--format dot writes the DOT text, to draw elsewhere")
    return done.stdout


def _missing_graphviz(fmt: str, problem: str = "is not installed (not found on PATH)"):
    return UsageError(
        f"--format {fmt} needs Graphviz's `dot` program, which {problem}",
        hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
             "graphviz; Windows: winget install graphviz), or use --format dot or "
             "--format mermaid, which need nothing")
