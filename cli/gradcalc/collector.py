"""Building a big graph without the cycle collector walking it again and again.

Python's cycle collector runs after every few hundred new container objects and, as the
heap grows, re-walks everything that is still alive. Parsing, lowering and rendering a
100,000-node expression create millions of small acyclic objects (AST nodes, graph nodes,
JSON rows), and the collector took about half of the time spent on them. Those stages
run with it paused; nothing they build has cycles, so reference counting frees it all.
"""
from __future__ import annotations

import atexit
import gc
from functools import wraps


def paused(function):
    """Run `function` with the cycle collector off (and back on after, if it was on)."""
    @wraps(function)
    def run_paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()
    return run_paused


def skip_final_collection() -> None:
    """Leave the objects alive at exit out of the interpreter's last collection.

    At exit Python runs the cycle collector over every object left, and a command's
    imports (Click, Rich) leave so many that this walk took about a tenth of a short
    command's time, only to free memory that the operating system takes back anyway.
    gc.freeze at exit leaves them out. Python does not promise to finalize objects alive
    at exit; gradcalc closes its files itself, and the standard streams are flushed
    regardless.
    """
    atexit.register(gc.freeze)
