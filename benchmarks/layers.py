"""conv2d and max_pool2d at CS231n assignment 2's sizes, beside the assignment's naive loops.

    python benchmarks/layers.py              # both tables, about three minutes
    python benchmarks/layers.py --repeats 1  # a quicker look

The naive loops take about 20 seconds a run at the fast-layer sizes, most of the time.

Compute only, in one process: the forward and backward pass of each layer as the
assignment's naive layers compute it (loops over images, filters and positions:
tests/cs231n_naive.py), as gradcalc's op computes it (forward and vector-Jacobian
product, straight from the op table), and through gradcalc's whole engine
(gradcalc.evaluate with the upstream gradient dout). End to end: `gradcalc eval` of the
layer with its bindings in a JSON file and dout given with --upstream, in a fresh
process each time (what a student runs). Every answer is checked against the naive
layers (1e-9) before anything is printed. These are measurements, not tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from cs231n_naive import (conv_backward_naive, conv_forward_naive,  # noqa: E402
                          max_pool_backward_naive, max_pool_forward_naive)

# (label, expression, shapes of x, w, b or of x alone, the naive layer's parameters)
CASES = [
    ("conv, the notebook's backward check: x 4×3×5×5, w 2×3×3×3, pad 1",
     "conv2d(x, w, b, stride=1, pad=1)", [(4, 3, 5, 5), (2, 3, 3, 3), (2,)],
     {"stride": 1, "pad": 1}),
    ("max pool, the notebook's backward check: x 3×2×8×8, 2×2, stride 2",
     "max_pool2d(x, size=2, stride=2)", [(3, 2, 8, 8)],
     {"pool_height": 2, "pool_width": 2, "stride": 2}),
    ("conv, the notebook's fast-layer sizes: x 100×3×31×31, w 25×3×3×3, stride 2, pad 1",
     "conv2d(x, w, b, stride=2, pad=1)", [(100, 3, 31, 31), (25, 3, 3, 3), (25,)],
     {"stride": 2, "pad": 1}),
    ("max pool, the notebook's fast-layer sizes: x 100×3×32×32, 2×2, stride 2",
     "max_pool2d(x, size=2, stride=2)", [(100, 3, 32, 32)],
     {"pool_height": 2, "pool_width": 2, "stride": 2}),
]


def naive(args, params, dout):
    """The naive layers' forward and backward: (out, [∂L/∂arg ...])."""
    if len(args) == 3:
        out, cache = conv_forward_naive(*args, params)
        return out, list(conv_backward_naive(dout, cache))
    out, cache = max_pool_forward_naive(args[0], params)
    return out, [max_pool_backward_naive(dout, cache)]


def op_pass(expression, args, dout):
    """gradcalc's op alone: its forward, then its vjp (the table's entry with the
    expression's keywords bound, as lowering binds them)."""
    from gradcalc.api import prepare
    from gradcalc.arrays import ArrayArith

    graph, _, _, _ = prepare(expression, dict(zip("xwb", (a.tolist() for a in args))))
    op = graph.nodes[graph.output].op
    xp = ArrayArith()

    def run():
        out = op.forward(xp, *args)
        return out, list(op.vjp(xp, dout, out, *args))
    return run


def engine_pass(expression, args, dout):
    import gradcalc

    bindings = dict(zip("xwb", args))

    def run():
        result = gradcalc.evaluate(expression, upstream=dout, **bindings)
        return result.value, [result.gradients[name] for name in bindings]
    return run


def timed(run, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def agree(answer, reference, what: str) -> None:
    for got, expected in zip([answer[0], *answer[1]], [reference[0], *reference[1]]):
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
            raise SystemExit(f"{what} disagrees with the naive layers")


def compute_table(cases, repeats: int) -> list[str]:
    lines = ["Compute only: forward + backward, one process (ms; "
             f"{repeats} runs each, interleaved)", "",
             "| case | how | median | min | max | naive ÷ this (median) |",
             "|---|---|---:|---:|---:|---:|"]
    for label, expression, args, params, dout in cases:
        runs = {"naive loops (the assignment's)": lambda: naive(args, params, dout),
                "gradcalc's op (forward + vjp)": op_pass(expression, args, dout),
                "gradcalc.evaluate (whole engine)": engine_pass(expression, args, dout)}
        reference = runs["naive loops (the assignment's)"]()
        for how, run in runs.items():
            agree(run(), reference, f"{how} on {label}")
        times = {how: [] for how in runs}
        for _ in range(repeats):  # interleaved: a busy machine slows every row alike
            for how, run in runs.items():
                times[how] += timed(run, 1)
        base = statistics.median(times["naive loops (the assignment's)"])
        for how, spent in times.items():
            ms = [t * 1e3 for t in spent]
            lines.append(f"| {label} | {how} | {statistics.median(ms):,.2f} | {min(ms):,.2f} | "
                         f"{max(ms):,.2f} | {base / statistics.median(spent):,.1f} |")
    return lines


def timed_process(command: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (the child's user + system time) of `command`, each run from
    scratch: on a shared machine the CPU time is the steadier figure."""
    walls, cpus = [], []
    for _ in range(repeats):
        with open(os.devnull, "w") as sink:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            walls.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{command[:3]} exited {os.waitstatus_to_exitcode(status)}")
        cpus.append(usage.ru_utime + usage.ru_stime)
    return walls, cpus


def end_to_end(cases, repeats: int, python: str) -> list[str]:
    lines = ["End to end: `gradcalc eval EXPR --bindings FILE.json --upstream DOUT --json`, "
             f"a fresh process each time (ms; {repeats} runs)", "",
             "| run | wall: median | min | max | CPU: median | min |",
             "|---|---:|---:|---:|---:|---:|"]
    script = os.path.join(os.path.dirname(python), "gradcalc")
    command = [script] if os.path.exists(script) else [python, "-m", "gradcalc"]
    runs = [("python -c 'import numpy'", [python, "-c", "import numpy"]),
            ("gradcalc eval x x=[1] --json (start-up with numpy)",
             command + ["eval", "x", "x=[1]", "--json"])]
    with tempfile.TemporaryDirectory() as folder:
        for k, (label, expression, args, params, dout) in enumerate(cases):
            path = os.path.join(folder, f"bindings{k}.json")
            with open(path, "w") as file:
                json.dump(dict(zip("xwb", (a.tolist() for a in args))), file)
            run = command + ["eval", expression, "--bindings", path, "--upstream",
                             json.dumps(dout.tolist()), "--json"]
            document = json.loads(subprocess.run(run, capture_output=True, text=True,
                                                 check=True).stdout)
            agree((np.array(document["value"]),
                   [np.array(document["gradients"][name]) for name in "xwb"[:len(args)]]),
                  naive(args, params, dout), f"gradcalc eval on {label}")
            runs.append((label, run))
        for label, run in runs:
            walls, cpus = (sorted(t * 1e3 for t in times) for times in timed_process(run, repeats))
            lines.append(f"| {label} | {statistics.median(walls):,.0f} | {walls[0]:,.0f} | "
                         f"{walls[-1]:,.0f} | {statistics.median(cpus):,.0f} | {cpus[0]:,.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose gradcalc runs end to end")
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = []
    for label, expression, shapes, params in CASES:
        args = [rng.normal(size=shape) for shape in shapes]
        out = (conv_forward_naive(*args, params) if len(args) == 3 else
               max_pool_forward_naive(args[0], params))[0]
        cases.append((label, expression, args, params, rng.normal(size=out.shape)))
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} "
          f"CPUs, {platform.system()} {platform.machine()}\n")
    print("\n".join(compute_table(cases, options.repeats)))
    print()
    print("\n".join(end_to_end(cases[:2], options.repeats, options.python)))


if __name__ == "__main__":
    main()
