"""Stage 4, render (notebooks): what Jupyter shows for a Result, a check Report and
Grades. A Result is the terminal's table as HTML, with the graph drawn by Graphviz under
it when `dot` is installed; the same table as LaTeX for a notebook converted to PDF.

Imported only when a notebook asks for a rich display (IPython calls `_repr_*_`).
"""
from __future__ import annotations

import html

from . import render
from .defaults import GRAPH_MAX_NODES
from .lower import CONST, INPUT

_STYLE = """<style>
.gradcalc table {border-collapse: collapse; font-size: 13px}
.gradcalc th, .gradcalc td {padding: 2px 10px; vertical-align: top; text-align: left;
  border-bottom: 1px solid #d0d7de}
.gradcalc th {border-bottom: 2px solid #57606a}
.gradcalc td.num, .gradcalc th.num {text-align: right; font-variant-numeric: tabular-nums}
.gradcalc td.label {font-family: monospace}
.gradcalc tr.input td {color: #0969da}
.gradcalc tr.output td {color: #1a7f37; font-weight: bold}
.gradcalc tr.const td {color: #6e7781}
.gradcalc .pattern {color: #6e7781; font-size: 11px}
.gradcalc .warning {color: #bc4c00}
.gradcalc caption {text-align: left; font-family: monospace; padding-bottom: 4px}
.gradcalc p.summary {white-space: pre-wrap; font-family: monospace}
</style>"""


def _lines(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def result_html(result, precision: int = 6, svg: str | None = None) -> str:
    """The table of every node (the terminal's cells: values, local gradients, ∂f/∂node,
    gate patterns), the summary line, the warnings, and the graph's SVG if given."""
    graph, run = result.graph, result.run
    headers = render._headers(graph, render.has_arrays(run))
    numeric = render._numeric_columns(headers)
    rows = render.table_rows(graph, run, precision)
    source = graph.source.strip()
    parts = [_STYLE, '<div class="gradcalc"><table>']
    if "\n" not in source:
        parts.append(f"<caption>{html.escape(render._elided(source, render.TITLE_WIDTH))}"
                     "</caption>")
    parts.append("<thead><tr>" + "".join(
        f'<th{" class=num" if k in numeric else ""}>{html.escape(h)}</th>'
        for k, h in enumerate(headers)) + "</tr></thead><tbody>")
    for cells in rows:
        parts.append(_row_html(graph, cells, headers, numeric))
    parts.append("</tbody></table>")
    note = render.row_reference_note(rows, headers)
    parts.append(f'<p class="summary">'
                 f"{html.escape(render.summary(graph, run, precision, result.wrt))}</p>")
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts += [f'<p class="warning">{html.escape(line)}</p>'
              for line in render.warning_lines(graph, result.warnings)]
    if svg is not None:
        parts.append(svg[svg.index("<svg"):])
    parts.append("</div>")
    return "\n".join(parts)


def _row_html(graph, cells: list[str], headers: list[str], numeric: set[int]) -> str:
    if not cells[0].isdigit():  # the row that says how many rows are hidden
        return f'<tr><td>…</td><td colspan="{len(headers) - 1}">{html.escape(cells[1])}</td></tr>'
    node = graph.nodes[int(cells[0])]
    kind = "output" if node.id == graph.output else "input" if node.kind == INPUT else \
        "const" if node.kind == CONST else "gate"
    tds = []
    for k, (header, cell) in enumerate(zip(headers, cells)):
        if header == "op" and "\n" in cell:  # the op, and under it its gradient pattern
            op, pattern = cell.split("\n", 1)
            text = f'{html.escape(op)}<br><span class="pattern">{html.escape(pattern)}</span>'
        else:
            text = _lines(cell)
        css = "num" if k in numeric else "label" if header == "node" else ""
        tds.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
    return f'<tr class="{kind}">' + "".join(tds) + "</tr>"


def svg(result, precision: int = 3) -> str | None:
    """The graph drawn by Graphviz as SVG text; None without `dot` or past the size of a
    readable picture (the table still shows every node)."""
    import shutil

    from . import picture

    if shutil.which("dot") is None or len(result.graph.nodes) > GRAPH_MAX_NODES:
        return None
    text = picture.dot(result.graph, result.run, precision, result.warnings)
    return picture.draw(text, "svg").decode("utf-8")


def result_bundle(result) -> dict:
    """Jupyter's MIME bundle: HTML (table and graph), the graph alone as SVG, the table
    as LaTeX (for a notebook converted to PDF) and the short text."""
    from . import latex

    picture = svg(result)
    bundle = {"text/plain": result_repr(result),
              "text/html": result_html(result, svg=picture),
              "text/latex": latex.table(result.graph, result.run) + "\n"
                            + latex.summary(result.graph, result.run, wrt=result.wrt)}
    if picture is not None:
        bundle["image/svg+xml"] = picture
    return bundle


def result_repr(result) -> str:
    """One line: the output's value and the input gradients, and how many warnings."""
    graph, run = result.graph, result.run
    text = render.summary(graph, run, wrt=result.wrt)
    count = len(result.warnings)
    more = f", {count} warning{'s' if count != 1 else ''}" if count else ""
    return f"<gradcalc.Result {text}  ({len(graph.nodes)} nodes{more})>"


def rich_html(renderables) -> str:
    """Rich renderables (the terminal's tables) as HTML with inline colours."""
    from rich.console import Console

    console = Console(record=True, width=120, file=_Discard(), force_terminal=False,
                      force_jupyter=False)  # in a kernel Rich would display it itself
    for renderable in renderables:
        console.print(renderable, markup=False, highlight=False)
    return console.export_html(inline_styles=True, code_format=(
        '<pre style="font-family: monospace; line-height: 1.2">{code}</pre>'))


class _Discard:
    """A file that keeps nothing: the recording console's output is only exported."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def report_html(report) -> str:
    from . import checking

    return rich_html([*checking.rich_tables(report), *checking.summary(report)])


def report_repr(report) -> str:
    from . import checking

    return f"<gradcalc.checking.Report {' · '.join(checking.summary(report))}>"


def grades_html(grades) -> str:
    return rich_html(["\n".join(grades.item_lines())])


def grades_repr(grades) -> str:
    return f"<gradcalc.grading.Grades {grades.item_lines()[-1]} · " \
           f"{len(grades.students)} students>"
