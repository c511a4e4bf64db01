"""The table in 60 and 80 columns: it fits, and no cell's text is broken inside a token
(`distribut`/`es`, `∂/∂(max(z,w)) =`/`3`); a label too long for its column is elided,
not folded letter by letter; a `#N` reference is explained once under the table."""
import io

import pytest
from rich.cells import cell_len
from rich.console import Console

import gradcalc
from gradcalc import render

# In 60 columns a table of ten nodes fits with numbers of three digits (the width of six
# columns and their frame); the narrowest tests use --precision 3, as the README does.
PROGRAMS = [
    ("(x+y)*max(z,w)", dict(x=-2, y=5, z=-4, w=1)),
    ("sigmoid(w0*x0 + w1*x1 + w2)", dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)),
    ("q = x + y; f = q * z", dict(x=-2, y=5, z=-4)),
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)),
    ("sig(t) = 1/(1+exp(-t)); sig(first_weight*first_input + bias_term)",
     dict(first_weight=2, first_input=-1, bias_term=-3)),
    ("max(learning_rate_times_gradient, minimum_step_size) * relu(x - 1)",
     dict(learning_rate_times_gradient=0.5, minimum_step_size=0.25, x=3)),
    ("x/3 + y", dict(x=1, y="1/6")),
]


def drawn_rows(source: str, bindings: dict, width: int, precision: int = 3):
    """(the cells as computed, the cells as drawn: a list of lines per cell, the text)."""
    result = gradcalc.evaluate(source, bindings)
    out = io.StringIO()
    Console(file=out, width=width, emoji=False).print(
        render.rich_table(result.graph, result.run, precision), crop=False)
    text = out.getvalue()
    rows = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells[0]:
            rows.append([[] for _ in cells])
        for lines, cell in zip(rows[-1], cells):
            if cell:
                lines.append(cell)
    # Where room is short, operands are named by their rows (∂/∂#5): either is whole.
    computed = [render.table_rows(result.graph, result.run, precision, short=short)
                for short in (False, True)]
    return computed, rows, text


@pytest.mark.parametrize("width,precision", [(60, 3), (80, 6)])
@pytest.mark.parametrize("source,bindings", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_no_token_is_broken(source, bindings, width, precision):
    (computed, short), drawn, text = drawn_rows(source, bindings, width, precision)
    assert max(cell_len(line) for line in text.splitlines()) <= width, text
    assert len(computed) == len(drawn)
    for cells, shorter, shown in zip(computed, short, drawn):
        local_short = shorter[4]
        number, label, op, value, local, grad = cells
        number_, label_, op_, value_, local_, grad_ = shown
        for whole, lines in [(number, number_), (value, value_), (grad, grad_)]:
            assert " ".join(lines).split() == whole.split(), text
        # The op, with its pattern line or (when there is no room) without it.
        assert " ".join(op_).split() in (op.split(), op.split("\n")[0].split()), text
        # Local gradients: each `∂/∂a = 1` whole, or broken just before its `=`.
        assert " ".join(local_).split() in (local.split(), local_short.split()), text
        assert not any(line.endswith("=") for line in local_), text
        # A label: its words in order, a word too long for the column elided in the middle.
        words = label.split()
        shown_words = " ".join(label_).split()
        assert len(shown_words) == len(words), text
        for word, seen in zip(words, shown_words):
            head, _, tail = seen.partition("…")
            assert seen == word or (word.startswith(head) and word.endswith(tail)), text


def test_a_long_token_is_elided_not_folded():
    _, drawn, text = drawn_rows(PROGRAMS[5][0], PROGRAMS[5][1], 60)
    labels = [" ".join(row[1]) for row in drawn]
    assert any("…" in label for label in labels), text


def test_row_references_are_explained_once_under_the_table():
    _, _, text = drawn_rows(*PROGRAMS[1], 80, precision=6)
    body, _, after = text.partition("└")
    assert "∂/∂#8" in body
    note = after.split("\n", 1)[1]
    assert note.startswith("#7 is row 7") and text.count("is row") == 1
    _, _, text = drawn_rows(*PROGRAMS[0], 80)
    assert "is row" not in text  # nothing to explain


MATRIX_PROGRAMS = [
    ("S = X @ W; L = cross_entropy(S, y)",
     {"X": [[1, 2], [0, -1], [3, 1]], "W": [[0.1, -0.2, 0.3], [0.5, 0.0, -0.4]],
      "y": [2, 0, 1]}),
    ("q = W@x; f = sum(q^2)", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]}),
]


@pytest.mark.parametrize("source,bindings,width,precision", [
    (*MATRIX_PROGRAMS[0], 80, 6), (*MATRIX_PROGRAMS[1], 80, 6), (*MATRIX_PROGRAMS[1], 60, 3)])
def test_matrices_in_a_narrow_terminal_keep_every_number_whole(source, bindings, width,
                                                                precision):
    """Where the shape column does not fit, the shape goes beside the op, and every number
    of every vector and matrix is still whole (each one a token of the value it shows)."""
    result = gradcalc.evaluate(source, bindings)
    _, drawn, text = drawn_rows(source, bindings, width, precision)
    assert max(cell_len(line) for line in text.splitlines()) <= width, text
    value_at = 4 if len(drawn[0]) == 7 else 3  # with a shape column, or the shape beside op
    for node, cells in zip(result.graph.nodes, drawn):
        assert all(cells[k] for k in (1, 2, value_at)), text  # no column squeezed away
        for column, value in ((value_at, result.run.values[node.id]),
                              (value_at + 2, result.run.grads[node.id])):
            if value is None:
                continue
            shown = " ".join(cells[column]).replace("[", " ").replace("]", " ").replace(",", " ")
            expected = render.format_number(value, precision, full=False)
            expected = expected.replace("[", " ").replace("]", " ").replace(",", " ")
            assert shown.split() == expected.split(), text


TWO_LAYER = ("h = np.maximum(0, X.dot(W1) + b1); L = cross_entropy(h @ W2, y)",
             dict(X=[[1, 2], [3, -1]], W1=[[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]],
                  b1=[0.1, 0, -0.1], W2=[[1, 0], [0, 1], [1, 1]], y=[0, 1]))


@pytest.mark.parametrize("source,bindings", [
    TWO_LAYER,
    ("np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)", dict(x=[[1, 2]])),
])
def test_matrices_too_wide_for_80_columns_keep_every_column_and_digit(source, bindings):
    """Where no widths keep every token whole, every column keeps a readable width (Rich
    alone shrank #, node, op and local gradients to nothing) and no number loses a digit
    (Rich alone cut `[-0.00960076, -0.12487, 2.77556e-17]` short of its bracket)."""
    (computed, short), drawn, text = drawn_rows(source, bindings, 80, precision=6)
    assert max(cell_len(line) for line in text.splitlines()) <= 80, text
    header = next(line for line in text.splitlines() if line.startswith("┏"))
    # every column but # at least SQUEEZED wide (and its padding)
    assert min(len(part) for part in header[1:-1].split("┳")[1:]) >= 4 + 2, text
    assert [cells[0] for cells in drawn] == [[str(k)] for k in range(len(computed))]
    merged = len(drawn[0]) == 6  # the shape beside the op, a column less
    for cells, shown in zip(short, drawn):
        for k in (4, 6):  # value and ∂/∂node: a folded number's lines join to the whole
            drawn_k = k - 1 if merged else k
            assert "".join("".join(shown[drawn_k]).split()) == "".join(cells[k].split()), text
