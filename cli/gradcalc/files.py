"""Where bytes from outside meet gradcalc: reading a program, writing an output file.

A program comes from the command line, standard input (`-`) or a file (`@FILE`). Whatever
arrives there (a directory, a binary file, text that is not UTF-8, a NUL byte, a stream
that never ends) is one clear error, and no more than the source limit is ever read. An
output file is written where it points, whole or not at all: a file by way of a temporary
file beside it, renamed over it, so an interrupted run never leaves half a picture behind;
a device, a FIFO or /dev/stdout directly, never replaced by a file.
"""
from __future__ import annotations

import os
import re
import stat
import sys
from contextlib import contextmanager

from .errors import UsageError
from .limits import DEFAULT, Limits, exceeded


def binary_stream(stream):
    """The bytes under a text stream (sys.stdin.buffer); the stream itself if it has none."""
    return getattr(stream, "buffer", stream)


def read_source(expr: str, limits: Limits = DEFAULT) -> str:
    """EXPR as given, `-` for standard input, or `@FILE` for a file."""
    if expr == "-":
        data = _read_limited(binary_stream(sys.stdin), limits)
        return _decoded(data, "standard input", limits)
    if expr.startswith("@"):
        path = expr[1:]
        try:
            with open(path, "rb") as handle:
                data = _read_limited(handle, limits)
        except (OSError, ValueError) as exc:
            raise open_error(path, exc, "give the program's file: @path/to/program.gc") \
                from None
        return _decoded(data, f"the file {path}", limits)
    return expr


def open_error(path: str, exc: Exception, directory_hint: str, what: str = "") -> UsageError:
    """The one message for a file that `open` refused (`exc`): missing, a directory, not
    permitted, or a name holding a NUL (a ValueError); `directory_hint` says what to give,
    and `what` names the file's role ("the bindings file")."""
    named = f"{what} {path}" if what else path
    if isinstance(exc, IsADirectoryError):
        return UsageError(f"{named} is a directory, not a file", hint=directory_hint)
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"cannot read {named}: there is no such file",
                          hint="check the path (it is relative to the current directory)")
    if isinstance(exc, OSError):
        return UsageError(f"cannot read {named}: {exc.strerror or exc}",
                          hint="check the path and its permissions")
    named = f"{what} {path!r}" if what else repr(path)
    return UsageError(f"cannot read {named}: a file name cannot hold a NUL character")


def _read_limited(stream, limits: Limits) -> bytes:
    """At most enough bytes for `limits.source` characters (4 bytes each, at most), and
    one more so that a longer input is noticed."""
    return stream.read(4 * limits.source + 1)


def _decoded(data: bytes, what: str, limits: Limits) -> str:
    """UTF-8 text without NUL bytes, within the source limit."""
    if len(data) > 4 * limits.source:
        raise exceeded("source", f"{what} is longer than the limit of "
                                 f"{limits.source:,} characters")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise UsageError(f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line "
                         f"{line}, column {column}",
                         hint="save the program as UTF-8 (it is the default of most "
                              "editors)") from None
    if "\0" in text:
        line, column = _position(data, data.index(b"\0"))
        raise UsageError(f"{what} contains a NUL byte at line {line}, column {column}; "
                         "a program is text", hint="is this a binary file?")
    if len(text) > limits.source:
        raise exceeded("source", f"{what} is {len(text):,} characters long, over the "
                                 f"limit of {limits.source:,}")
    return text


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset, as an editor shows it."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def check_arguments(args) -> None:
    """Command-line arguments that were not UTF-8 reach Python as lone surrogates: say
    so, instead of an "unexpected character '\\udcff'" or a failure to print it."""
    for position, arg in enumerate(args, 1):
        bad = _SURROGATE.search(arg)
        if bad:
            shown = _SURROGATE.sub("\N{REPLACEMENT CHARACTER}", arg)
            raise UsageError(f"argument {position} ({shown!r}) is not UTF-8 text "
                             f"(at character {bad.start() + 1})",
                             hint="set the terminal or the calling program to UTF-8")


_SURROGATE = re.compile("[\ud800-\udfff]")


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` whole or not at all (see `opened_output`)."""
    with opened_output(path) as stream:
        stream.write(data)


@contextmanager
def opened_output(path: str):
    """A binary stream that writes to `path` where it points, whole or not at all.

    `/dev/stdout`, `/dev/stderr` and `/dev/fd/N` are gradcalc's own descriptors (a pipe,
    a log opened for appending), written as they are. A device or a FIFO is written
    directly; it is never replaced by a file. Otherwise, a symbolic link is followed to
    its file, and the output goes to a temporary file beside it, renamed over it only
    when complete, with the old file's permissions: a failed or interrupted run (Ctrl-C,
    SIGTERM) leaves the old file as it was and no temporary file behind.
    """
    try:
        descriptor = _descriptor(path)
        if descriptor is not None:
            with open(os.dup(descriptor), "wb") as stream:
                yield stream
            return
        target = os.path.realpath(path)
        existing = os.stat(target) if os.path.exists(target) else None
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            if stat.S_ISDIR(existing.st_mode):
                raise IsADirectoryError(21, "it is a directory")
            with open(target, "wb") as stream:
                yield stream
            return
        import tempfile  # only for writing a file: it imports random, hashlib and more

        directory, name = os.path.split(target)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, stat.S_IMODE(existing.st_mode) if existing else _new_file_mode())
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except BrokenPipeError:
        raise  # the reader went away: gradcalc ends quietly (cli.main)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                         hint="check the path and its permissions") from None


_DESCRIPTOR_PATH = re.compile(r"/(?:dev/fd|proc/self/fd)/(\d+)\Z")
_STANDARD = {"/dev/stdout": 1, "/dev/stderr": 2}


def _descriptor(path: str) -> int | None:
    """The file descriptor a path names (/dev/stdout, /dev/fd/3), or None."""
    if path in _STANDARD:
        return _STANDARD[path]
    match = _DESCRIPTOR_PATH.match(path)
    return int(match.group(1)) if match else None


def _new_file_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
