"""Resource limits: how much text, nesting, graph and exact-number size gradcalc accepts.

Whatever a person or a script sends, gradcalc answers within bounded time and memory: an
input past a limit is refused at once with a LimitError that names the limit and the
option that raises it, instead of running for minutes or allocating gigabytes. The
stages check them where the quantity is known: the source's length before parsing, the
nesting depth and node count while lowering, the elements of vectors and matrices from
their shapes before a pass (gradcalc.elements), an exact number's size in the arithmetic.
"""
from __future__ import annotations

from .errors import LimitError, Span
from .frozen import FrozenValue

# Gates calling gates are evaluated one Python call per level, so their nesting stays
# well inside the interpreter's recursion limit (about 1,000 frames). --expand inlines
# the gates, and has no such limit.
MAX_GATE_NESTING = 100
# numpy holds at most 64 dimensions; a Jacobian adds the output's dimensions to each
# node's, so values keep to half of that.
MAX_DIMENSIONS = 32
# The Jacobians of a non-scalar output (output size × node size numbers per node) are
# refused past this many numbers (80 MB); --upstream asks for one gradient instead.
MAX_JACOBIAN = 10_000_000
# An array made from sizes alone (zeros((n, m)), eye(n), arange(n), one_hot(y, C)) has at
# most this many elements (80 MB): a size typed by mistake is refused, not allocated.
MAX_ELEMENTS = 10_000_000
# conv2d and max_pool2d see their input as its windows; past this many numbers (160 MB)
# that view is refused before any of it is computed.
MAX_UNFOLDED = 20_000_000

# A --bindings or --answers file is read no further than this many bytes (a 1000×1000
# matrix written out is about 15 MB); larger data goes to `gradcalc batch` as rows.
MAX_DATA_FILE = 16 * 2**20
# A line of `gradcalc batch`'s input (a CSV row, a JSON Lines object) is read no further
# than this many characters: one endless line cannot fill the memory.
MAX_LINE = 2**20

_set = object.__setattr__


class Limits(FrozenValue):
    """The raisable limits (README, "Limits and guarantees"), each with its option;
    immutable and compared by value."""

    __slots__ = ("source", "depth", "nodes", "digits", "elements")

    def __init__(self, source: int = 1_000_000, depth: int = 100_000, nodes: int = 1_000_000,
                 digits: int = 4_000, elements: int = 10_000_000):
        _set(self, "source", source)  # characters of program text (--max-source)
        _set(self, "depth", depth)  # nesting depth of an expression (--max-depth)
        _set(self, "nodes", nodes)  # graph nodes, user gates counted expanded (--max-nodes)
        _set(self, "digits", digits)  # digits of an exact numerator or denominator (--max-digits)
        _set(self, "elements", elements)  # numbers in all the values of a run (--max-elements)


DEFAULT = Limits()
OPTIONS = {"source": "--max-source", "depth": "--max-depth", "nodes": "--max-nodes",
           "digits": "--max-digits", "elements": "--max-elements"}


def exceeded(limit: str, message: str, source: str = "", span: Span | None = None,
             hint: str | None = None) -> LimitError:
    """A LimitError whose hint says how to raise `limit` (on the command line and in
    Python), after any more specific advice."""
    raise_it = (f"raise the limit with {OPTIONS[limit]} N "
                f"(in Python: limits=gradcalc.Limits({limit}=N))")
    return LimitError(message, source, span, f"{hint}, or {raise_it}" if hint else raise_it)


def check_source(text: str, limits: Limits = DEFAULT, what: str = "the program") -> None:
    """Refuse text longer than `limits.source` characters before any work is done on it."""
    if len(text) > limits.source:
        raise exceeded("source", f"{what} is {len(text):,} characters long, over the limit "
                                 f"of {limits.source:,}")
