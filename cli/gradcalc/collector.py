"""Building a big graph without the cycle collector walking it again and again.

Python's cycle collector runs after every few hundred new container objects and, as the
heap grows, re-walks everything that is still alive. Parsing, lowering and rendering a
100,000-node expression create millions of small acyclic objects (AST nodes, graph nodes,
JSON rows), and the collector took about half of the time spent on them. Those stages
run with it paused; nothing they build has cycles, so reference counting frees it all.
"""
from __future__ import annotations

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
