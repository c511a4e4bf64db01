"""The node table fitted to the terminal's width without breaking a token.

Rich shares a narrow terminal out by folding cells letter by letter (`distribut`/`es`,
`∂/∂(max(z`/`,w)) = 3`). Here each column says where its text may break, the widths are
chosen so that every token stays whole, and the cells arrive at Rich already wrapped:

  number     never broken inside a number: a vector breaks between its elements;
  words      at spaces (the op and its pattern, the headers);
  label      at spaces, and a word wider than the column is elided in its middle;
  equations  before each ` = ` (`∂/∂(max(z,w))` / `= 3`), then at spaces.

When even the narrowest widths do not fit, room is made step by step (_STAGES): the op's
pattern line (`distributes`) is left out, since the op itself says the same, and so on;
the caller may then try again with shorter cells (`∂/∂#5` for `∂/∂(w0*x0)`). Past that
(matrices in 60 columns), Rich has the last word and folds.
"""
from __future__ import annotations

NUMBER, WORDS, LABEL, EQUATIONS = "number", "words", "label", "equations"
MARKS = ("(input)", "(output)")  # never elided


# Ways to make room, in order: as drawn; without the op's pattern line; an input's name
# apart from its `(input)` mark; labels elided to fewer characters.
_STAGES = [(False, True, 8), (True, True, 8), (True, False, 8), (True, False, 5)]


def fit(headers: list[str], rows: list[list[str]], kinds: list[str], room: int,
        frame: int, patterns: int | None = None):
    """(widths, headers, rows) with every cell wrapped to its column's width, the table
    `frame` characters wider than its columns; None when no widths keep every token
    whole. `patterns` is the column whose second line may be dropped to make room."""
    for drop, glue, label_min in _STAGES:
        if drop and patterns is None:
            continue
        shown = rows if not drop else [
            [cell.split("\n")[0] if k == patterns else cell for k, cell in enumerate(row)]
            for row in rows]
        widths = _widths(headers, shown, kinds, room - frame, glue, label_min)
        if widths is not None:
            wrapped_headers = [wrap(header, width, WORDS) for header, width in zip(headers, widths)]
            wrapped = [[wrap(cell, width, kind, glue) for cell, width, kind
                        in zip(row, widths, kinds)] for row in shown]
            return widths, wrapped_headers, wrapped
    return None


def _widths(headers, rows, kinds, room: int, glue: bool, label_min: int) -> list[int] | None:
    """Each column as wide as its widest line, narrowed (the one with most to spare
    first) down to its minimum until the total fits `room`; None if it cannot."""
    from rich.cells import cell_len

    columns = [[row[k] for row in rows] for k in range(len(headers))]
    widths = [max(cell_len(line) for text in [header, *cells] for line in text.split("\n"))
              for header, cells in zip(headers, columns)]
    floors = [_minimum(header, cells, kind, glue, label_min)
              for header, cells, kind in zip(headers, columns, kinds)]
    excess = sum(widths) - room
    while excess > 0:
        spare, k = max((w - f, k) for k, (w, f) in enumerate(zip(widths, floors)))
        if spare <= 0:
            return None
        widths[k] -= 1
        excess -= 1
    return widths


def _minimum(header: str, cells: list[str], kind: str, glue: bool, label_min: int) -> int:
    """The narrowest width that keeps every token of the column whole."""
    from rich.cells import cell_len

    lines = [line for cell in cells for line in cell.split("\n")]
    header_words = max((cell_len(w) for w in header.split()), default=0)
    if kind == NUMBER:
        return max([cell_len(header), *(cell_len(w) for line in lines for w in line.split())])
    if kind == LABEL:
        words = [w for line in lines for w in line.split()]
        longest = max(map(cell_len, words), default=0)
        marks = max((len(w) for w in words if w in MARKS), default=0)
        inputs = max((cell_len(line) for line in lines
                      if len(_tokens(line, kind, glue)) == 1 and line.endswith(" (input)")),
                     default=0)
        return max(header_words, min(longest, label_min), marks, inputs)
    tokens = [t for line in lines for t in _tokens(line, kind, glue)]
    return max([header_words, *map(cell_len, tokens)])


def _tokens(line: str, kind: str, glue: bool = True) -> list[str]:
    if kind == LABEL and glue and line.endswith(" (input)") and " " not in line[:-8] \
            and len(line) <= 16:
        return [line]  # `w0 (input)`: an input's short name stays with its mark
    if kind != EQUATIONS:
        return line.split()
    head, *rest = line.split(" = ")
    tokens = head.split(" ") if " " in head and not rest else [head]
    for part in rest:
        first, *others = part.split(" ")
        tokens += [f"= {first}", *others]  # `= 3` together: a value never starts a line
    return tokens


def wrap(cell: str, width: int, kind: str, glue: bool = True) -> str:
    """A cell's text with its lines broken (and long label words elided) to `width`."""
    from rich.cells import cell_len

    out = []
    for line in cell.split("\n"):
        if cell_len(line) <= width:
            out.append(line)
            continue
        pieces = _tokens(line, kind, glue)
        if len(pieces) == 1 and kind == LABEL:
            pieces = line.split()
        if kind == LABEL:
            pieces = [elide(word, width) for word in pieces]
        current = ""
        for piece in pieces:
            joined = f"{current} {piece}" if current else piece
            if current and cell_len(joined) > width:
                out.append(current)
                joined = piece
            current = joined
        out.append(current)
    return "\n".join(out)


def elide(word: str, width: int) -> str:
    """`(x+y)*max(z,w)` in 9 characters: `(x+y…z,w)`, its two ends kept (and one `…`
    where the word was elided already)."""
    if len(word) <= width:
        return word
    head, _, tail = word.partition("…") if "…" in word else (word, "", word)
    keep_head = width // 2
    keep_tail = width - 1 - keep_head
    return head[:keep_head] + "…" + (tail[-keep_tail:] if keep_tail else "")


def join_parts(parts: list[str], width: int, separator: str = "   ") -> str:
    """Parts such as `∂f/∂x = -4` on lines of at most `width`, broken only between parts."""
    lines, current = [], ""
    for part in parts:
        joined = f"{current}{separator}{part}" if current else part
        if current and len(joined) > width:
            lines.append(current)
            joined = part
        current = joined
    return "\n".join([*lines, current])
