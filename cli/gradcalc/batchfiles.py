"""The files of `gradcalc batch`: points in, answers out, as CSV, JSON Lines or Parquet.

CSV goes through polars and Parquet through pyarrow (README, "Batch", says why: measured,
polars reads and writes CSV fastest, and pyarrow streams Parquet a row group at a time);
both are imported by this module alone, which only `batch` imports. Input is read in
chunks of whole lines (or of a Parquet file's rows), so memory stays flat however long
the file is. A CSV chunk whose lines are all plain (no quote, every row with the header's
number of cells) is parsed by polars in one go; any other chunk is read again row by row
with Python's csv module, to name the line and the column of what is wrong. JSON Lines is
read row by row with gradcalc's strict JSON reader, whose messages give the line, the
column and the limit passed (nesting, digits). Numbers are written as Python's repr writes
them: the shortest text that reads back as the same float.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import polars as pl

from . import files, jsonread
from .errors import LimitError, UsageError
from .limits import MAX_LINE

_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
               ".parquet": "parquet", ".pq": "parquet"}
READ = 1 << 20  # bytes read at a time
ROW_GROUP = 1 << 17  # rows per Parquet row group written, at least
# Rows of text per chunk: as fast as 65,536, and polars holds a quarter as much for them
# (at 65,536, a million rows of CSV peak at 190 MB; at 16,384, 130 MB).
TEXT_CHUNK = 16384


def format_of(path: str) -> str | None:
    """The format a file name's extension says, or None."""
    return None if path == "-" else _EXTENSIONS.get(os.path.splitext(path)[1].lower())


def output_format_of(path: str, given: str | None, input_format: str) -> str:
    """The output's format: --output-format, else -o's extension, else the input's, but
    text on standard output for a Parquet input (binary to a terminal or a `| head` is
    nobody's intent; --output-format parquet asks for it). An extension batch does not
    write (`-o grads.npz`, `.tsv`) is an error: a file of the input's format under that
    name would be read as something it is not."""
    extension = "" if path == "-" else os.path.splitext(path)[1]
    if given is None and extension and format_of(path) is None:
        raise UsageError(f"cannot tell the format to write {path} in from its extension "
                         f"{extension}", hint="name it .csv, .jsonl or .parquet, or give "
                                              "--output-format csv, jsonl or parquet")
    if given is None and path == "-" and input_format == "parquet":
        return "csv"
    return given or format_of(path) or input_format


# -- numbers in text ------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)


def parse_number(text: str):
    """A cell as a float, or the reason it is not one: (value, None) or (None, problem)."""
    cell = text.strip()
    if not cell:
        return None, "the value is missing"
    if not _NUMBER.match(cell):
        return None, f"{cell!r} is not a number"
    value = float(cell)
    if not np.isfinite(value):
        return None, f"{cell} is too large for a float"
    return value, None


def json_number(value):
    """A JSON value as a float, or the reason it is not a usable number."""
    if value is None:
        return None, "the value is null"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = json.dumps(value, ensure_ascii=False)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        kind = {str: "a string", bool: "a boolean", list: "a list", dict: "an object"}
        return None, f"{shown} is {kind[type(value)]}, not a number"
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    if not np.isfinite(number):
        return None, f"{value} is not a finite number"
    return number, None


def shortest(values: np.ndarray, nulls=None, *, json_text: bool = False) -> pl.Series:
    """Floats as text, as Python's repr writes them (polars writes the same digits, and
    spells the exponent of very small and very large numbers differently: those few go
    through repr). Rows in `nulls` are null; `json_text` quotes inf and nan (RFC 8259 has
    neither)."""
    text = pl.Series(values, dtype=pl.Float64).cast(pl.String)
    odd = _spelt_otherwise(values)
    if len(odd):
        spelt = [repr(value) for value in values[odd].tolist()]
        if json_text:
            spelt = [f'"{s}"' if s[-1] in "fn" else s for s in spelt]  # inf, -inf, nan
        text = text.scatter(odd, spelt)
    if nulls is not None and nulls.any():
        text = text.scatter(np.flatnonzero(nulls), None)
    return text


def _spelt_otherwise(values: np.ndarray) -> np.ndarray:
    """The rows whose number polars spells unlike repr: 0 < |v| < 1e-4 (0.00001 for
    1e-05, 2.5e-6 for 2.5e-06), large ones (to be safe), inf and nan (NaN)."""
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        return np.flatnonzero(~((size >= 1e-4) & (size < 1e16)) & (values != 0))


def csv_cell(text: str) -> str:
    """A cell quoted as CSV needs it (RFC 4180)."""
    if any(c in text for c in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_quoted(cells: pl.Series) -> pl.Series:
    """csv_cell on a column of text, in one pass."""
    frame = cells.to_frame("c")
    needs = pl.col("c").str.contains(r'[,"\r\n]') | (pl.col("c") != pl.col("c").str.strip_chars())
    return frame.select(pl.when(needs).then(
        pl.concat_str(pl.lit('"'), pl.col("c").str.replace_all('"', '""', literal=True),
                      pl.lit('"'))).otherwise(pl.col("c"))).to_series()


def _csv_text(value) -> str:
    """A JSON value in a CSV cell: numbers and text as themselves, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


# -- lines of a byte stream -----------------------------------------------------------

class Lines:
    """Whole lines of a binary stream, many at a time, as bytes. A line longer than
    MAX_LINE (a file of one endless line, /dev/zero) stops the run before it fills
    memory."""

    def __init__(self, binary, name: str):
        self.binary, self.name = binary, name
        self.buffer = b""
        self.start = 0  # where the lines not yet given begin in the buffer
        self.ends = np.empty(0, dtype=np.intp)  # the buffer's newlines
        self.used = 0  # newlines given
        self.given = 0  # lines given
        self.width = 64  # bytes per line, as far as seen
        self.done = False

    def take(self, count: int) -> tuple[bytes, int]:
        """The next `count` lines (fewer at the end) and how many there are."""
        if count <= 0:
            return b"", 0
        while len(self.ends) - self.used < count and not self.done:
            self._fill(count - (len(self.ends) - self.used))
        available = min(count, len(self.ends) - self.used)
        if available:
            end = int(self.ends[self.used + available - 1]) + 1
            self.used += available
        elif self.start < len(self.buffer):  # the last line, without a newline
            end, available = len(self.buffer), 1
        else:
            return b"", 0
        block, self.start = self.buffer[self.start:end], end
        self.given += available
        self.width = max(1, len(block) // available)
        return block, available

    def _fill(self, lines: int) -> None:
        """Read about `lines` more lines (at least READ bytes); find the new newlines."""
        more = self.binary.read(max(READ, lines * self.width + self.width))
        if not more:
            self.done = True
            return
        old = self.ends[self.used:] - self.start
        self.buffer = self.buffer[self.start:] + more
        new = np.flatnonzero(np.frombuffer(more, dtype=np.uint8) == 10)
        self.ends = np.concatenate((old, new + (len(self.buffer) - len(more))))
        self.start = self.used = 0
        self._check_lengths(len(old))

    def _check_lengths(self, first: int) -> None:
        """The lines that end in what was just read, and the one not ended yet: none may
        be longer than MAX_LINE characters."""
        ends = np.append(self.ends[first:], len(self.buffer))
        starts = np.append(self.ends[first - 1] + 1 if first else 0, self.ends[first:] + 1)
        for index in np.flatnonzero(ends - starts > MAX_LINE + 1).tolist():  # bytes, then
            line = self.buffer[starts[index]:starts[index] + 4 * MAX_LINE + 8]  # characters
            if len(line.decode("utf-8", "replace").rstrip("\r\n")) > MAX_LINE:
                self._too_long(self.given + 1 + first + index)

    def _too_long(self, number: int):
        raise LimitError(f"{self.name}, line {number}: the line is longer than "
                         f"{MAX_LINE:,} characters",
                         hint="a row holds the values of one point; is this the right file?")

    def text(self, block: bytes) -> list[str]:
        """A block's lines as text, without their line ends."""
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{self.name} is not UTF-8 text") from None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    def first(self) -> tuple[str | None, int]:
        """The first line with something on it (a byte-order mark dropped), and its line
        number: (None, 0) at the end."""
        while True:
            block, count = self.take(1)
            if not count:
                return None, 0
            if self.given == 1 and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
            text = self.text(block)
            if text and text[0].strip():
                return text[0], self.given


# -- a chunk of rows ------------------------------------------------------------------

@dataclass
class Chunk:
    """Rows read from the input: per row its line (or row) number, the values of the
    varying inputs (0.0 where a cell could not be read), the rows that could not be
    read (position → (columns, message)), and what is passed through: `cells`, the
    columns as read (text for CSV, the objects for JSON Lines, typed for Parquet)."""

    lines: np.ndarray
    numbers: dict
    problems: dict
    cells: object
    raw: list | None = None  # CSV read row by row: each line, to pass on as it was

    def __len__(self):
        return len(self.lines)

    def take(self, rows: np.ndarray) -> Chunk:
        """Only these rows (positions in the chunk)."""
        if isinstance(self.cells, pl.DataFrame):
            cells = self.cells[rows]
        elif not isinstance(self.cells, list):  # an Arrow record batch
            cells = self.cells.take(rows)
        else:
            cells = [self.cells[i] for i in rows.tolist()]
        raw = None if self.raw is None else [self.raw[i] for i in rows.tolist()]
        return Chunk(self.lines[rows], {n: c[rows] for n, c in self.numbers.items()}, {},
                     cells, raw)


# -- reading --------------------------------------------------------------------------

class CsvReader:
    """CSV with a header row of names."""

    unit = "line"
    chunk = TEXT_CHUNK

    def __init__(self, lines: Lines, header: str, line: int, name: str):
        self.source, self.line, self.name = lines, line, name
        try:
            cells = next(csv.reader([header], strict=True))
        except csv.Error as exc:
            raise UsageError(f"{name}, line {line}: the header is not valid CSV ({exc})") \
                from None
        self.columns = [cell.strip() for cell in cells]
        self.header = header
        self.indices: dict[str, int] = {}

    def use(self, names: list[str]) -> None:
        """Read these columns as numbers."""
        for name in names:
            if self.columns.count(name) > 1:
                raise UsageError(f"{self.name}: the column {name} appears twice in the header",
                                 hint="rename one of them")
        self.indices = {name: self.columns.index(name) for name in names}

    def chunks(self, size: int):
        while True:
            block, count = self.source.take(size)
            if not count:
                return
            first = self.line + 1
            self.line += count
            yield self._quick(block, first, count) or \
                self._careful(self.source.text(block), first)

    def _quick(self, block: bytes, first: int, count: int) -> Chunk | None:
        """The whole chunk through polars, if every line is plain: no quote, and the
        header's number of cells on each line (then nothing needs naming but the cells
        that are not numbers)."""
        width = len(self.columns)
        if b'"' in block or block.count(b",") != count * (width - 1):
            return None
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        names = [f"c{i}" for i in range(width)]
        try:
            cells = pl.read_csv(block, has_header=False, new_columns=names,
                                schema=dict.fromkeys(names, pl.String), quote_char=None,
                                empty_string_is_null=False, truncate_ragged_lines=False)
        except (pl.exceptions.PolarsError, UnicodeDecodeError):
            return None
        if cells.height != count or (width == 1 and (cells["c0"].str.strip_chars() == "").any()):
            return None  # blank lines: skipped, but counted
        numbers, problems = {}, {}
        for name, index in self.indices.items():
            numbers[name] = _numbers(cells[f"c{index}"], name, problems)
        return Chunk(np.arange(first, first + count), numbers, problems, cells)

    def _careful(self, texts: list[str], first: int) -> Chunk:
        lines, raw, rows, problems = [], [], [], {}
        numbers = {name: [] for name in self.indices}
        width = len(self.columns)
        for offset, text in enumerate(texts):
            if not text.strip():
                continue
            position = len(raw)
            lines.append(first + offset)
            cells = self._cells(text)
            if isinstance(cells, str):
                problems[position] = ([], cells)
                cells = next(csv.reader([text]), [])[:width]
                cells += [""] * (width - len(cells))
                text = ",".join(map(csv_cell, cells))
                shaped = False
            else:
                shaped = True
            raw.append(text)
            rows.append(cells)
            for name, index in self.indices.items():
                value, problem = parse_number(cells[index]) if shaped else (None, None)
                if problem is not None and position not in problems:
                    problems[position] = ([name], problem)
                numbers[name].append(0.0 if value is None else value)
        arrays = {name: np.array(values, dtype=np.float64) for name, values in numbers.items()}
        table = pl.DataFrame([pl.Series(f"c{i}", column, dtype=pl.String)
                              for i, column in enumerate(zip(*rows))] if rows else
                             {f"c{i}": pl.Series([], dtype=pl.String) for i in range(width)})
        return Chunk(np.array(lines, dtype=np.int64), arrays, problems, table, raw)

    def _cells(self, text: str):
        """The row's cells, or what is wrong with its shape."""
        try:
            cells = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            return f"the row is not valid CSV ({exc}; a quoted cell cannot span lines)"
        if len(cells) != len(self.columns):
            return (f"the row has {len(cells)} cell{'s' * (len(cells) != 1)} but the header "
                    f"has {len(self.columns)}")
        return cells

    # What is passed through, in each output format.
    def header_csv(self, names: list[str]) -> str:
        return self.header if names == self.columns else ",".join(map(csv_cell, names))

    def kept_csv(self, chunk: Chunk, names: list[str]) -> list[pl.Series]:
        if names == self.columns:  # each line as it was
            return [pl.Series(chunk.raw, dtype=pl.String)] if chunk.raw is not None else \
                chunk.cells.get_columns()  # a plain chunk: its cells are its lines, split
        return [_csv_quoted(chunk.cells[f"c{self.columns.index(n)}"]) for n in names]

    def kept_json(self, chunk: Chunk, names: list[str]) -> pl.Series:
        """`"name": value, ` per row: an input's cell as the number read (as repr writes
        it), any other cell as a JSON string; nothing for a row of the wrong shape."""
        parts = []
        for name in names:
            cells = chunk.cells[f"c{self.columns.index(name)}"]
            text = _json_strings(cells)
            if name in self.indices:
                text = _json_numbers(cells, text)
            key = json.dumps(name, ensure_ascii=False) + ": "
            parts.append(pl.concat_str(pl.lit(key), text))
        kept = pl.select(pl.concat_str(parts, separator=", ") + ", ").to_series()
        shapeless = [row for row, (columns, _) in chunk.problems.items() if not columns]
        return kept.scatter(shapeless, "") if shapeless else kept

    def kept_table(self, chunk: Chunk, names: list[str]) -> list[pl.Series]:
        return [_parquet_number(chunk, name) if name in self.indices else
                chunk.cells[f"c{self.columns.index(name)}"].alias(name) for name in names]


def _json_strings(cells: pl.Series) -> pl.Series:
    """Text as JSON strings, as json.dumps writes them (ensure_ascii=False): a backslash
    and a quote escaped in one pass; the few cells with control characters by json."""
    escaped = cells.str.replace_all("\\", "\\\\", literal=True) \
        .str.replace_all('"', '\\"', literal=True)
    text = pl.select(pl.concat_str(pl.lit('"'), escaped, pl.lit('"'))).to_series()
    control = np.flatnonzero(cells.str.contains(r"[\x00-\x1f]").to_numpy())
    if len(control):
        text = text.scatter(control, [json.dumps(cells[i], ensure_ascii=False)
                                      for i in control.tolist()])
    return text


def _json_numbers(cells: pl.Series, strings: pl.Series) -> pl.Series:
    """An input's cells as JSON: each number read as repr writes it, and a cell that is
    not a number as its JSON string (`strings`)."""
    values = cells.cast(pl.Float64, strict=False).to_numpy()
    unread = ~np.isfinite(values)
    text = shortest(np.where(unread, 0.0, values))
    for row in np.flatnonzero(unread).tolist():
        value = parse_number(cells[row])[0]
        text[row] = strings[row] if value is None else repr(value)
    return text


def _numbers(cells: pl.Series, name: str, problems: dict) -> np.ndarray:
    """A column of text as float64; a cell polars does not read as a finite number is
    read by parse_number, which says what is wrong with it."""
    values = cells.cast(pl.Float64, strict=False).to_numpy()  # a null is NaN
    odd = np.flatnonzero(~np.isfinite(values))
    if len(odd):
        values = values.copy()  # writable
    for position in odd.tolist():
        cell = cells[position]  # None: a null in a Parquet column of text
        value, problem = parse_number("" if cell is None else cell)
        if problem is None:
            values[position] = value
        else:
            problems.setdefault(position, ([name], problem))
            values[position] = 0.0
    return values


def _parquet_number(chunk: Chunk, name: str) -> pl.Series:
    """An input's column in a typed output: the numbers read, null where unreadable."""
    values = chunk.numbers[name]
    nulls = np.zeros(len(values), dtype=bool)
    for position, (columns, _) in chunk.problems.items():
        if not columns or name in columns:
            nulls[position] = True
    series = pl.Series(name, values, dtype=pl.Float64)
    return series.scatter(np.flatnonzero(nulls), None) if nulls.any() else series


class JsonlReader:
    """JSON Lines: one object per line; the first line's keys name the columns."""

    unit = "line"
    chunk = TEXT_CHUNK

    def __init__(self, lines: Lines, first: str | None, line: int, name: str):
        self.name = name
        self.names: list[str] = []
        self.clashes: set[str] = set()
        self.source, self.line, self.columns = lines, line, []
        self.head = first
        if first is None:  # an empty input: no rows, no columns
            return
        head, problem = _json_object(first)
        if problem is not None:
            raise UsageError(f"{name}, line {line}: {problem}",
                             hint="JSON Lines has one object per line, e.g. "
                                  '{"x": -2, "y": 5}; its keys are the variables')
        self.columns = list(head)
        self.line = line - 1

    def use(self, names: list[str]) -> None:
        self.names = names

    def chunks(self, size: int):
        pending = [self.head] if self.head is not None else []
        while True:
            block, count = self.source.take(size - len(pending))
            texts = pending + (self.source.text(block) if count else [])
            pending = []
            if not texts:
                return
            first = self.line + 1
            self.line += len(texts)
            yield self._read(texts, first)

    def _read(self, texts: list[str], first: int) -> Chunk:
        lines, records, problems = [], [], {}
        numbers = {name: [] for name in self.names}
        for offset, text in enumerate(texts):
            if not text.strip():
                continue
            position = len(records)
            lines.append(first + offset)
            row, problem = _json_object(text)
            if problem is not None:
                problems[position] = ([], problem)
                row = {}
            clash = self.clashes and (self.clashes.intersection(row) or
                                      [key for key in row if gradient_name(key, self.names)])
            if clash and position not in problems:
                problems[position] = ([], f"the object already has the key "
                                      f"{sorted(clash)[0]!r}, which the output adds "
                                      "(use --keep inputs or --keep none)")
                row = {}  # not copied: its key would stand beside the output's own
            records.append((text, row))
            for name in self.names:
                value, problem = json_number(row[name]) if name in row else \
                    (None, "the key is missing")
                if problem is not None and position not in problems:
                    problems[position] = ([name], problem)
                numbers[name].append(0.0 if value is None else value)
        arrays = {name: np.array(values, dtype=np.float64) for name, values in numbers.items()}
        return Chunk(np.array(lines, dtype=np.int64), arrays, problems, records)

    def header_csv(self, names: list[str]) -> str:
        return ",".join(map(csv_cell, names))

    def kept_csv(self, chunk: Chunk, names: list[str]) -> list[pl.Series]:
        return [pl.Series([",".join(csv_cell(_csv_text(row[name])) if name in row else ""
                                    for name in names) for _, row in chunk.cells],
                          dtype=pl.String)]

    def kept_json(self, chunk: Chunk, names: list[str]) -> list[str]:
        if names == self.columns:  # each object as it was written
            kept = [text.strip()[1:-1].strip() if row else "" for text, row in chunk.cells]
        else:
            kept = [", ".join(f"{json.dumps(name, ensure_ascii=False)}: "
                              f"{repr(chunk.numbers[name][i]) if name in self.names else ''}"
                              for name in names) if row else ""
                    for i, (_, row) in enumerate(chunk.cells)]
        return [text + ", " if text else "" for text in kept]

    def kept_table(self, chunk: Chunk, names: list[str]) -> list[pl.Series]:
        return [_parquet_number(chunk, name) if name in self.names else
                pl.Series(name, [_csv_text(row[name]) if name in row and row[name] is not None
                                 else None for _, row in chunk.cells], dtype=pl.String)
                for name in names]


def gradient_name(column: str, inputs) -> bool:
    """A column that would pass as a gradient in the output (grad_*) but is not a number
    read for an input: kept, it would break the output rows' schema."""
    return column.startswith("grad_") and column not in inputs


def _json_object(text: str):
    """A line as a JSON object, or what is wrong with it: (dict, None) or (None, problem).
    (The error is kept as text: an exception kept in a local would be a reference cycle
    through its traceback, and the CLI pauses the cycle collector.)"""
    try:
        value = jsonread.loads(text)
    except jsonread.JsonProblem as exc:
        return None, f"the line cannot be used: {exc.message}" + \
            (f", column {exc.column}" if exc.column else "")
    if not isinstance(value, dict):
        return None, "the line is not a JSON object"
    return value, None


class ParquetReader:
    """A Parquet file, read a batch of rows at a time; rows are numbered from 1."""

    unit = "row"
    chunk = 65536  # Arrow's columns cost no more than numpy's arrays

    def __init__(self, source, name: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.name = name
        try:
            self.file = pq.ParquetFile(source, pre_buffer=False)  # holds 20 MB less
        except (pa.ArrowException, OSError) as exc:
            raise UsageError(f"{name} is not a Parquet file ({exc})",
                             hint="give --input-format csv or jsonl for a text file") from None
        self.columns = list(self.file.schema_arrow.names)
        self.rows = self.file.metadata.num_rows
        self.names: list[str] = []

    def use(self, names: list[str]) -> None:
        for name in names:
            if self.columns.count(name) > 1:
                raise UsageError(f"{self.name}: the column {name} appears twice",
                                 hint="rename one of them")
        schema = self.file.schema_arrow
        for name in names:
            kind = schema.field(name).type
            if not (_arrow_numeric(kind) or str(kind) in ("string", "large_string")):
                raise UsageError(f"{self.name}: the column {name} holds {kind}, not numbers",
                                 hint="convert it to a number type, or bind the name for all "
                                      "rows")
        self.names = names

    def chunks(self, size: int):
        """Chunks whose cells are Arrow record batches, as read (no copy)."""
        import pyarrow as pa

        done = 0
        for batch in self.file.iter_batches(batch_size=size):
            numbers, problems = {}, {}
            for name in self.names:
                column = batch.column(name)
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                    numbers[name] = _numbers(pl.from_arrow(column), name, problems)
                else:
                    numbers[name] = _arrow_numbers(column, name, problems)
            yield Chunk(np.arange(done + 1, done + 1 + batch.num_rows), numbers, problems, batch)
            done += batch.num_rows

    def header_csv(self, names: list[str]) -> str:
        return ",".join(map(csv_cell, names))

    def kept_csv(self, chunk: Chunk, names: list[str]) -> list[pl.Series]:
        cells = pl.from_arrow(chunk.cells)
        return [_csv_quoted(_as_text(cells[name])) for name in names]

    def kept_json(self, chunk: Chunk, names: list[str]) -> list[str]:
        if not names:
            return [""] * len(chunk)
        cells = pl.from_arrow(chunk.cells)
        columns = [_as_json(cells[name]) for name in names]
        keys = [json.dumps(name, ensure_ascii=False) + ": " for name in names]
        return [", ".join(k + v for k, v in zip(keys, row)) + ", " for row in zip(*columns)]

    def kept_table(self, chunk: Chunk, names: list[str]) -> list:
        return [chunk.cells.column(name) for name in names]


def _arrow_numbers(column, name: str, problems: dict) -> np.ndarray:
    """An Arrow column of numbers as float64; a null, NaN or infinity is a problem."""
    import pyarrow as pa

    # Unsafe: an integer past 2**53 rounds to the nearest float, as its digits in CSV do.
    values = np.asarray(column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False),
                        dtype=np.float64)
    odd = np.flatnonzero(~np.isfinite(values))
    if len(odd):
        values = values.copy()
        missing = column.is_null().to_numpy(zero_copy_only=False)
        for position in odd.tolist():
            problem = "the value is missing" if missing[position] else \
                "the value is missing (NaN)" if np.isnan(values[position]) else \
                f"{values[position]} is not a finite number"
            problems.setdefault(position, ([name], problem))
            values[position] = 0.0
    return values


def _arrow_numeric(kind) -> bool:
    import pyarrow.types as types

    return types.is_integer(kind) or types.is_floating(kind) or types.is_decimal(kind) or \
        types.is_boolean(kind)


def _as_text(column: pl.Series) -> pl.Series:
    """A typed column as CSV text: floats in their shortest form, nested values as JSON."""
    if column.dtype.is_float():
        return shortest(column.cast(pl.Float64).to_numpy(), column.is_null().to_numpy())
    if column.dtype.is_nested() or column.dtype == pl.Object:
        return pl.Series([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                          for v in column.to_list()], dtype=pl.String)
    if column.dtype == pl.Boolean:
        return column.cast(pl.String).str.to_lowercase()
    return column.cast(pl.String)


def _as_json(column: pl.Series) -> list[str]:
    """A typed column as JSON text, one value per row."""
    if column.dtype.is_float():
        return shortest(column.cast(pl.Float64).to_numpy(), column.is_null().to_numpy(),
                        json_text=True).fill_null("null").to_list()
    if column.dtype.is_numeric():
        return column.cast(pl.String).fill_null("null").to_list()
    return [json.dumps(v, ensure_ascii=False, default=str) for v in column.to_list()]


def read_ahead(chunks):
    """The chunks of a reader, each read on a second thread while the one before is
    computed and written (polars, pyarrow and numpy let go of the GIL as they work)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as reader:
        pending = reader.submit(next, chunks, None)
        while (chunk := pending.result()) is not None:
            pending = reader.submit(next, chunks, None)
            yield chunk


# -- opening -------------------------------------------------------------------------

@contextmanager
def opened_input(path: str, input_format: str | None):
    """A reader of the input (its format from --input-format, Parquet's magic bytes, the
    extension, or else the first line: `{` is JSON Lines), the format, and a progress
    callback."""
    if path == "-":
        binary, name = sys.stdin.buffer, "<stdin>"
    else:
        name = path
        try:
            binary = open(path, "rb")
        except IsADirectoryError:
            raise UsageError(f"{path} is a directory, not a file",
                             hint="batch reads one file: give each of its files in turn "
                                  "(a partitioned Parquet data set too)") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}", hint="check the path") \
                from None
    try:
        fmt = input_format or format_of(path)
        if fmt != "parquet" and _starts_parquet(binary):
            if fmt is not None:
                raise UsageError(f"{name} is a Parquet file, not {fmt.upper()}",
                                 hint="give --input-format parquet")
            fmt = "parquet"
        if fmt == "parquet":
            reader = ParquetReader(binary if path != "-" else io.BytesIO(binary.read()), name)
            with progress_bar(reader.rows, None) as progress:
                yield reader, fmt, progress
            return
        lines = Lines(binary, name)
        first, line = lines.first()
        fmt = fmt or ("jsonl" if first is not None and first.lstrip().startswith("{") else "csv")
        if first is None and fmt == "csv":
            raise UsageError(f"{name} is empty: a CSV input starts with a header row "
                             "of variable names", hint="e.g. x,y,z")
        reader = (CsvReader if fmt == "csv" else JsonlReader)(lines, first, line, name)
        with progress_bar(*_size_and_position(binary)) as progress:
            yield reader, fmt, progress
    finally:
        if path != "-":
            binary.close()


def _starts_parquet(binary) -> bool:
    """Whether the stream begins with Parquet's magic bytes (looked at, not consumed):
    a Parquet file named otherwise, or on standard input, is not read as text."""
    if hasattr(binary, "peek"):
        return binary.peek(4)[:4] == b"PAR1"
    if binary.seekable():
        start = binary.tell()
        head = binary.read(4)
        binary.seek(start)
        return head == b"PAR1"
    return False


def _size_and_position(binary):
    """A file's size and a way to ask how far it has been read; (None, None) for a pipe."""
    try:
        return os.fstat(binary.fileno()).st_size or None, binary.tell
    except (OSError, ValueError, io.UnsupportedOperation):
        return None, None


@contextmanager
def progress_bar(total, position):
    """A progress bar on standard error when it is a terminal; silent otherwise. `total`
    is the input's size (bytes, read so far: `position`) or its rows (`position` None)."""
    if not sys.stderr.isatty():
        yield lambda rows: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    if total is None:  # a pipe: rows so far, no end known
        columns = [TextColumn("{task.completed:,} rows"), TimeElapsedColumn()]
    else:
        columns = [BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[rows]:,} rows"),
                   TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("batch", total=total, rows=0)
        done = [0]

        def advance(rows: int) -> None:
            done[0] += rows
            if total is None or position is None:
                bar.update(task, completed=done[0], rows=done[0])
            else:
                bar.update(task, completed=position(), rows=done[0])
        yield advance


@contextmanager
def opened_output(path: str):
    """Standard output, or `path` as gradcalc.files.opened_output writes it: a file
    appears (or is replaced) only when the run succeeds, a device or a FIFO is written
    directly, a symbolic link is followed."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory", hint="give a file name with -o")
    with files.opened_output(path) as binary:
        yield binary


def _kept_type(reader, name: str):
    """A kept column's type in a Parquet output of no rows, as a row would have given it:
    a Parquet input's own type; an input read from text, float64; other text, string."""
    import pyarrow as pa

    if isinstance(reader, ParquetReader):
        kind = reader.file.schema_arrow.field(name).type
        return pa.string() if kind == pa.large_string() else kind
    numbers = reader.indices if isinstance(reader, CsvReader) else reader.names
    return pa.float64() if name in numbers else pa.string()


def _plain_strings(array):
    """polars hands text to Arrow as large_string; Parquet readers expect string."""
    import pyarrow as pa

    return array.cast(pa.string()) if array.type == pa.large_string() else array


# -- writing --------------------------------------------------------------------------

class Writer:
    """Rows out: what is kept of the input, then the computed columns, in the input's
    order. CSV and JSON Lines are assembled as text by polars, a chunk at a time; Parquet
    is written by pyarrow, a row group per chunk."""

    def __init__(self, handle, fmt: str, reader, kept: list[str], names: list[str]):
        self.handle, self.fmt, self.reader = handle, fmt, reader
        self.kept, self.names = kept, names
        self.parquet = self.schema = None  # pyarrow's writer, on the first chunk
        self.pending, self.pending_rows = [], 0  # Arrow tables not yet written
        self.started = False

    def header(self) -> None:
        """The CSV header (also for an input of no rows)."""
        if not self.started and self.fmt == "csv":
            parts = [self.reader.header_csv(self.kept)] if self.kept else []
            parts += [csv_cell(name) for name in self.names]
            self.handle.write((",".join(parts) + "\n").encode("utf-8"))
        self.started = True

    def write(self, chunk: Chunk, columns: list, nulls=None) -> None:
        """`columns`: the float arrays to write, one per name; `nulls` the rows written
        without numbers."""
        if self.fmt == "parquet":
            return self._write_parquet(chunk, columns, nulls)
        self.header()
        if not len(chunk):
            return
        if self.fmt == "csv":
            cells = [shortest(column, nulls) for column in columns]
            parts = self.reader.kept_csv(chunk, self.kept) if self.kept else []
            frame = pl.DataFrame([part.alias(f"k{i}") for i, part in enumerate(parts)] +
                                 [cell.alias(f"n{i}") for i, cell in enumerate(cells)])
        else:
            cells = [shortest(column, nulls, json_text=True).fill_null("null").alias(f"n{i}")
                     for i, column in enumerate(columns)]
            kept = pl.Series("k", self.reader.kept_json(chunk, self.kept) if self.kept else
                             [""] * len(chunk), dtype=pl.String)
            pieces = [pl.lit("{"), pl.col("k")]
            for i, name in enumerate(self.names):
                pieces += [pl.lit((", " if i else "") + json.dumps(name, ensure_ascii=False) +
                                  ": "), pl.col(f"n{i}")]
            frame = pl.DataFrame([kept, *cells]).select(pl.concat_str(*pieces, pl.lit("}")))
        text = io.BytesIO()  # written by Python: a closed pipe is a BrokenPipeError
        frame.write_csv(text, include_header=False, quote_style="never")
        self.handle.write(text.getbuffer())

    def _write_parquet(self, chunk: Chunk, columns: list, nulls) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        kept = self.reader.kept_table(chunk, self.kept) if self.kept else []
        arrays = [_plain_strings(part.to_arrow() if isinstance(part, pl.Series) else part)
                  for part in kept]
        arrays += [pa.array(column, type=pa.float64(), mask=nulls) for column in columns]
        table = pa.table(arrays, names=self.kept + self.names)
        if self.parquet is None:  # floats rarely repeat: a dictionary would only cost
            self.parquet = pq.ParquetWriter(self.handle, table.schema, use_dictionary=[
                field.name for field in table.schema if not pa.types.is_floating(field.type)])
            self.schema = table.schema
        self.pending.append(table.cast(self.schema))
        self.pending_rows += table.num_rows
        if self.pending_rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        """The chunks held so far, as one row group (small row groups read slowly)."""
        import pyarrow as pa

        if self.pending:
            self.parquet.write_table(pa.concat_tables(self.pending))
        self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        """The end: the CSV header of an empty input, the Parquet footer."""
        if self.fmt == "parquet":
            if self.parquet is None:  # no rows: a file with the columns' names
                import pyarrow as pa
                import pyarrow.parquet as pq

                schema = pa.schema([(name, _kept_type(self.reader, name))
                                    for name in self.kept] +
                                   [(name, pa.float64()) for name in self.names])
                self.parquet = pq.ParquetWriter(self.handle, schema)
            self._flush()
            self.parquet.close()
        else:
            self.header()
