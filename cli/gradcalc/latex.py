"""Stage 4, render (LaTeX): the table as a booktabs `tabular`, the chain rule as an
`align*` environment, and the graph as a TikZ picture, for a homework write-up.

Every piece compiles with plain pdfLaTeX: the table needs booktabs and amsmath, the
picture pgf/TikZ and xcolor. Text from the program (names, labels) is escaped, and the
Unicode the table uses (∂, ·, ≈, ᵀ, ...) is written as LaTeX commands.
"""
from __future__ import annotations

import re

from . import render
from .lower import CONST, INPUT, Graph
from .run import Pass

PREAMBLE_TABLE = r"\usepackage{booktabs,amsmath}"
PREAMBLE_FORMULAS = r"\usepackage{booktabs,amsmath,graphicx}"  # --symbolic's table
PREAMBLE_TIKZ = r"\usepackage{tikz,xcolor}\usetikzlibrary{shapes.geometric,arrows.meta}"

# Unicode in the table's text, as math-mode commands.
_MATH = {"∂": r"\partial ", "·": r"\cdot ", "×": r"\times ", "⊙": r"\odot ", "≈": r"\approx ",
         "−": "-", "…": r"\ldots ", "‖": r"\|", "Σ": r"\Sigma ", "σ": r"\sigma ",
         "√": r"\surd ", "ᵀ": r"^{\mathsf{T}}", "²": "^{2}", "³": "^{3}", "ḡ": r"\bar{g}",
         "π": r"\pi ", "—": r"\text{---}", "→": r"\to ", "≥": r"\geq ", "≤": r"\leq ",
         "{": r"\{", "}": r"\}", "#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$", "_": r"\_",
         "~": r"\sim ", "\\": r"\backslash ", "^": r"\text{\textasciicircum}",
         "'": r"\text{'}", '"': r"\text{\textquotedbl}"}
# The same for text mode (labels in \texttt, words of an op's pattern).
_TEXT = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$",
         "%": r"\%", "&": r"\&", "_": r"\_", "^": r"\textasciicircum{}",
         "~": r"\textasciitilde{}", '"': r"\textquotedbl{}", "<": r"\textless{}",
         ">": r"\textgreater{}", "|": r"\textbar{}"}
_TOKEN = re.compile(r"(?P<number>\d+(?:\.\d*)?(?:e[+-]?\d+)?)|(?P<word>[A-Za-z][A-Za-z0-9_]*)|(?P<char>.)",
                    re.S | re.ASCII)  # ASCII: a digit of another script (𑃰) is a character


def math(text: str) -> str:
    """Text from the table (`∂/∂x = 1.5e-07`, `ḡ · xᵀ`) as LaTeX math: exponents as
    ×10^{n}, names of several letters upright-italic, Unicode as commands."""
    pieces = []
    for token in _TOKEN.finditer(text):
        if token.group("number"):
            mantissa, _, exponent = token.group("number").partition("e")
            pieces.append(mantissa if not exponent else
                          rf"{mantissa}\times 10^{{{int(exponent)}}}")
        elif token.group("word"):
            word = token.group("word")
            pieces.append(r"\infty " if word == "inf" else r"\mathrm{NaN}" if word == "nan"
                          else word if len(word) == 1 else rf"\mathit{{{_text(word)}}}")
        else:
            pieces.append(_char(token.group("char"), _MATH))
    return re.sub(r"(?<=[a-z]) +(?= )", "", "".join(pieces))  # `\cdot  x` is `\cdot x`


def _text(text: str) -> str:
    """Text for text mode: LaTeX's specials escaped, the table's Unicode as math."""
    return "".join(_TEXT.get(c) or (_char(c, {}) if c.isascii() else f"${_char(c, _MATH)}$")
                   for c in text)


def _char(c: str, table: dict) -> str:
    if c in table:
        return table[c]
    if c.isascii():
        return c if c.isprintable() else " "  # a tab, a control character: a space
    return rf"\text{{[U+{ord(c):04X}]}}"  # no glyph in plain LaTeX: its code point


def _lines(cell: str, convert) -> str:
    """A cell of one or more lines; several stack in a nested tabular."""
    lines = [convert(line) for line in cell.split("\n") if line.strip()]
    if len(lines) <= 1:
        return "".join(lines)
    return r"\begin{tabular}[t]{@{}l@{}}" + r" \\ ".join(lines) + r"\end{tabular}"


def _in_math(text: str) -> str:
    return f"${math(text)}$"


def table(graph: Graph, run: Pass, precision: int = 6, show_all: bool = False,
          full: bool = False) -> str:
    """The table of every node (the terminal's rows) as a booktabs tabular."""
    headers = render._headers(graph, render.has_arrays(run))
    numeric = render._numeric_columns(headers)
    kinds = []
    for k, header in enumerate(headers):
        kinds.append("number" if k in numeric else "label" if header == "node" else
                     "math" if header == "local gradients" else "text")
    spec = "".join("r" if k in numeric else "l" for k in range(len(headers)))
    head = [r"\#" if h == "#" else _in_math(h) if "∂" in h else _text(h) for h in headers]
    lines = [f"% {PREAMBLE_TABLE}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(head) + r" \\", r"\midrule"]
    rows = render.table_rows(graph, run, precision, show_all, full)
    for cells in rows:
        if cells[0] == "…":  # the row that says how many are hidden
            lines.append(rf"\multicolumn{{{len(headers)}}}{{l}}{{\ldots\ {_text(cells[1])}}} \\")
            continue
        lines.append(" & ".join(_cell(cell, kind) for cell, kind in zip(cells, kinds)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    note = render.row_reference_note(rows, headers)
    return "\n".join(lines + ([] if note is None else ["", _text(note)]))


def _cell(cell: str, kind: str) -> str:
    if kind == "label":
        return _lines(cell, lambda line: rf"\texttt{{{_text(line)}}}")
    if kind in ("number", "math"):
        return _lines(cell, lambda line: "" if line == "—" else _in_math(line))
    return _lines(cell, _text)


def summary(graph: Graph, run: Pass, precision: int = 6, wrt=None) -> str:
    """The line under the table: the output's value and its gradient per input."""
    out = render.output_name(graph)
    parts = [f"{_symbol(out)} = {math(render.format_number(run.values[graph.output], precision))}"]
    parts += [rf"\frac{{\partial {_symbol(out)}}}{{\partial {_symbol(name)}}} = "
              f"{math(' '.join(render.format_number(g, precision, run.exact).split()))}"
              for name, g in render.gradients(graph, run, wrt).items()]
    rows = [r",\quad ".join(parts[k:k + SUMMARY_PARTS])
            for k in range(0, len(parts), SUMMARY_PARTS)]
    return "\n".join([r"\begin{gather*}", ", \\\\\n".join(rows), r"\end{gather*}"])


SUMMARY_PARTS = 4  # the summary's parts on one line of the page


def _symbol(name: str) -> str:
    return math(name)


def _partial(out: str, name: str) -> str:
    return rf"\frac{{\partial {_symbol(out)}}}{{\partial {_symbol(name)}}}"


def steps(graph: Graph, run: Pass, precision: int = 6, formulas: bool = False) -> str:
    """The chain rule, backwards, as an align* environment: one line per node, aligned
    at its first `=`, in the lecture's form

        ∂f/∂q = ∂f/∂f · ∂f/∂q = 1 · (−4) = −4

    `formulas`: `run` is a gradcalc.symbolic.Formulas, written in SymPy's LaTeX.
    """
    out = render.output_name(graph)
    if formulas:
        from .symbolic import latex_factor as number, latex_text

        def whole(value) -> str:
            return latex_text(value)
    else:
        def number(value, first=False) -> str:
            return math(render.factor(render.format_number(value, precision, run.exact),
                                      first))

        def whole(value) -> str:
            return math(" ".join(render.format_number(value, precision, run.exact).split()))

    lines = [rf"{_partial(out, out)} &= {whole(run.grads[graph.output])}"
             r" && \text{(the upstream gradient)}"]
    arrays = render.matrix_steps(graph, run)
    for node, edges in render.chain_rule(graph, run):
        name = render.symbol(graph, node.id)
        total = whole(run.grads[node.id])
        if arrays:
            symbolic = " + ".join(
                math(render._edge_rule(graph, graph.nodes[c], p,
                                       f"∂{out}/∂{render.symbol(graph, c)}"))
                for c, p in edges)
            note = render.shape_text(run.values[node.id])
            line = f"{_partial(out, name)} &= {symbolic} = {total}"
        else:
            symbolic = r" + ".join(
                rf"{_partial(out, render.symbol(graph, c))} \cdot "
                rf"{_partial(render.symbol(graph, c), name)}" for c, _ in edges)
            numeric = " + ".join(
                rf"{number(run.grads[c], first=k == 0)} \cdot {number(run.local[c][p])}"
                for k, (c, p) in enumerate(edges))
            line = f"{_partial(out, name)} &= {symbolic} = {numeric} = {total}"
            note = ""
        if len(edges) > 1:
            note += ("; " if note else "") + f"gradients add at branches: {len(edges)} edges"
        lines.append(line + (rf" && \text{{({_text(note)})}}" if note else ""))
    return "\n".join([f"% {PREAMBLE_TABLE}", r"\begin{align*}", " \\\\\n".join(lines),
                      r"\end{align*}"])


# -- TikZ -------------------------------------------------------------------------------

def tikz(graph: Graph, run: Pass, precision: int = 3, warnings=(), formulas=None) -> str:
    """The graph's picture as a tikzpicture: Graphviz's layout (node positions, edge
    curves and label places, in points) when `dot` is installed, else a layered one.
    `formulas` (graph --symbolic): each node shows its value's and ∂f/∂node's, in
    SymPy's LaTeX."""
    from . import picture

    picture_edges = picture.edges(graph, run)
    layout = _graphviz_layout(picture.dot(graph, run, precision, warnings, formulas))
    if layout is None:
        layout = _layered_layout(graph, picture_edges)
    positions, routes, title_place = layout
    warned = picture._warned(warnings)
    lines = [f"% {PREAMBLE_TIKZ}",
             r"\begin{tikzpicture}[x=1bp, y=1bp, font=\sffamily\small, >={Stealth[length=4pt]}]",
             rf"\definecolor{{gcvalue}}{{HTML}}{{{picture.VALUE_COLOUR[1:]}}}",
             rf"\definecolor{{gcgrad}}{{HTML}}{{{picture.GRAD_COLOUR[1:]}}}",
             rf"\definecolor{{gcmuted}}{{HTML}}{{{picture.MUTED_COLOUR[1:]}}}",
             rf"\definecolor{{gcwarn}}{{HTML}}{{{picture.WARN_COLOUR[1:]}}}"]
    title = picture._title(graph)
    if title is not None and title_place is not None:
        lines.append(rf"\node at {_point(title_place)} {{\ttfamily\footnotesize {_text(title)}}};")
    for node in graph.nodes:
        extra = "" if formulas is None else _tikz_formulas(graph, node, formulas)
        lines.append(_tikz_node(node, positions[f"n{node.id}"], node.id in warned, extra))
    for point in picture._branch_points(picture_edges):
        lines.append(rf"\node[circle, fill=black!75, inner sep=0pt, minimum size=3pt] "
                     rf"({point}) at {_point(positions[point])} {{}};")
    lines.append(rf"\node ({'output'}) at {_point(positions['output'])} "
                 rf"{{$\boldsymbol{{{_symbol(render.output_name(graph))}}}$}};")
    for edge in picture_edges:
        curve, place = routes[edge.tail, edge.head].pop(0)
        lines.append(rf"\draw[->, black!73] {curve};")
        if edge.value is not None:
            label = rf"\textcolor{{gcvalue}}{{${math(picture.number(edge.value, precision))}$}}"
            if edge.grad is not None:
                label += rf"\\\textcolor{{gcgrad}}{{${math(picture.number(edge.grad, precision))}$}}"
            lines.append(rf"\node[align=center, font=\scriptsize, inner sep=1pt] "
                         rf"at {_point(place)} {{{label}}};")
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines) + "\n"


def _point(xy) -> str:
    return f"({xy[0]:.1f},{xy[1]:.1f})"


def _tikz_formulas(graph: Graph, node, formulas) -> str:
    """A node's formulas under its label (graph --symbolic): its value's (a gate's) in
    green, ∂f/∂node's in red, in SymPy's LaTeX."""
    from .symbolic import latex_text

    if node.kind == CONST:
        return ""
    lines = []
    if node.kind != INPUT:
        lines.append(rf"\textcolor{{gcvalue}}{{${latex_text(formulas.values[node.id])}$}}")
    grad = formulas.grads[node.id]
    if grad is not None:
        out = render.output_name(graph)
        lines.append(rf"\textcolor{{gcgrad}}{{${_partial(out, render.symbol(graph, node.id))}"
                     rf" = {latex_text(grad)}$}}")
    return "".join(rf"\\{{\scriptsize {line}}}" for line in lines)


def _tikz_node(node, xy, warned: bool, formulas: str = "") -> str:
    """A node of the picture; `formulas`: lines (from _tikz_formulas) under its label."""
    where = f"(n{node.id}) at {_point(xy)}"
    colour = ", text=gcwarn" if warned else ""
    if node.kind == INPUT:
        label = f"${_symbol(node.name)}$"
        if formulas:
            label = rf"\begin{{tabular}}{{@{{}}c@{{}}}}{label}{formulas}\end{{tabular}}"
        return rf"\node[inner sep=2pt{colour}] {where} {{{label}}};"
    if node.kind == CONST:
        text = node.name if node.name is not None else node.text
        return rf"\node[inner sep=2pt, text=gcmuted, font=\sffamily\footnotesize{colour}] " \
               rf"{where} {{${math(text)}$}};"
    symbol = node.op.symbol
    shape = "circle" if len(symbol) <= 4 else "ellipse"
    border = ", draw=gcwarn, line width=1pt" if warned else ", draw"
    label = f"${math(symbol)}$" if len(symbol) <= 2 else _text(symbol)
    if node.name is not None:
        label = rf"{label}\\[-2pt]{{\scriptsize\color{{gcmuted}}{_text(node.name)}}}"
    if node.name is not None or formulas:
        label = rf"\begin{{tabular}}{{@{{}}c@{{}}}}{label}{formulas}\end{{tabular}}"
        shape = "ellipse" if formulas else shape
    # 36bp: the 0.5 in of the SVG's gates, so that Graphviz's curves meet their borders
    return rf"\node[{shape}{border}, inner sep=1.5pt, minimum size=36bp] {where} {{{label}}};"


def _graphviz_layout(dot_text: str):
    """Graphviz's layout of the DOT picture (`dot -Tjson0`): positions by name, for each
    (tail, head) the paths of its edges (TikZ Bézier curves) and their labels' places, and
    the title's place. None
    when Graphviz is not installed or cannot lay it out."""
    import json
    import shutil
    import subprocess

    program = shutil.which("dot")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "-Tjson0"], input=dot_text.encode("utf-8"),
                              capture_output=True, check=True)
        laid = json.loads(done.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
    objects = laid.get("objects", [])
    names = {o["_gvid"]: o["name"] for o in objects}
    positions = {o["name"]: _xy(o["pos"]) for o in objects if "pos" in o}
    routes: dict[tuple[str, str], list] = {}  # Graphviz lists edges by tail, not as given
    for edge in laid.get("edges", []):
        tail, head = names[edge["tail"]], names[edge["head"]]
        routes.setdefault((tail, head), []).append(
            (_spline(edge["pos"], tail, head), _xy(edge["lp"]) if "lp" in edge else None))
    title = _xy(laid["lp"]) if "lp" in laid else None
    return positions, routes, title


def _xy(text: str) -> tuple[float, float]:
    x, y = text.split(",")[:2]
    return float(x), float(y)


def _spline(pos: str, tail: str, head: str) -> str:
    """Graphviz's edge path (`e,x,y p0 p1 p2 p3 ...`: cubic Bézier pieces, then the
    arrowhead's tip) as a TikZ path. It starts and ends at the TikZ nodes' borders
    (LaTeX's text is smaller than Graphviz measured), its curve in between as drawn."""
    points = [_xy(part) for part in pos.split() if not part.startswith(("e,", "s,"))]
    path = [f"({tail})"]
    for k in range(1, len(points) - 2, 3):
        path.append(f".. controls {_point(points[k])} and {_point(points[k + 1])} "
                    f".. {_point(points[k + 2])}")
    path.append(f"-- ({head})")
    return " ".join(path)


def _layered_layout(graph: Graph, picture_edges):
    """Without Graphviz: inputs in the first column, each node one column right of its
    furthest input, the output's marker last; straight arrows, labels at their middles."""
    column = {}
    for node in graph.nodes:
        column[f"n{node.id}"] = 1 + max((column[f"n{i}"] for i in node.inputs), default=-1)
    for edge in picture_edges:
        if edge.head.startswith("b"):
            column[edge.head] = column[edge.tail] + 0.5
    column["output"] = max(column.values()) + 1
    rows: dict[float, int] = {}
    positions = {}
    for name, col in column.items():
        rows[col] = rows.get(col, 0) + 1
        positions[name] = (col * 90.0, -rows[col] * 60.0)
    routes: dict[tuple[str, str], list] = {}
    for edge in picture_edges:
        middle = tuple((a + b) / 2 for a, b in zip(positions[edge.tail], positions[edge.head]))
        routes.setdefault((edge.tail, edge.head), []).append(
            (f"({edge.tail}) -- ({edge.head})", middle))
    return positions, routes, None


# -- formulas (--symbolic) ---------------------------------------------------------------

def formula_table(result, numbers=None, precision: int = 6) -> str:
    """`eval --symbolic --format latex`: the table's layout with each node's formulas
    (a gradcalc.symbolic.Formulas), typeset by SymPy's LaTeX printer; with `numbers` (the
    Result at the bindings, on the same graph), each formula `= its number`."""
    graph = result.graph
    out = render.output_name(graph)
    run = numbers.run if numbers is not None else None
    lines = [f"% {PREAMBLE_FORMULAS}", r"\sbox0{\begin{tabular}{rllll}", r"\toprule",
             rf"\# & node & formula & local gradients & ${math(f'∂{out}/∂')}$node \\",
             r"\midrule"]
    for node in graph.nodes:
        value, slopes, grad = (None, [None] * len(node.inputs), None) if run is None else \
            (run.values[node.id], run.local[node.id] or [None] * len(node.inputs),
             run.grads[node.id])
        local = [f"{math('∂/∂' + render.symbol(graph, i))} = "
                 f"{_formula(formula, slope, precision)}"
                 for i, formula, slope in zip(node.inputs, result.local[node.id] or [], slopes)
                 if formula is not None]
        cells = [str(node.id), rf"\texttt{{{_text(graph.label(node, 16))}}}",
                 _in_formula(result.values[node.id], value, precision),
                 _lines("\n".join(local), lambda line: f"${line}$"),
                 _in_formula(result.grads[node.id], grad, precision)]
        lines.append(" & ".join(cells) + r" \\")
    # Formulas (a Piecewise's cases) do not break: a table wider than the page is shrunk
    lines += [r"\bottomrule", r"\end{tabular}}",
              r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi"]
    return "\n".join(lines)


def _formula(formula, number, precision: int) -> str:
    """A formula in SymPy's LaTeX, `= number` beside it when a number is given."""
    from .symbolic import latex_text

    shown = latex_text(formula)
    if number is None or getattr(formula, "is_Integer", False):  # not `1 = 1`
        return shown
    return f"{shown} = {math(render.format_number(number, precision))}"


def _in_formula(formula, number, precision: int) -> str:
    return "" if formula is None else f"${_formula(formula, number, precision)}$"


def formula_summary(result, numbers=None, precision: int = 6) -> str:
    """The output's formula and its gradient's per input as an align* environment,
    `= number` beside each when `numbers` (the Result at the bindings) is given; then the
    conventions that the formulas use (max's tie) as a sentence."""
    out = render.output_name(result.graph)
    rows = [f"{_symbol(out)} &= "
            f"{_formula(result.value, numbers and numbers.value, precision)}"]
    rows += [f"{_partial(out, name)} &= "
             f"{_formula(grad, numbers and numbers.gradients[name], precision)}"
             for name, grad in result.gradients.items()]
    notes = [f"Note: {_text(note)} (SymPy writes Heaviside as $\\theta$)."
             for note in result.notes]
    return "\n".join([r"\begin{align*}", " \\\\\n".join(rows), r"\end{align*}", *notes])
