"""gradcalc batch on 1,000,000 points of (x+y)*max(z,w) + sigmoid(x*w), beside numpy.

    python benchmarks/batch.py                  # both tables, two to three minutes
    python benchmarks/batch.py --points 100000  # a quicker look

Compute only: gradcalc's vectorized pass (the one `gradcalc batch` and `gradcalc.batch`
run, chunk by chunk, with its domain, kink and overflow checks) against the same
function's forward and backward written by hand in numpy: once as such a script is
usually written (all points at once), and once in gradcalc's chunks, which keep the
arrays in the CPU's cache. End to end: `gradcalc batch` on a CSV file and on a Parquet
file against the same job written by hand in one script (read, compute forward and
backward by hand, write), with polars, with pyarrow and with numpy's loadtxt/savetxt,
each in a fresh process, with its peak memory. These are measurements, not tests:
nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

EXPR = "(x+y)*max(z,w) + sigmoid(x*w)"
NAMES = ("x", "y", "z", "w")


def by_hand(x, y, z, w):
    """The forward and backward pass of EXPR written out in numpy, ties split as gradcalc
    splits them: (value, [∂f/∂x, ∂f/∂y, ∂f/∂z, ∂f/∂w])."""
    a = x + y
    m = np.maximum(z, w)
    s = 1 / (1 + np.exp(-(x * w)))
    value = a * m + s
    ds = s * (1 - s)
    dz = (z > w) + 0.5 * (z == w)
    return value, [m + ds * w, m, a * dz, a * (1 - dz) + ds * x]


def points(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    table = {name: rng.normal(size=n) for name in NAMES}
    table["w"][: n // 10] = table["z"][: n // 10]  # a tenth of the rows on max's tie
    return table


# -- compute only ---------------------------------------------------------------------

def compute_table(n: int, repeats: int) -> list[tuple]:
    from gradcalc.api import prepare
    from gradcalc.batching import Engine, chunk_size_for

    table = points(n)
    graph, _, _, _ = prepare(EXPR, {name: 0.0 for name in NAMES}, expand=True)
    engine = Engine(graph, {}, list(NAMES), "split")
    chunk = chunk_size_for(graph)

    def gradcalc_core():
        for start in range(0, n, chunk):
            part = {name: column[start:start + chunk] for name, column in table.items()}
            engine.run(part, len(part["x"]))

    def numpy_whole():
        by_hand(*(table[name] for name in NAMES))

    def numpy_chunked():
        for start in range(0, n, chunk):
            by_hand(*(table[name][start:start + chunk] for name in NAMES))

    def gradcalc_api():
        import gradcalc
        gradcalc.batch(EXPR, table)

    runs = {"numpy by hand, all points at once": numpy_whole,
            f"numpy by hand, in chunks of {chunk:,}": numpy_chunked,
            "gradcalc's vectorized pass": gradcalc_core,
            "gradcalc.batch (API, results gathered)": gradcalc_api}
    torch_run = _torch(table)
    if torch_run is not None:
        runs["PyTorch CPU autograd, all at once"] = torch_run
    times = {label: [] for label in runs}
    for _ in range(repeats):  # interleaved, so that a busy moment hits every row alike
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)

    value, grads = by_hand(*(table[name] for name in NAMES))
    import gradcalc
    result = gradcalc.batch(EXPR, table)
    differs = max(np.abs(result["value"] - value).max(),
                  *(np.abs(result[f"grad_{name}"] - g).max() for name, g in zip(NAMES, grads)))
    assert differs < 1e-12, f"gradcalc and numpy by hand disagree by {differs}"
    return [(label, statistics.median(t), min(t), max(t)) for label, t in times.items()]


def _torch(table):
    try:
        import torch
    except ImportError:
        return None
    tensors = {name: torch.from_numpy(column) for name, column in table.items()}

    def run():
        leaves = {name: t.clone().requires_grad_(True) for name, t in tensors.items()}
        x, y, z, w = (leaves[name] for name in NAMES)
        f = (x + y) * torch.maximum(z, w) + torch.sigmoid(x * w)
        f.sum().backward()
    return run


# -- end to end -----------------------------------------------------------------------

# Run in a fresh process; report wall time and peak memory (VmHWM: the process's own
# peak; ru_maxrss would also count its parent's at the fork).
WRAPPER = textwrap.dedent("""
    import os, re, resource, sys, time
    start = time.perf_counter()
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "gradcalc":
        from gradcalc.cli import main
        try:
            main(args)
        except SystemExit as exit:
            assert not exit.code, exit.code
    else:
        exec(open(kind).read(), {"__name__": "__main__", "ARGS": args})
    elapsed = time.perf_counter() - start
    try:
        peak = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1 if sys.platform
                                                                      != "darwin" else 1024)
    print(f"{elapsed} {peak}", file=sys.stderr)
""")

# The routes by hand, each in one process: read, compute the forward and backward pass
# by hand, write values and gradients beside the inputs.
BY_HAND = """
def by_hand(x, y, z, w):
    a = x + y
    m = np.maximum(z, w)
    s = 1 / (1 + np.exp(-(x * w)))
    ds = s * (1 - s)
    dz = (z > w) + 0.5 * (z == w)
    return {"value": a * m + s, "grad_x": m + ds * w, "grad_y": m, "grad_z": a * dz,
            "grad_w": a * (1 - dz) + ds * x}
"""

SCRIPTS = {
    "polars": BY_HAND + textwrap.dedent('''
        import polars as pl
        source, target = ARGS
        frame = pl.read_csv(source)
        answers = by_hand(*(frame[name].to_numpy() for name in "xyzw"))
        frame.with_columns(**answers).write_csv(target)
    '''),
    "pyarrow": BY_HAND + textwrap.dedent('''
        import pyarrow as pa
        import pyarrow.csv as pc
        source, target = ARGS
        table = pc.read_csv(source)
        answers = by_hand(*(table[name].to_numpy() for name in "xyzw"))
        for name, column in answers.items():
            table = table.append_column(name, pa.array(column))
        pc.write_csv(table, target)
    '''),
    "numpy": BY_HAND + textwrap.dedent('''
        source, target = ARGS
        x, y, z, w = np.loadtxt(source, delimiter=",", skiprows=1, unpack=True)
        answers = by_hand(x, y, z, w)
        np.savetxt(target, np.column_stack([x, y, z, w, *answers.values()]), fmt="%.17g",
                   delimiter=",", comments="", header="x,y,z,w," + ",".join(answers))
    '''),
}


def _read_back(path: str) -> np.ndarray:
    """A result file's columns x … grad_w as one float array (CSV or Parquet)."""
    import polars as pl

    frame = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path)
    return frame.select(pl.all().cast(pl.Float64)).to_numpy()


def end_to_end_table(n: int, repeats: int, directory: str) -> list[tuple]:
    import polars as pl

    source = os.path.join(directory, "points.csv")
    table = points(n, seed=1)
    with open(source, "w") as handle:  # as Python writes floats: the shortest round trip
        handle.write(",".join(NAMES) + "\n")
        rows = zip(*(table[name].tolist() for name in NAMES))
        handle.writelines(",".join(map(repr, row)) + "\n" for row in rows)
    parquet = os.path.join(directory, "points.parquet")
    pl.DataFrame(table).write_parquet(parquet)
    for name, script in SCRIPTS.items():
        with open(os.path.join(directory, f"{name}.py"), "w") as handle:
            handle.write("import numpy as np\n" + script)
    routes = {
        "gradcalc batch, CSV → CSV": ["gradcalc", "batch", EXPR, "-i", source, "-o",
                                      "gradcalc.csv"],
        "gradcalc batch, Parquet → Parquet": ["gradcalc", "batch", EXPR, "-i", parquet, "-o",
                                              "gradcalc.parquet"],
        "polars by hand, CSV → CSV": [os.path.join(directory, "polars.py"), source,
                                      "polars.csv"],
        "pyarrow by hand, CSV → CSV": [os.path.join(directory, "pyarrow.py"), source,
                                       "pyarrow.csv"],
        "numpy loadtxt/savetxt by hand (%.17g)": [os.path.join(directory, "numpy.py"),
                                                   source, "numpy.csv"],
    }
    times = {label: [] for label in routes}
    peaks = {label: [] for label in routes}
    for _ in range(repeats):
        for label, command in routes.items():  # interleaved: a busy moment hits all alike
            args = command[:-1] + [os.path.join(directory, command[-1])]
            done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True,
                                  text=True)
            if done.returncode:
                raise SystemExit(f"{label} failed:\n{done.stderr}")
            elapsed, peak = done.stderr.split()[-2:]
            times[label].append(float(elapsed))
            peaks[label].append(int(peak) / 1024)
    ours = _read_back(os.path.join(directory, "gradcalc.csv"))
    differs = max(np.abs(ours - _read_back(os.path.join(directory, command[-1]))).max()
                  for command in routes.values())
    assert differs < 1e-12, f"the files disagree by {differs}"
    rows = [(label, statistics.median(t), min(t), max(t), max(peaks[label]))
            for label, t in times.items()]
    return rows, differs, os.path.getsize(source), os.path.getsize(parquet)


# -- the report -----------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7, help="compute-only repeats")
    parser.add_argument("--file-repeats", type=int, default=3, help="end-to-end repeats")
    options = parser.parse_args()
    n = options.points
    print(f"{EXPR} at {n:,} points (4 inputs, float64); Python "
          f"{platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs\n")

    rows = compute_table(n, options.repeats)
    base, base_low = rows[0][1], rows[0][2]
    print(f"Compute only ({options.repeats} runs each, interleaved; on a busy machine the "
          "minimum is the steadiest figure):\n")
    print("| | median | min–max | ns per point (min) | ÷ numpy by hand: median | min |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, median, low, high in rows:
        print(f"| {label} | {median * 1e3:.1f} ms | {low * 1e3:.0f}–{high * 1e3:.0f} ms "
              f"| {low / n * 1e9:.0f} | {median / base:.2f}× | {low / base_low:.2f}× |")
    if not any(label.startswith("PyTorch") for label, *_ in rows):
        print("\n(PyTorch is not installed: its row is left out.)")

    with tempfile.TemporaryDirectory() as directory:
        rows, differs, size, parquet = end_to_end_table(n, options.file_repeats, directory)
    base, base_peak = rows[2][1], rows[2][4]
    print(f"\nEnd to end, file to file: a {size / 2**20:.0f} MB CSV (or the same points in a "
          f"{parquet / 2**20:.0f} MB Parquet file) in, values and gradients beside the inputs "
          f"out (median of {options.file_repeats}, fresh processes, interleaved):\n")
    print("| | median | min–max | peak memory | ÷ polars by hand: time | memory |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, median, low, high, peak in rows:
        print(f"| {label} | {median:.2f} s | {low:.2f}–{high:.2f} s | {peak:.0f} MB "
              f"| {median / base:.2f}× | {peak / base_peak:.2f}× |")
    print(f"\nThe files agree to {differs:.1g} (gradcalc's sigmoid takes the stable form "
          "for negative arguments, which rounds differently in the last digit).")

if __name__ == "__main__":
    main()
