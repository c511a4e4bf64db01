"""gradcalc beside its peers: cold start, the engine on big graphs, text to --json at scale.

    python benchmarks/run.py            # the tables in benchmarks/README.md
    python benchmarks/run.py --quick    # smaller sizes and fewer repeats

Every measurement runs in a fresh process (a worker: this file with --worker), which
reports its times and its peak resident memory; the tables give the median, min and max
of the repeats, a ratio, and the peak memory. Peers (micrograd, PyTorch, SymPy, JAX) are
measured where they are installed and skipped with a note where not; none of them is a
dependency of gradcalc. These are measurements, not tests: nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LECTURE = ["eval", "(x+y)*max(z,w)", "x=-2", "y=5", "z=-4", "w=1"]
SHAPES = ("sum", "tanh")

# The lecture's circuit, computed by each peer as a fresh process would.
COLD_SCRIPTS = {
    "sympy": "import sympy as s; x,y,z,w=s.symbols('x y z w'); f=(x+y)*s.Max(z,w); "
             "v={x:-2,y:5,z:-4,w:1}; print(f.subs(v), [s.diff(f,a).subs(v) for a in (x,y,z,w)])",
    "torch": "import torch; x,y,z,w=(torch.tensor(float(v),requires_grad=True) for v in "
             "(-2,5,-4,1)); f=(x+y)*torch.maximum(z,w); f.backward(); "
             "print(f.item(), x.grad, y.grad, z.grad, w.grad)",
    "jax": "import jax; f=lambda x,y,z,w:(x+y)*jax.numpy.maximum(z,w); "
           "print(jax.value_and_grad(f, argnums=(0,1,2,3))(-2.,5.,-4.,1.))",
    "micrograd": "from micrograd.engine import Value as V; x,y,z,w=V(-2.),V(5.),V(-4.),V(1.); "
                 "f=(x+y)*(w+(z+w*-1).relu()); f.backward(); "
                 "print(f.data, x.grad, y.grad, z.grad, w.grad)",
}
PEER_MODULES = {"sympy": "sympy", "torch": "torch", "jax": "jax", "micrograd": "micrograd"}
# Largest graph each peer is asked to do: SymPy (nested tanh above all) and unjitted JAX
# grow too slow for more. micrograd's recursive topological sort stops at depth ~1,000
# under Python's default recursion limit; the worker raises the limit for it.
PEER_LIMIT = {"micrograd": 100_000, "torch": 100_000, "sympy": 1_000, "jax": 10_000}
PEER_LIMIT_TANH = {"sympy": 100}


def source_of(shape: str, n: int) -> str:
    """About n nodes: a left-deep sum over ten inputs, or tanh nested n deep."""
    return "".join(source_pieces(shape, n))


def source_pieces(shape: str, n: int, piece: int = 10_000):
    """source_of's text a piece at a time. The runner writes its files this way: a child
    process's peak memory counts the pages it shared with its parent before exec, so the
    runner keeps its own memory small."""
    for start in range(0, n, piece):
        stop = min(n, start + piece)
        if shape == "sum":
            yield ("+" if start else "") + "+".join(f"x{i % 10}" for i in range(start, stop))
        else:
            yield "tanh(" * (stop - start)
    if shape == "tanh":
        yield "x0"
        for start in range(0, n, piece):
            yield ")" * (min(n, start + piece) - start)


BINDINGS = {f"x{k}": 0.5 + k / 10 for k in range(10)}


# -- workers: one measurement in a fresh process ------------------------------------

def worker(task: dict) -> dict:
    kind = task["kind"]
    if kind == "engine":
        setup, measured = _engine(task["tool"], task["shape"], task["n"])
    else:
        raise ValueError(kind)
    setup_peak = _peak_kb()
    times = []
    for _ in range(task["repeats"]):
        start = time.perf_counter()
        measured()
        times.append(time.perf_counter() - start)
    return {"times": times, "peak_kb": _peak_kb(), "setup_kb": setup_peak, "nodes": setup}


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _engine(tool: str, shape: str, n: int):
    """(node count, a function doing forward+backward once) for `tool` on a graph."""
    if tool in ("gradcalc", "baseline"):
        from gradcalc.arith import FloatArith
        from gradcalc.limits import Limits
        from gradcalc.lower import lower
        from gradcalc.parse import parse
        from gradcalc.run import backward, forward

        values = {k: v for k, v in BINDINGS.items() if shape == "sum" or k == "x0"}
        # The default limits stop at 10^5 deep and 10^6 nodes: a benchmark may go past them.
        limits = Limits(depth=n + 1, nodes=2 * n)
        graph = lower(parse(source_of(shape, n)), bound=set(values), limits=limits)
        if tool == "baseline":
            sys.path.insert(0, HERE)
            import baseline

            nodes = baseline.from_graph(graph, values)
            return len(nodes), lambda: baseline.forward_backward(nodes)
        xp = FloatArith()
        return len(graph.nodes), lambda: backward(graph, forward(graph, values, xp), xp)
    if tool == "micrograd":
        from micrograd.engine import Value

        if shape == "tanh":
            raise LookupError("micrograd has no tanh")
        sys.setrecursionlimit(n + 1_000)

        def run():
            xs = [Value(BINDINGS[f"x{k}"]) for k in range(10)]
            total = xs[0]
            for i in range(1, n):
                total = total + xs[i % 10]
            total.backward()
        return n + 9, run
    if tool == "torch":
        import torch

        def run():
            xs = [torch.tensor(BINDINGS[f"x{k}"], requires_grad=True) for k in range(10)]
            out = xs[0]
            for i in range(1, n) if shape == "sum" else range(n):
                out = out + xs[i % 10] if shape == "sum" else torch.tanh(out)
            out.backward()
        return n + (9 if shape == "sum" else 1), run
    if tool == "sympy":
        import sympy

        xs = sympy.symbols("x0:10")
        point = {x: BINDINGS[str(x)] for x in xs}

        def run():
            out = xs[0]
            for i in range(1, n) if shape == "sum" else range(n):
                out = out + xs[i % 10] if shape == "sum" else sympy.tanh(out)
            [sympy.diff(out, x).evalf(subs=point) for x in (xs if shape == "sum" else xs[:1])]
        return n + (9 if shape == "sum" else 1), run
    if tool == "jax":
        import jax

        def f(xs):
            out = xs[0]
            for i in range(1, n) if shape == "sum" else range(n):
                out = out + xs[i % 10] if shape == "sum" else jax.numpy.tanh(out)
            return out
        point = jax.numpy.array([BINDINGS[f"x{k}"] for k in range(10)])
        return n + (9 if shape == "sum" else 1), lambda: jax.grad(f)(point).block_until_ready()
    raise LookupError(f"unknown tool {tool}")


def run_worker(task: dict) -> dict | str:
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"failed: {last[:70]}"
    return json.loads(done.stdout)


# -- whole processes: cold start and text to --json -----------------------------------

def timed_process(command: list[str], repeats: int, stdin_file=None) -> dict:
    """Wall time and peak memory of `command` run `repeats` times, each from scratch."""
    times, peaks = [], []
    for _ in range(repeats):
        with open(os.devnull, "w") as sink:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL,
                                       stdin=stdin_file)
            _, status, usage = os.wait4(process.pid, 0)
            times.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) not in (0,):
            raise RuntimeError(f"{command[:3]} exited {os.waitstatus_to_exitcode(status)}")
        peaks.append(usage.ru_maxrss)
    return {"times": times, "peak_kb": max(peaks)}


def gradcalc_command(python: str) -> list[str]:
    script = os.path.join(os.path.dirname(python), "gradcalc")
    return [script] if os.path.exists(script) else [python, "-m", "gradcalc"]


# -- tables --------------------------------------------------------------------------

def row(label: str, tool: str, result, ratio: str = "", unit: float = 1e3, per: int = 1,
        memory_per: int = 0) -> str:
    if isinstance(result, str):
        return f"| {label} | {tool} | {result} | | | | |"
    times = [t / per * unit for t in result["times"]]
    def fmt(value: float) -> str:
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    memory = f"{result['peak_kb'] / 1024:,.0f} MB"
    if memory_per:
        grown = result["peak_kb"] - result.get("setup_kb", 0) if "setup_kb" in result else \
            result["peak_kb"]
        memory += f" ({grown * 1024 / memory_per:,.0f} B/node)"
    return (f"| {label} | {tool} | {fmt(statistics.median(times))} | {fmt(min(times))} | "
            f"{fmt(max(times))} | {ratio} | {memory} |")


def installed(module: str, python: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def cold_start(python: str, repeats: int) -> list[str]:
    lines = ["## Cold start: the lecture's circuit, a fresh process each time (ms)", "",
             "| run | tool | median | min | max | × python -c pass | peak memory |",
             "|---|---|---:|---:|---:|---:|---:|"]
    bare = timed_process([python, "-c", "pass"], repeats)
    base = statistics.median(bare["times"])
    lines.append(row("python -c pass", "—", bare, "1.00"))
    runs = [("eval --json", "gradcalc", gradcalc_command(python) + LECTURE + ["--json"]),
            ("eval (table)", "gradcalc", gradcalc_command(python) + LECTURE)]
    for tool, script in COLD_SCRIPTS.items():  # peers: in the interpreter running this
        if installed(PEER_MODULES[tool], sys.executable):
            runs.append(("value and gradients", tool, [sys.executable, "-c", script]))
        else:
            lines.append(f"| value and gradients | {tool} | not installed | | | | |")
    for label, tool, command in runs:
        result = timed_process(command, repeats)
        lines.append(row(label, tool, result, f"{statistics.median(result['times']) / base:.2f}"))
    return lines


def engine(sizes, repeats: int) -> list[str]:
    lines = ["## Engine: forward + backward over a built graph (ns per node)", "",
             "gradcalc runs its lowered graph; the baseline is benchmarks/baseline.py on the "
             "same node list;", "peers build and differentiate the same expression.", "",
             "| graph | tool | median | min | max | × baseline | peak memory |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for shape in SHAPES:
        for n in sizes:
            label = f"{shape}, N={n:,}"
            results = {}
            for tool in ("baseline", "gradcalc", "micrograd", "torch", "sympy", "jax"):
                limit = PEER_LIMIT_TANH.get(tool, PEER_LIMIT.get(tool)) if shape == "tanh" \
                    else PEER_LIMIT.get(tool)
                if limit is not None and (n > limit or not installed(tool, sys.executable)):
                    continue
                results[tool] = run_worker({"kind": "engine", "tool": tool, "shape": shape,
                                            "n": n, "repeats": repeats})
            base = results["baseline"]
            for tool, result in results.items():
                ratio = ""
                if not isinstance(result, str) and not isinstance(base, str):
                    ratio = statistics.median(result["times"]) / statistics.median(base["times"])
                    ratio = f"{ratio:.2f}"
                per = result["nodes"] if not isinstance(result, str) else 1
                lines.append(row(label, tool, result, ratio, unit=1e9, per=per))
    missing = [t for t in PEER_LIMIT if not installed(t, sys.executable)]
    if missing:
        lines += ["", f"Not installed here, so not measured: {', '.join(missing)}."]
    return lines


def end_to_end(python: str, sizes, repeats: int, output: str = "--json") -> list[str]:
    """Text to `output` (--json, or --all: the table with every row), a fresh process."""
    what = "--json" if output == "--json" else "the table with every row (--all)"
    lines = [f"## Text to {what}: `gradcalc eval @FILE ... {output}`, a fresh process "
             "(µs per node)",
             "", "| graph | nodes | median | min | max | time × previous size | peak memory |",
             "|---|---|---:|---:|---:|---:|---:|"]
    command = gradcalc_command(python)
    with tempfile.TemporaryDirectory() as folder:
        for shape in SHAPES:
            previous = None
            for n in sizes:
                path = os.path.join(folder, f"{shape}-{n}.txt")
                with open(path, "w", encoding="utf-8") as handle:
                    handle.writelines(source_pieces(shape, n))
                names = BINDINGS if shape == "sum" else {"x0": BINDINGS["x0"]}
                args = [f"{k}={v}" for k, v in names.items()]
                args += ["--max-depth", str(n + 1), "--max-nodes", str(2 * n),
                         "--max-source", str(os.path.getsize(path) + 1)]
                result = timed_process(command + ["eval", f"@{path}", *args, output],
                                       repeats if n < 10**6 else max(1, repeats // 2))
                median = statistics.median(result["times"])
                growth = f"{median / previous:.1f}" if previous else ""
                previous = median
                seconds = f" ({median:.2f} s)"
                lines.append(row(f"{shape}", f"{n:,}", result, growth + seconds, unit=1e6,
                                 per=n, memory_per=n))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose gradcalc to start (default: this one)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        print(json.dumps(worker(json.loads(options.worker))))
        return
    quick = options.quick
    sizes = [10**3, 10**4] if quick else [10**3, 10**4, 10**5, 10**6]
    print(f"# gradcalc benchmarks — {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    sections = (lambda: cold_start(options.python, 5 if quick else 11),
                lambda: engine(sizes, 3),
                lambda: end_to_end(options.python, sizes, 1 if quick else 3),
                lambda: end_to_end(options.python, sizes[:3], 1 if quick else 3, "--all"))
    for section in sections:
        print("\n".join(section()), end="\n\n", flush=True)
    print("## Batch (benchmarks/batch.py)\n", flush=True)
    subprocess.run([sys.executable, os.path.join(HERE, "batch.py"),
                    "--points", "100000" if quick else "1000000"], check=True)


if __name__ == "__main__":
    main()
