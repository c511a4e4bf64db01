"""Arrays in files: a binding's `@FILE` value, a --bindings .npz, and `eval -o FILE.npz`.

A `@FILE` value is one array: `.npy` (np.save's format), `.csv` (comma-separated numbers,
one row a line) or `.txt` (np.savetxt's default: numbers separated by spaces). A .npz
(np.savez) binds each of its arrays by its name. numpy reads them, never with pickle: a
file is data, not code. What a file holds is checked against what its extension says, so
that a renamed file is one clear message rather than numpy's guess.

Floating-point arrays become float64. Integer (and boolean) arrays become int64 and stay
integers: labels and indices, which take no gradient (as an integer tensor in PyTorch).
A text file is always read as float64, since text does not say which it means.

Imported only when a file of arrays is named: a scalar eval does not load numpy.
"""
from __future__ import annotations

import io
import os
import stat

import numpy as np

from .bindings import NAME
from .errors import UsageError
from .files import open_error, write_atomically
from .limits import MAX_DIMENSIONS

ARRAY_FILES = (".npy", ".csv", ".txt")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first entry, or an empty one
_DIRECTORY_HINT = "give one array's file, e.g. @W.npy"


def suffix(path: str) -> str:
    """The file's extension in lower case ('.npy'), or '' for none."""
    return os.path.splitext(path)[1].lower()


def read_array(path: str):
    """The array in a .npy, .csv or .txt file, as float64 or int64 (a 0-d array as a
    Python number). Raises UsageError for a missing or unreadable file, an extension
    gradcalc does not read, content that is not what the extension says, and values that
    are not real numbers."""
    kind = suffix(path)
    if kind == ".npz":
        raise UsageError(f"{path} is an .npz archive, which holds several arrays",
                         hint=f"bind each of its arrays by its name with --bindings {path}")
    if kind not in ARRAY_FILES:
        raise UsageError(f"cannot tell what {path} holds from its extension",
                         hint="give a .npy file (np.save), a .csv of comma-separated numbers, "
                              "or a .txt of numbers separated by spaces (np.savetxt)")
    with _opened(path) as handle:
        if kind == ".npy":
            array = _load_npy(handle, path)
        else:
            array = _load_text(handle, path, "," if kind == ".csv" else None)
    return as_value(array, path)


def read_npz(path: str) -> dict:
    """Each array of an .npz archive (np.savez) by its name: {name: array or number}.
    Raises UsageError as read_array does, and for a name an expression cannot use."""
    with _opened(path) as handle:
        _expect(handle, path, ".npz", _ZIP_MAGIC)
        try:
            with np.load(handle, allow_pickle=False) as archive:
                return {name: _npz_member(archive, name, path) for name in archive.files}
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - zipfile and numpy raise many kinds
            raise _unreadable(path, ".npz", exc) from None


def _npz_member(archive, name: str, path: str):
    if not NAME.match(name):
        raise UsageError(f"{path} holds an array named {name!r}, which an expression "
                         "cannot use as a name",
                         hint="save the arrays under names of letters, digits and _ "
                              "(np.savez(file, W=W, b=b))")
    member = archive[name]
    if not isinstance(member, np.ndarray):  # a file in the archive that is not an array
        raise UsageError(f"{path} holds {name}, which is not an array saved by numpy",
                         hint="write the archive with np.savez(file, W=W, b=b)")
    return as_value(member, f"{path} ({name})")


class _opened:
    """The regular file at `path`, open for reading in binary; failures are gradcalc's one
    message. Opened without blocking, so that a named pipe is refused, not waited on."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        try:
            descriptor = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except (OSError, ValueError) as exc:
            raise open_error(self.path, exc, _DIRECTORY_HINT) from None
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            os.close(descriptor)
            if stat.S_ISDIR(mode):
                raise open_error(self.path, IsADirectoryError(), _DIRECTORY_HINT)
            raise UsageError(f"{self.path} is not a regular file (a pipe or a device)",
                             hint="save the array to a file and give its path")
        self.handle = os.fdopen(descriptor, "rb")
        return self.handle

    def __exit__(self, *exc_info):
        self.handle.close()


def _load_npy(handle, path: str):
    _expect(handle, path, ".npy", (_NPY_MAGIC,))
    try:
        _check_declared_size(handle, path)
        return np.load(handle, allow_pickle=False)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated header, pickled objects, ...
        raise _unreadable(path, ".npy", exc) from None


def _check_declared_size(handle, path: str) -> None:
    """A truncated .npy is refused from its header, before numpy allocates the array the
    header declares (which may be terabytes)."""
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    reader = readers.get(fmt.read_magic(handle))
    if reader is not None:  # version 3 (UTF-8 field names) is left to np.load
        shape, _, dtype = reader(handle)
        needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        held = os.fstat(handle.fileno()).st_size - handle.tell()
        if needed > held and not dtype.hasobject:  # objects: refused by np.load below
            raise UsageError(f"{path} is a damaged .npy file: its header declares shape "
                             f"{shape} ({needed:,} bytes), and it holds {held:,} bytes",
                             hint="write it again with np.save")
    handle.seek(0)


def _load_text(handle, path: str, delimiter: str | None):
    head = handle.read(1024)
    handle.seek(0)
    if b"\0" in head or head.startswith((_NPY_MAGIC, *_ZIP_MAGIC)):
        raise _mislabelled(path, head)
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Empty input file": said below, as an error
            array = np.loadtxt(handle, delimiter=delimiter, dtype=np.float64,
                               encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text",
                         hint="save the numbers as UTF-8 (or ASCII) text") from None
    except ValueError as exc:  # numpy names the row and column
        detail = str(exc).split(";")[0].rstrip(".")
        raise UsageError(f"{path} is not a table of numbers: {detail}",
                         hint="every line needs the same count of numbers"
                              + (", separated by commas" if delimiter else "")
                              + "; a header line can start with #") from None
    if array.size == 0:
        raise UsageError(f"{path} holds no numbers", hint="write one row of numbers a line")
    return array


def _expect(handle, path: str, kind: str, magics: tuple) -> None:
    """The file starts as a `kind` file does, or it is refused for what it looks like."""
    head = handle.read(1024)
    handle.seek(0)
    if not head.startswith(magics):
        raise _mislabelled(path, head, kind)


def _mislabelled(path: str, head: bytes, kind: str = "text") -> UsageError:
    looks = _looks_like(head)
    what = f"an {kind} file" if kind != "text" else "text"
    return UsageError(f"{path} is not {what}: it looks like {looks}",
                      hint="name the file for what it holds: .npy for np.save, .npz for "
                           "np.savez, .csv or .txt for numbers as text")


def _looks_like(head: bytes) -> str:
    if not head:
        return "an empty file"
    if head.startswith(_NPY_MAGIC):
        return "a .npy array (np.save)"
    if head.startswith(_ZIP_MAGIC):
        return "a zip archive (an .npz of np.savez?)"
    if b"\0" in head:
        return "binary data"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "JSON text" if text.lstrip().startswith(("{", "[")) else "text"


def _unreadable(path: str, kind: str, exc: Exception) -> UsageError:
    detail = str(exc)
    if "allow_pickle" in detail:
        return UsageError(f"{path} holds Python objects (pickled), which gradcalc does not "
                          "load: a file is data, never code",
                          hint="save an array of numbers (np.save(file, np.asarray(x, "
                               "dtype=float)))")
    return UsageError(f"{path} is a damaged {kind} file: {detail or type(exc).__name__}",
                      hint=f"write it again with np.{'save' if kind == '.npy' else 'savez'}")


def as_value(array, what: str):
    """float64 for real numbers, int64 for integers and booleans; a 0-d array as a Python
    number. Complex numbers, text and records are refused."""
    kind = array.dtype.kind
    if kind in "iub":
        if kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
            raise UsageError(f"{what} holds integers past 2^63, which gradcalc cannot hold",
                             hint="save them as floats")
        array = array.astype(np.int64, copy=False)
    elif kind == "f":
        array = array.astype(np.float64, copy=False)  # a file's array is not copied again
    else:
        held = {"c": "complex numbers"}.get(kind, f"values of type {array.dtype}, not numbers")
        raise UsageError(f"{what} holds {held}; gradcalc computes with real numbers",
                         hint="save an array of real numbers (float or integer)")
    if array.ndim > MAX_DIMENSIONS:
        raise UsageError(f"{what} has {array.ndim} dimensions; values have at most "
                         f"{MAX_DIMENSIONS}")
    return array.item() if array.ndim == 0 else array


def write_npz(path: str, result) -> None:
    """`eval -o FILE.npz`: `value` and one array per input, named as the input (an input
    without a gradient, an integer array, has none), for np.load. Written whole or not at
    all (gradcalc.files.write_atomically)."""
    gradients = {name: grad for name, grad in result.gradients.items() if grad is not None}
    if "value" in gradients:
        raise UsageError(f"{path} would hold two arrays named value: the output's value and "
                         "the gradient of the input value",
                         hint="rename the input, leave it out with --wrt, or write "
                              "-o FILE.json")
    arrays = {"value": np.asarray(result.value)}
    arrays.update((name, np.asarray(grad)) for name, grad in gradients.items())
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())
