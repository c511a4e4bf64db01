"""Stage 4, render: a run's nodes as the JSON document (README, "JSON"), or as the table a
student draws by hand (Rich for the terminal, plain Markdown for a write-up).

Rich is imported only when a table is drawn, so `--json` does not pay for it.
"""
from __future__ import annotations

import json
import math
import sys

from . import collector
from .errors import escaped
from .lower import CONST, INPUT, Graph
from .run import Pass

SCHEMA = 1


def node_rows(graph: Graph, run: Pass, start: int = 0, stop: int | None = None) -> list[dict]:
    """One dict per node (of nodes[start:stop]) in forward order, with the keys of the JSON
    document and raw numbers."""
    rows = []
    for node in graph.nodes[start:stop]:
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


@collector.paused
def json_document(graph: Graph, run: Pass, warnings, wrt=None) -> dict:
    """The --json document: strict JSON, non-finite numbers as "inf", "-inf", "nan"."""
    return {**_json_head(graph, run, wrt), "nodes": _json_rows(graph, run),
            "warnings": warning_rows(graph, warnings)}


JSON_CHUNK = 4096  # nodes per piece of the document that write_json writes, at most
JSON_ELEMENTS = 65536  # numbers per piece, about: a node of a big matrix is a piece alone


@collector.paused
def write_json(graph: Graph, run: Pass, warnings, write, wrt=None) -> None:
    """dumps(json_document(...)), the same text, handed to `write` a few thousand nodes at
    a time: a big graph's rows are never all in memory at once, nor the whole text."""
    head = dumps(_json_head(graph, run, wrt))
    write(head[:-1] + ', "nodes": [')
    for start, stop in _pieces(run.values):
        rows = dumps(_json_rows(graph, run, start, stop))
        write((", " if start else "") + rows[1:-1])
    write('], "warnings": ' + dumps(warning_rows(graph, warnings)) + "}")


def _pieces(values: list):
    """(start, stop) of runs of nodes holding at most JSON_CHUNK nodes and, unless one
    node alone has more, JSON_ELEMENTS numbers: the memory a piece's rows take."""
    start, elements = 0, 0
    for i, value in enumerate(values):
        size = getattr(value, "size", 1)
        if i > start and (i - start >= JSON_CHUNK or elements + size > JSON_ELEMENTS):
            yield start, i
            start, elements = i, 0
        elements += size
    if start < len(values):
        yield start, len(values)


def _json_head(graph: Graph, run: Pass, wrt=None) -> dict:
    """The document's keys before "nodes", in their order."""
    exact = run.exact
    return {
        "schema": SCHEMA,
        "expression": graph.source,
        "exact": exact,
        "value": json_number(run.values[graph.output], exact),
        "gradients": {k: json_number(v, exact) for k, v in gradients(graph, run, wrt).items()},
        "output": graph.output,
    }


def _json_rows(graph: Graph, run: Pass, start: int = 0, stop: int | None = None) -> list[dict]:
    exact = run.exact
    rows = node_rows(graph, run, start, stop)
    for row in rows:
        row["value"] = json_number(row["value"], exact)
        row["local"] = [json_number(v, exact) for v in row["local"]]
        row["grad"] = json_number(row["grad"], exact)
    return rows


def json_number(value, exact: bool = False):
    """A number as strict JSON allows it (RFC 8259 has no NaN or Infinity).

    Under --exact a rational is a string, "1/3" or "-4", so that no digit is lost.
    """
    if value is None:
        return None
    if exact and _is_rational(value):
        return str(value)
    if getattr(value, "ndim", 0):
        return _json_array(value)
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _is_rational(value) -> bool:
    """An int or a fractions.Fraction. Only --exact imports fractions (gradcalc.exact),
    and no value can be a Fraction before it is imported."""
    if isinstance(value, int):
        return True
    fractions = sys.modules.get("fractions")
    return fractions is not None and isinstance(value, fractions.Fraction)


def _json_array(value) -> list:
    """A vector or matrix as nested lists of floats. numpy makes the lists in one pass when
    every number is finite, the common case; only an array holding inf or nan is walked
    number by number, for the strings those become."""
    import numpy as np  # only arrays get here

    floats = value.astype(np.float64, copy=False)
    if np.isfinite(floats).all():
        return floats.tolist()
    return _json_nested(floats.tolist())


def _json_nested(items: list) -> list:
    """A vector or matrix as nested lists (depth = its number of dimensions)."""
    return [_json_nested(v) if isinstance(v, list) else json_number(v) for v in items]


def dumps(document: dict) -> str:
    # check_circular=False: a document built here has no cycles, and the check costs a
    # fifth of the time on a big graph.
    return json.dumps(document, ensure_ascii=False, allow_nan=False, check_circular=False)


def format_number(value, precision: int = 6, exact: bool = False, full: bool = False) -> str:
    """`precision` significant digits, no trailing zeros, no '-0'. Rationals as `1/3`;
    under --exact a float is an approximation and says so with `≈`. Arrays are compact
    (first and last elements) unless `full`."""
    if value is None:
        return "—"
    if _is_rational(value):  # exact: a rational, or an int from a rule
        return str(value)
    if getattr(value, "ndim", 0):
        return _format_array(value, precision, full)
    text = f"{float(value):.{precision}g}"
    text = "0" if text == "-0" else text
    return f"≈{text}" if exact else text


def _format_array(value, precision: int, full: bool) -> str:
    import numpy as np  # only arrays get here

    return np.array2string(
        value, separator=", ", formatter={"float_kind": lambda v: format_number(v, precision)},
        threshold=sys.maxsize if full else 6, edgeitems=2,
        max_line_width=sys.maxsize if full else 48)


def shape_text(value) -> str:
    shape = getattr(value, "shape", ())
    return "×".join(map(str, shape)) if shape else "scalar"


def symbol(graph: Graph, node_id: int, longest: int = 12, short: bool = False) -> str:
    """A node's short name in formulas: its name, its text up to `longest` characters,
    else #id (its row). `short`: names too are #id past `longest` characters."""
    node = graph.nodes[node_id]
    if node_id == graph.output:
        return output_name(graph)
    if node.name is not None and (not short or len(node.name) <= longest):
        return node.name
    text = graph.label(node)
    if len(text) > longest and node.kind != CONST:
        return f"#{node_id}"
    return text if text.replace(".", "").isalnum() else f"({text})"


def _local_cell(graph: Graph, node, local, precision: int, exact: bool, full: bool,
                longest: int = 12, short: bool = False) -> str:
    if local is not None:
        return "\n".join(f"∂/∂{symbol(graph, i, longest, short)} = "
                         f"{format_number(slope, precision, exact, full)}"
                         for i, slope in zip(node.inputs, local) if slope is not None)
    if node.op is None or not node.needs_grad:
        return ""
    # An array op: its local gradient is a Jacobian, so show the chain rule it applies.
    out = output_name(graph)
    upstream = f"∂{out}/∂{symbol(graph, node.id)}"
    return "\n".join(f"∂{out}/∂{symbol(graph, i)} = {_edge_rule(graph, node, k, upstream)}"
                     for k, i in enumerate(node.inputs) if graph.nodes[i].needs_grad)


def _edge_rule(graph: Graph, node, position: int, upstream: str) -> str:
    """The matrix form of the chain rule through one edge: `ḡ · xᵀ` for W in W@x."""
    rules = getattr(node.op, "matrix_rule", ())
    if not rules:
        name = symbol(graph, node.id)
        return f"{upstream} ⊙ ∂{name}/∂{symbol(graph, node.inputs[position])}"
    names = [symbol(graph, i) for i in node.inputs]
    text = rules[min(position, len(rules) - 1)].format(
        g=upstream, a=names[0], b=names[1] if len(names) > 1 else "", k=position)
    for name in {*names, upstream}:  # softmax((h @ W2)) is softmax(h @ W2)
        if name.startswith("("):
            text = text.replace(f"({name})", name)
    return text


def _op_cell(node) -> str:
    """The op and its symbol, and under it the lecture's name for its gradient pattern."""
    if node.kind in (INPUT, CONST):
        return node.kind
    symbol = node.op.symbol
    text = node.op.name if symbol == node.op.name else f"{node.op.name} {symbol}"
    pattern = getattr(node.op, "pattern", "")
    return f"{text}\n{pattern}" if pattern else text


SUMMARY_ROWS = 20  # a bigger table shows this many rows at each end unless --all


def has_arrays(run: Pass) -> bool:
    return any(getattr(value, "ndim", 0) for value in run.values)


def table_rows(graph: Graph, run: Pass, precision: int, show_all: bool = False,
               full: bool = False, short: bool = False) -> list[list[str]]:
    """The cells of the table, shared by the terminal and Markdown renderings; a local
    gradient names an operand by its text up to 12 characters, else by its row (`short`:
    any operand past 4 characters, its name too, for a narrow terminal).

    Past 2 × SUMMARY_ROWS nodes only the first and last rows are shown (the inputs come
    first and the output last), with one row saying how many are hidden. With vectors or
    matrices a shape column follows the op.
    """
    nodes = graph.nodes
    hidden = 0 if show_all else max(0, len(nodes) - 2 * SUMMARY_ROWS)
    if hidden:
        nodes = nodes[:SUMMARY_ROWS] + [None] + nodes[-SUMMARY_ROWS:]
    exact, arrays = run.exact, has_arrays(run)
    rows = []
    for node in nodes:
        if node is None:
            rows.append(["…", f"{hidden:,} more rows (--all shows every row)"]
                        + [""] * (5 if arrays else 4))
            continue
        mark = " (input)" if node.kind == INPUT else ""
        if node.id == graph.output:
            mark = " (output)"
        value = run.values[node.id]
        cells = [
            str(node.id),
            graph.label(node) + mark,
            _op_cell(node),
            format_number(value, precision, exact and not _is_rational(value), full),
            _local_cell(graph, node, run.local[node.id], precision, exact, full,
                        *((4, True) if short else ())),
            format_number(run.grads[node.id], precision, exact, full),
        ]
        if arrays:
            cells.insert(3, shape_text(value))
        rows.append(cells)
    return rows


def output_name(graph: Graph) -> str:
    """What to call the output in ∂f/∂x: its assigned name, else f as in the lecture."""
    name = graph.nodes[graph.output].name
    if name is not None:
        return name
    return "f" if "f" not in graph.inputs else "out"


def _headers(graph: Graph, arrays: bool = False) -> list[str]:
    out = output_name(graph)
    headers = ["#", "node", "op", "value", "local gradients", f"∂{out}/∂node"]
    if arrays:
        headers.insert(3, "shape")
    return headers


def _numeric_columns(headers: list[str]) -> set[int]:
    return {0, headers.index("value"), len(headers) - 1}


# Past this many rows the table is laid out by _TextTable instead of Rich's Table, which
# measures and wraps every cell at about a millisecond a row (--all on 100,000 nodes: two
# minutes). The look is the same: Rich's box, bold headers, the rows' colours.
RICH_ROWS = 1_000
TITLE_WIDTH = 200  # a longer source is shown above the table with its middle elided


def rich_table(graph: Graph, run: Pass, precision: int = 6, show_all: bool = False,
               full: bool = False, forward=None):
    """The table as a Rich renderable: inputs and output marked, numbers right-aligned,
    fitted to the console's width without breaking a token (gradcalc.layout).
    `forward`: (input name, ∂node/∂input per node) for forward mode's column (--tangent)."""
    headers = _headers(graph, has_arrays(run))
    numeric = _numeric_columns(headers)
    source = graph.source.strip()
    title = None if "\n" in source else _elided(source, TITLE_WIDTH)
    rows = table_rows(graph, run, precision, show_all, full)
    if forward is not None:
        headers = headers + [f"∂node/∂{forward[0]} (forward)"]
        numeric = numeric | {len(headers) - 1}
        rows = _with_tangents(rows, forward[1], precision)
    styles = [_row_style(graph, cells) for cells in rows]
    def short_rows():  # operands named by their rows, for a narrow terminal
        short = table_rows(graph, run, precision, show_all, full, short=True)
        return short if forward is None else _with_tangents(short, forward[1], precision)

    kind = _TextTable if len(rows) > RICH_ROWS else _FittedTable
    return kind(title, headers, numeric, rows, styles, short_rows)


def _with_tangents(rows: list[list[str]], tangents: list, precision: int) -> list[list[str]]:
    """Each row with its node's forward-mode derivative as a last cell (the row of hidden
    rows, "…", gets none)."""
    return [cells + ["" if cells[0] == "…" else format_number(tangents[int(cells[0])], precision)]
            for cells in rows]


class _FittedTable:
    """The table as Rich draws it, its cells wrapped by gradcalc.layout to the console's
    width so that no token is broken (with operands named by their rows, `short_rows()`,
    if that is what it takes); then the note on #N references, if any is used."""

    def __init__(self, title, headers, numeric, rows, styles, short_rows):
        self.title, self.headers, self.numeric = title, headers, numeric
        self.rows, self.styles, self.short_rows = rows, styles, short_rows

    def __rich_console__(self, console, options):
        from rich.table import Table
        from rich.text import Text  # plain text: a '[' in the source is not Rich markup

        from . import layout

        # Ways to fit, in order: as computed; operands named by their rows (∂/∂#5); for
        # vectors and matrices the shape beside the op; all of it first without breaking a
        # matrix's row, then breaking rows between elements. Where none keeps every token
        # whole, the last is squeezed: a token wider than its column is folded, never cut.
        merges = (False, True) if "shape" in self.headers else (False,)
        attempts = [(short, merged, whole_rows) for whole_rows in (True, False)
                    for merged in merges for short in (False, True)]
        for short, merged, whole_rows in attempts:
            headers, numeric, shown = self.headers, self.numeric, \
                self.short_rows() if short else self.rows
            if merged:  # the shape goes beside the op (`matmul @ 3×3`)
                headers, numeric, shown = _shape_under_op(headers, shown)
            kinds = _column_kinds(headers, numeric)
            fitted = _fitted(headers, shown, kinds, options.max_width, whole_rows)
            if fitted is not None:
                break
        whole = fitted is not None
        if not whole:
            fitted = layout.squeeze(headers, shown, kinds, options.max_width,
                                    3 * len(headers) + 1, _op_column(headers))
        columns = headers
        widths, headers, rows = fitted
        table = Table(title=None if self.title is None else Text(self.title),
                      title_justify="left", show_lines=False, header_style="bold")
        for k, header in enumerate(headers):
            table.add_column(Text(header), justify="right" if k in numeric else "left",
                             width=widths[k], overflow="fold", no_wrap=whole)
        for cells, style in zip(rows, self.styles):
            table.add_row(*(Text(cell) for cell in cells), style=style)
        yield table
        note = row_reference_note(shown, columns)
        if note:
            yield Text(note)


def _shape_under_op(headers: list[str], rows: list[list[str]]):
    """The table without its shape column, each shape beside its op instead (`matmul @
    3×3`): a column less for a terminal too narrow for all of them."""
    at = headers.index("shape")
    merged = []
    for cells in rows:
        first, _, rest = cells[at - 1].partition("\n")
        op = f"{first} {cells[at]}".strip() + (f"\n{rest}" if rest else "")
        merged.append([*cells[:at - 1], op, *cells[at + 1:]])
    headers = [*headers[:at - 1], "op, shape", *headers[at + 1:]]
    return headers, _numeric_columns(headers), merged


def _column_kinds(headers: list[str], numeric: set[int]) -> list[str]:
    """Where each column's text may break (gradcalc.layout)."""
    from . import layout

    return [layout.NUMBER if k in numeric or header == "shape" else
            layout.LABEL if header in ("node", "op, shape") else
            layout.EQUATIONS if header == "local gradients" else layout.WORDS
            for k, header in enumerate(headers)]


def _fitted(headers: list[str], rows: list[list[str]], kinds: list[str], room: int,
            whole_rows: bool = False):
    """gradcalc.layout.fit for the node table: Rich's heavy box, the op's pattern line
    the first thing to give up."""
    from . import layout

    return layout.fit(headers, rows, kinds, room, 3 * len(headers) + 1,
                      patterns=_op_column(headers), whole_rows=whole_rows)


def _op_column(headers: list[str]) -> int:
    """The op's column, whose pattern line may be given up to make room."""
    return headers.index("op") if "op" in headers else headers.index("op, shape")


def row_reference_note(rows: list[list[str]], headers: list[str]) -> str | None:
    """One line under the table when a local gradient names a node by its row (`∂/∂#5`)."""
    import re

    column = headers.index("local gradients")
    for cells in rows:
        found = re.search(r"∂\w*/∂#(\d+)", cells[column])
        if found:
            row = found.group(1)
            return f"#{row} is row {row}: ∂/∂#{row} is the local gradient with respect to " \
                   f"the node in row {row}"
    return None


def _row_style(graph: Graph, cells: list[str]) -> str | None:
    node = graph.nodes[int(cells[0])] if cells[0].isdigit() else None
    return None if node is None else "cyan" if node.kind == INPUT \
        else "bold green" if node.id == graph.output else "dim" if node.kind == CONST else None


def _elided(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    half = width // 2 - 1
    return f"{text[:half]}…{text[-half:]}"


class _TextTable:
    """A big table laid out in one pass, as Rich would draw it: each column as wide as
    its widest line, the text columns folded when the terminal is narrower, and each
    row handed to Rich as one styled segment (print it with crop=False: it fits)."""

    def __init__(self, title, headers, numeric, rows, styles, short_rows):
        self.title, self.headers, self.numeric = title, headers, numeric
        self.rows, self.styles, self.short_rows = rows, styles, short_rows

    def __rich_console__(self, console, options):
        from rich.cells import cell_len
        from rich.segment import Segment
        from rich.style import Style

        kinds = _column_kinds(self.headers, self.numeric)
        shown = self.rows
        fitted = _fitted(self.headers, shown, kinds, options.max_width)
        if fitted is None:
            shown = self.short_rows()
            fitted = _fitted(self.headers, shown, kinds, options.max_width)
        if fitted is not None:  # every token whole, as gradcalc.layout wraps them
            widths, headers, cells = fitted
            rows = [[cell.split("\n") for cell in row] for row in cells]
        else:  # as Rich would fold them
            headers = self.headers
            rows = [[cell.split("\n") for cell in cells] for cells in self.rows]
            widths = [cell_len(header) for header in self.headers]
            for row in rows:
                for k, lines in enumerate(row):
                    for line in lines:
                        if len(line) > widths[k]:
                            widths[k] = max(widths[k], cell_len(line))
            self._fit(widths, options.max_width)
        header_lines = [header.split("\n") for header in headers]
        height = max(map(len, header_lines))  # headers sit on the rule, as Rich puts them
        header_lines = [[""] * (height - len(lines)) + lines for lines in header_lines]
        newline = Segment.line()
        for line in _fold(self.title or "", sum(widths) + 3 * len(widths) + 1):
            yield Segment(line, Style(italic=True))
            yield newline
        template = "{bar} " + " {bar} ".join(
            f"{{{k}:{'>' if k in self.numeric else '<'}{width}}}"
            for k, width in enumerate(widths)) + " {bar}"
        yield Segment(self._rule("┏━┳┓", widths))
        yield newline
        yield Segment(self._line(template, header_lines, widths, "┃"), Style(bold=True))
        yield newline
        yield Segment(self._rule("┡━╇┩", widths))
        yield newline
        styles = {style: Style.parse(style) for style in set(self.styles) if style}
        for row, style in zip(rows, self.styles):
            yield Segment(self._line(template, row, widths, "│"), styles.get(style))
            yield newline
        yield Segment(self._rule("└─┴┘", widths))
        yield newline
        note = row_reference_note(shown, self.headers)
        for line in _fold(note or "", options.max_width):
            if line:
                yield Segment(line)
                yield newline

    def _fit(self, widths: list[int], room: int) -> None:
        """Narrow the text columns to fit `room`, each in proportion to how far it is wider
        than its header or its longest word up to 12 characters (as Rich shares out the
        width), and if that is not enough, down to 4; numbers are never folded."""
        floor = {k: max(len(self.headers[k]), 8) for k in range(len(widths))
                 if k not in self.numeric}
        for row in self.rows:
            for k in floor:
                for word in row[k].split():
                    if floor[k] < len(word):
                        floor[k] = max(floor[k], min(len(word), 12))
        for floor in (floor, dict.fromkeys(floor, 4)):
            spare = {k: max(0, widths[k] - floor[k]) for k in floor}
            excess = sum(widths) + 3 * len(widths) + 1 - room
            if excess <= 0 or not sum(spare.values()):
                continue
            share = min(1.0, excess / sum(spare.values()))
            for k in floor:
                widths[k] -= math.ceil(spare[k] * share)

    @staticmethod
    def _line(template: str, row: list[list[str]], widths: list[int], bar: str) -> str:
        """One row, its cells folded to their widths, as many lines high as the tallest."""
        row = [lines if all(len(line) <= width for line in lines) else
               [part for line in lines for part in _fold(line, width)]
               for lines, width in zip(row, widths)]
        return "\n".join(template.format(*(lines[i] if i < len(lines) else "" for lines in row),
                                          bar=bar)
                          for i in range(max(map(len, row))))

    @staticmethod
    def _rule(box: str, widths: list[int]) -> str:
        left, fill, cross, right = box
        return left + cross.join(fill * (w + 2) for w in widths) + right


def _fold(line: str, width: int) -> list[str]:
    """A line cut to `width`: at the last space that fits, else in the middle of a word."""
    parts = []
    while len(line) > width:
        cut = line.rfind(" ", 1, width + 1)
        parts.append(line[:cut] if cut > 0 else line[:width])
        line = line[cut + 1:] if cut > 0 else line[width:]
    parts.append(line)
    return parts


def markdown_table(graph: Graph, run: Pass, precision: int = 6, show_all: bool = False,
                   full: bool = False) -> str:
    """The same table as GitHub-flavoured Markdown, for a write-up."""
    headers = _headers(graph, has_arrays(run))
    numeric = _numeric_columns(headers)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headers))) + "|"]
    rows = table_rows(graph, run, precision, show_all, full)
    for cells in rows:
        lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
    note = row_reference_note(rows, headers)
    return "\n".join(lines + ([] if note is None else ["", note]))


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def summary(graph: Graph, run: Pass, precision: int = 6, wrt=None,
            width: int | None = None) -> str:
    """One line under the table: the output's value and its gradient per input; with a
    `width`, broken into lines between the parts, never inside one."""
    out = output_name(graph)
    parts = [f"{out} = {format_number(run.values[graph.output], precision)}"]
    parts += [f"∂{out}/∂{name} = {format_number(g, precision, run.exact)}"
              for name, g in gradients(graph, run, wrt).items()]
    parts = [" ".join(part.split()) for part in parts]  # a matrix on one line
    if width is None:
        return "   ".join(parts)
    from .layout import join_parts

    return join_parts(parts, width)


def chain_rule(graph: Graph, run: Pass):
    """The chain rule's terms, in backward order: (node, edges) for every node that takes
    a gradient except the output, `edges` being the (consumer id, input position) pairs
    its gradient flows back through. Shared by every rendering of --steps."""
    consumers: list[list[tuple[int, int]]] = [[] for _ in graph.nodes]
    for node in graph.nodes:
        for position, i in enumerate(node.inputs):
            consumers[i].append((node.id, position))
    for node in reversed(graph.nodes):
        if node.id == graph.output or not node.needs_grad:
            continue
        yield node, [(c, p) for c, p in consumers[node.id] if graph.nodes[c].needs_grad]


def matrix_steps(graph: Graph, run: Pass) -> bool:
    """Whether --steps writes the matrix form: vectors or matrices, or scalars that numpy
    computed through a gate (an edge with a vector-Jacobian product and no factor)."""
    return has_arrays(run) or any(run.local[n.id] is None for n in graph.nodes
                                  if n.op is not None and n.needs_grad)


def factor(text: str, first: bool = False) -> str:
    """A number (or formula) as a factor in a product: `-4 · 1`, `1 · (-4)`, `(1/3) · 2`,
    `(x + y) · 1`."""
    return f"({text})" if "/" in text or _is_sum(text) or text.startswith("-") and not first \
        else text


def _is_sum(text: str) -> bool:
    """Whether a formula's text is a sum (a space outside brackets: `x + y`, not `f(x + y)`)."""
    depth = 0
    for char in text:
        depth += (char in "([") - (char in ")]")
        if char == " " and depth == 0:
            return True
    return False


def steps(graph: Graph, run: Pass, precision: int = 6, show=None) -> list[str]:
    """The chain rule for every node, in backward order, with the numbers put in:

        ∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4

    A node that feeds several others gets the sum of its branches ("gradients add at
    branches"). Nodes that depend on no input have no gradient and no step. `show` writes
    a value (default: format_number; formulas under --symbolic).
    """
    out = output_name(graph)
    if show is None:
        def show(value) -> str:
            return format_number(value, precision, run.exact)

    def number(value, first=False) -> str:
        return factor(show(value), first)

    lines = [f"∂{out}/∂{out} = {show(run.grads[graph.output])}   (the upstream gradient)"]
    arrays = matrix_steps(graph, run)
    for node, edges in chain_rule(graph, run):
        name = symbol(graph, node.id)
        total = show(run.grads[node.id])
        if arrays:
            # Vectors and matrices: the matrix form of each edge's rule, and the shape.
            symbolic = " + ".join(
                _edge_rule(graph, graph.nodes[c], p, f"∂{out}/∂{symbol(graph, c)}")
                for c, p in edges)
            shape = shape_text(run.values[node.id])
            line = f"∂{out}/∂{name} = {symbolic} = {' '.join(total.split())}   ({shape})"
        else:
            symbolic = " + ".join(f"∂{out}/∂{symbol(graph, c)} · ∂{symbol(graph, c)}/∂{name}"
                                  for c, _ in edges)
            numeric = " + ".join(
                f"{number(run.grads[c], first=k == 0)} · {number(run.local[c][p])}"
                for k, (c, p) in enumerate(edges))
            line = f"∂{out}/∂{name} = {symbolic} = {numeric} = {total}"
        if len(edges) > 1:
            line += f"   (gradients add at branches: {len(edges)} edges)"
        lines.append(line)
    return lines


def warning_lines(graph: Graph, warnings) -> list[str]:
    lines = []
    for node, message in warnings:
        where = "" if node is None else f"node {node} ({graph.label(graph.nodes[node], 24)}): "
        lines.append(escaped(f"warning: {where}{message}"))
    return lines


def function_rows() -> list[dict]:
    """`gradcalc functions`: every op of the table with its spelling, arity and rule."""
    from . import ops

    return [{"op": op.name, "written": ops.spellings(op),
             "arity": op.arity if op.arity is not None else f"{op.min_arity}+",
             "rule": op.rule, "pattern": op.pattern, "has_kink": op.kink is not None}
            for op in ops.OPS]


def functions_table():
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Built-in operations (∂/∂a is the local gradient for argument a)",
                  title_justify="left", header_style="bold")
    for header in ("written", "op", "arity", "local gradient", "pattern"):
        table.add_column(Text(header), overflow="fold")
    for row in function_rows():
        table.add_row(Text("\n".join(row["written"])), row["op"], str(row["arity"]),
                      Text(row["rule"]), row["pattern"])
    return table
