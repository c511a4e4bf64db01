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
(matrices in 80 columns), `squeeze` narrows the widest columns below their longest token
and the caller has Rich fold those tokens: every column keeps a readable width and no
digit is lost (left to itself, Rich would shrink the label columns to nothing and cut
numbers short).
"""
from __future__ import annotations

NUMBER, WORDS, LABEL, EQUATIONS = "number", "words", "label", "equations"
MARKS = ("(input)", "(output)")  # never elided


# Ways to make room, in order: as drawn; without the op's pattern line; an input's name
# apart from its `(input)` mark; labels elided to fewer characters. Each first with every
# row of a matrix on a line of its own, then with rows broken between their elements.
_STAGES = [(drop, glue, label_min, whole_rows) for whole_rows in (True, False)
           for drop, glue, label_min in
           [(False, True, 8), (True, True, 8), (True, False, 8), (True, False, 5)]]


def fit(headers: list[str], rows: list[list[str]], kinds: list[str], room: int,
        frame: int, patterns: int | None = None, whole_rows: bool = False):
    """(widths, headers, rows) with every cell wrapped to its column's width, the table
    `frame` characters wider than its columns; None when no widths keep every token
    whole. `patterns` is the column whose second line may be dropped to make room;
    `whole_rows` keeps to the stages that break no matrix row.
    Each column is measured once per stage that changes it (a big table has 100,000 rows)."""
    columns = [[row[k] for row in rows] for k in range(len(headers))]
    without = None if patterns is None else [cell.split("\n")[0] for cell in columns[patterns]]
    naturals, floors = {}, {}
    for drop, glue, label_min, rows_kept in _STAGES:
        if whole_rows and not rows_kept:
            break
        if drop and patterns is None:
            continue
        shown = [without if drop and k == patterns else column for k, column in enumerate(columns)]
        widths, minimums = [], []
        for k, (header, column, kind) in enumerate(zip(headers, shown, kinds)):
            key = (k, drop and k == patterns)
            if key not in naturals:
                naturals[key] = max(_width(line) for text in [header, *column]
                                    for line in text.split("\n"))
            key += (glue, label_min) if kind == LABEL else (rows_kept,) if kind == NUMBER \
                else ()
            if key not in floors:
                floors[key] = _minimum(header, column, kind, glue, label_min, rows_kept)
            widths.append(naturals[key[:2]])
            minimums.append(floors[key])
        if _narrowed(widths, minimums, room - frame):
            wrapped_headers = [wrap(header, width, WORDS) for header, width in zip(headers, widths)]
            wrapped = [[wrap(cell, width, kind, glue) for cell in column]
                       for column, width, kind in zip(shown, widths, kinds)]
            return widths, wrapped_headers, [list(row) for row in zip(*wrapped)]
    return None


SQUEEZED = 4  # the narrowest `squeeze` makes a column whose text is wider
WORDY = 9  # the narrowest it makes a column of words (`gradients`) before numbers


def squeeze(headers: list[str], rows: list[list[str]], kinds: list[str], room: int,
            frame: int, patterns: int | None = None):
    """(widths, headers, rows) for a table that `fit` cannot lay out with every token
    whole: each column at its narrowest whole-token width of the last stage, then the
    widest narrowed one character at a time until the table fits: columns of words first
    (down to WORDY), then any (down to SQUEEZED).
    Tokens wider than their column are left for the renderer to fold."""
    _, glue, label_min, _ = _STAGES[-1]
    columns = [[row[k] for row in rows] for k in range(len(headers))]
    if patterns is not None:
        columns[patterns] = [cell.split("\n")[0] for cell in columns[patterns]]
    widths = [min(max(_width(line) for text in [header, *column] for line in text.split("\n")),
                  _minimum(header, column, kind, glue, label_min))
              for header, column, kind in zip(headers, columns, kinds)]
    excess = sum(widths) - (room - frame)
    words = [k for k, kind in enumerate(kinds) if kind != NUMBER]
    # Words fold more readably than numbers: they give up room first, down to WORDY.
    for candidates, least in ((words, WORDY), (range(len(widths)), SQUEEZED)):
        while excess > 0 and candidates:
            k = max(candidates, key=widths.__getitem__)
            if widths[k] <= least:
                break
            widths[k] -= 1
            excess -= 1
    wrapped_headers = [wrap(header, width, WORDS) for header, width in zip(headers, widths)]
    wrapped = [[wrap(cell, width, kind, glue) for cell in column]
               for column, width, kind in zip(columns, widths, kinds)]
    return widths, wrapped_headers, [list(row) for row in zip(*wrapped)]


def _width(text: str) -> int:
    """Columns a text takes on a terminal (Rich's measure, for what is not ASCII)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _narrowed(widths: list[int], floors: list[int], room: int) -> bool:
    """Narrow `widths` in place, the column with most to spare first, down to `floors`
    until their total fits `room`; False if it cannot."""
    excess = sum(widths) - room
    if excess > sum(w - f for w, f in zip(widths, floors) if w > f):
        return False
    while excess > 0:
        _, k = max((w - f, k) for k, (w, f) in enumerate(zip(widths, floors)))
        widths[k] -= 1
        excess -= 1
    return True


def _minimum(header: str, cells: list[str], kind: str, glue: bool, label_min: int,
             whole_rows: bool = False) -> int:
    """The narrowest width that keeps every token of the column whole (for numbers with
    `whole_rows`, every line: a matrix's rows)."""
    lines = [line for cell in cells for line in cell.split("\n")]
    header_words = max((_width(w) for w in header.split()), default=0)
    if kind == NUMBER:
        pieces = lines if whole_rows else [w for line in lines for w in line.split()]
        return max([_width(header), *map(_width, pieces)])
    if kind == LABEL:
        words = [w for line in lines for w in line.split()]
        longest = max(map(_width, words), default=0)
        marks = max((len(w) for w in words if w in MARKS), default=0)
        inputs = max((_width(line) for line in lines
                      if len(_tokens(line, kind, glue)) == 1 and line.endswith(" (input)")),
                     default=0)
        return max(header_words, min(longest, label_min), marks, inputs)
    tokens = [t for line in lines for t in _tokens(line, kind, glue)]
    return max([header_words, *map(_width, tokens)])


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
    if len(cell) <= width and "\n" not in cell and (cell.isascii() or _width(cell) <= width):
        return cell
    out = []
    for line in cell.split("\n"):
        if _width(line) <= width:
            out.append(line)
            continue
        pieces = _tokens(line, kind, glue)
        if len(pieces) == 1 and kind == LABEL:
            pieces = line.split()
        if kind == LABEL:
            pieces = [elide(word, width) for word in pieces]
        out.extend(_pack(pieces, width, " "))
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
    return "\n".join(_pack(parts, width, separator))


def _pack(pieces: list[str], width: int, separator: str) -> list[str]:
    """The pieces joined by `separator` on as few lines of at most `width` columns as
    they fit (a piece wider than that alone on its line)."""
    lines, current = [], ""
    for piece in pieces:
        joined = f"{current}{separator}{piece}" if current else piece
        if current and _width(joined) > width:
            lines.append(current)
            joined = piece
        current = joined
    return [*lines, current]
