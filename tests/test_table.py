"""The terminal table past RICH_ROWS rows, which gradcalc lays out itself (Rich's Table takes
about a millisecond a row): it must draw what Rich draws, and fit the terminal."""
import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from gradcalc import render
from gradcalc.api import evaluate

PROGRAMS = [
    ("(x+y)*max(z,w)", dict(x=-2, y=5, z=-4, w=1)),
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)),
    ("q = x + y; f = q * z", dict(x=-2, y=5, z=-4)),
    ("sum(W@x)", dict(W=[[1, 2], [3, 4]], x=[1, 1])),
    ("2*x + 3 + relu(x)", dict(x=0)),
]


def drawn(result, width: int, rich_rows: int, monkeypatch, colour: bool = False) -> str:
    monkeypatch.setattr(render, "RICH_ROWS", rich_rows)
    out = io.StringIO()
    console = Console(file=out, width=width, emoji=False, force_terminal=colour,
                      color_system="standard" if colour else None)
    console.print(render.rich_table(result.graph, result.run, show_all=True), crop=False)
    return out.getvalue()


@pytest.mark.parametrize("width", [200, 80])
@pytest.mark.parametrize("program,bindings", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_where_the_table_fits_it_is_drawn_as_rich_draws_it(program, bindings, width,
                                                           monkeypatch):
    # At 80 columns the cells are wrapped by gradcalc.layout for both.
    result = evaluate(program, **bindings)
    by_rich = drawn(result, width, 10**9, monkeypatch)
    by_gradcalc = drawn(result, width, 0, monkeypatch)
    # Rich pads the title line to the table's width; nothing else may differ.
    assert [line.rstrip() for line in by_gradcalc.splitlines()] == \
        [line.rstrip() for line in by_rich.splitlines()]


def test_a_narrow_terminal_wraps_the_text_columns_between_tokens(monkeypatch):
    # Long labels (elided at 48 characters) and two-line cells, in 60 and 80 columns.
    program = "+".join(f"exp(longer_name_{k % 7} * {k})" for k in range(400))
    result = evaluate(program, **{f"longer_name_{k}": 0.001 * k for k in range(7)})
    assert len(result.graph.nodes) > 1_000
    for width in (60, 80):
        text = drawn(result, width, render.RICH_ROWS, monkeypatch)
        lines = text.splitlines()
        assert max(cell_len(line) for line in lines) <= width
        # The rows, in order: ids in the first column, each once.
        ids = [int(m.group(1)) for m in (re.match(r"│\s*(\d+) │", l) for l in lines) if m]
        assert ids == list(range(len(result.graph.nodes)))
        # Every label is its words in order; one too long for the column is elided in
        # its middle (keeping its two ends), never folded.
        for node in result.graph.nodes[-5:]:
            label = result.graph.label(node) + (" (output)" if node.id == result.graph.output else "")
            shown = " ".join(column_of(lines, node.id, 2, joined=False)).split()
            assert len(shown) == len(label.split())
            for word, seen in zip(label.split(), shown):
                head, _, tail = seen.partition("…")
                assert seen == word or word.startswith(head) and word.endswith(tail)


def column_of(lines: list[str], node_id: int, column: int, joined: bool = True) -> list[str]:
    """The pieces of one cell: its row's lines, up to the next row or the bottom rule."""
    start = next(i for i, line in enumerate(lines) if re.match(rf"│\s*{node_id} │", line))
    pieces = [lines[start].split("│")[column].strip()]
    for line in lines[start + 1:]:
        cells = line.split("│")
        if not line.startswith("│") or cells[1].strip():
            break
        pieces.append(cells[column].strip())
    return ["".join(piece.split()) for piece in pieces] if joined else pieces


def test_a_big_table_keeps_the_row_colours(monkeypatch):
    result = evaluate("+".join(f"x*{k}" for k in range(400)), x=2)
    text = drawn(result, 100, render.RICH_ROWS, monkeypatch, colour=True)
    input_row = next(line for line in text.splitlines() if "x (input)" in line)
    output_id = result.graph.output
    output_row = next(line for line in text.splitlines() if re.search(rf"│\s*{output_id} │", line))
    assert "\x1b[36m" in input_row  # cyan
    assert "\x1b[1;32m" in output_row  # bold green


def test_a_long_source_is_elided_in_the_title(monkeypatch):
    result = evaluate("+".join(f"x*{k}" for k in range(100)), x=2)
    title = drawn(result, 100, 10**9, monkeypatch).split("┏")[0]
    assert "…" in title and len(title.replace("\n", "")) <= render.TITLE_WIDTH + 100
