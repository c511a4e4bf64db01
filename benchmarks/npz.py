"""The softmax classifier's loss and dW, file to file, at CS231n's dev-set size: `gradcalc
eval ... --bindings dev.npz --wrt W -o grads.npz` beside the numpy script a student writes.

    python benchmarks/npz.py                # 15 runs of each row, about a minute
    python benchmarks/npz.py --repeats 5    # a quicker look
    python benchmarks/npz.py --baseline /tmp/old/cli   # beside an older commit

The data are assignment 1's dev set in shape: X 500×3073 (3072 pixels and a column of
ones for the bias), W 3073×10 (0.0001 × randn, as the assignment starts it) and y 500
labels of 10 classes, float64 and int64 in one np.savez file. Each row is a whole process,
start to exit, and the rows take turns, so that a busy machine slows each alike:

- gradcalc CLI: `gradcalc eval "cross_entropy(X@W, y) + 0.5*sum(W*W)" --bindings dev.npz
  --wrt W -o grads.npz`;
- gradcalc API: a script that reads the file with np.load, calls gradcalc.evaluate and
  saves the value and dW with np.savez;
- numpy by hand: the same with the assignment's softmax_loss_vectorized (reg = 0.5);
- gradcalc --json: the CLI printing the JSON document of every node instead (to
  /dev/null; fewer runs, it takes seconds);
- python -c "import numpy": the floor that every row but --json pays;
- with `--baseline FOLDER`, the three gradcalc rows again from the gradcalc package in
  FOLDER (an older commit: `git archive COMMIT cli | tar -x -C /tmp/old` gives
  /tmp/old/cli), in the same turns: before and after on the same load.

Every process reads bytecode compiled by a first, untimed run (PYTHONPYCACHEPREFIX, a
temporary folder), as from an installed package: an editable install with
PYTHONDONTWRITEBYTECODE set would compile gradcalc at every start. Then the same two
routes stage by stage, in fresh processes: where the time goes. Every answer is checked
against the numpy script's (1e-9) before anything is printed. These are measurements,
not tests.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

EXPR = "cross_entropy(X@W, y) + 0.5*sum(W*W)"

# The assignment's vectorized softmax loss, as the tests hold gradcalc to it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_check_tensor_exercises import softmax_loss_vectorized  # noqa: E402

SOFTMAX_LOSS = "\n" + inspect.getsource(softmax_loss_vectorized)

BY_HAND = "import sys\nimport numpy as np\n" + SOFTMAX_LOSS + """
with np.load(sys.argv[1]) as data:
    X, W, y = data["X"], data["W"], data["y"]
loss, dW = softmax_loss_vectorized(W, X, y, 0.5)
np.savez(sys.argv[2], value=loss, W=dW)
"""

API = f"""
import sys
import numpy as np
import gradcalc

with np.load(sys.argv[1]) as data:
    arrays = dict(data)
result = gradcalc.evaluate({EXPR!r}, arrays, wrt=["W"])
np.savez(sys.argv[2], value=result.value, W=result.gradients["W"])
"""

# Each route again, with the clock read between its stages: (stage names, script).
MARK = "marks.append(time.perf_counter())\n"
STAGES = {
    "gradcalc CLI": (
        ["import numpy", "import the CLI (Click, gradcalc)", "read dev.npz",
         "parse, lower, forward, backward", "write grads.npz", "the summary line"],
        "import json, sys, time\nmarks = [time.perf_counter()]\nimport numpy\n" + MARK +
        "import gradcalc.cli\n" + MARK +
        "from gradcalc import api, render\n"
        "from gradcalc.arrayfiles import read_npz, write_npz\n"
        "raw = read_npz(sys.argv[1])\n" + MARK +
        f"graph, xp, values, _ = api.prepare({EXPR!r}, raw)\n"
        "result = api.run_graph(graph, values, xp=xp, wrt=['W'], every_node=False)\n" + MARK +
        "write_npz(sys.argv[2], result)\n" + MARK +
        "render.summary(graph, result.run, 6, ['W'], 80)\n" + MARK +
        "print(json.dumps([b - a for a, b in zip(marks, marks[1:])]))\n"),
    "numpy by hand": (
        ["import numpy", "read dev.npz", "loss and dW", "write grads.npz"],
        "import json, sys, time\nmarks = [time.perf_counter()]\nimport numpy as np\n" +
        MARK + SOFTMAX_LOSS +
        "with np.load(sys.argv[1]) as data:\n"
        "    X, W, y = data['X'], data['W'], data['y']\n" + MARK +
        "loss, dW = softmax_loss_vectorized(W, X, y, 0.5)\n" + MARK +
        "np.savez(sys.argv[2], value=loss, W=dW)\n" + MARK +
        "print(json.dumps([b - a for a, b in zip(marks, marks[1:])]))\n"),
}


def dev_set(path: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.normal(scale=60.0, size=(500, 3072)), np.ones((500, 1))])
    np.savez(path, X=X, W=0.0001 * rng.normal(size=(3073, 10)), y=rng.integers(0, 10, 500))


def environment(cache: str) -> dict:
    """The children's environment: bytecode cached in `cache`, as an install leaves it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def timed_process(command: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds (the child's user + system time) of one run of `command`."""
    with open(os.devnull, "w") as sink:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:4]} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def agree(path: str, reference: str, what: str) -> None:
    with np.load(path) as got, np.load(reference) as expected:
        for name in ("value", "W"):
            if not np.allclose(got[name], expected[name], rtol=1e-9, atol=1e-12):
                raise SystemExit(f"{what}: {name} disagrees with the numpy script")


def agree_json(text: str, reference: str, what: str) -> None:
    document = json.loads(text)
    with np.load(reference) as expected:
        if not (np.isclose(document["value"], expected["value"], rtol=1e-9) and
                np.allclose(document["gradients"]["W"], expected["W"], rtol=1e-9,
                            atol=1e-12)):
            raise SystemExit(f"{what} disagrees with the numpy script")


NUMPY_ROW = "numpy by hand (softmax_loss_vectorized)"


def end_to_end(folder: str, python: str, repeats: int, json_repeats: int,
               baseline: str | None) -> list[str]:
    data = os.path.join(folder, "dev.npz")
    scripts = {}
    for name, text in (("by_hand.py", BY_HAND), ("api.py", API)):
        scripts[name] = os.path.join(folder, name)
        with open(scripts[name], "w") as file:
            file.write(text)
    gradcalc = os.path.join(os.path.dirname(python), "gradcalc")
    cli = [gradcalc] if os.path.exists(gradcalc) else [python, "-m", "gradcalc"]
    to_npz = ["eval", EXPR, "--bindings", data, "--wrt", "W", "-o"]
    to_json = ["eval", EXPR, "--bindings", data, "--wrt", "W", "--json"]
    env = environment(os.path.join(folder, "bytecode"))

    def out(key):
        return os.path.join(folder, f"{key}.npz")
    # (label, command, environment, what it writes: an .npz, "json" or None)
    rows = [(NUMPY_ROW, [python, scripts["by_hand.py"], data, out("numpy")], env, None),
            ("gradcalc CLI: eval ... -o grads.npz", cli + to_npz + [out("cli")], env,
             out("cli")),
            ("gradcalc API: gradcalc.evaluate", [python, scripts["api.py"], data, out("api")],
             env, out("api")),
            ('python -c "import numpy"', [python, "-c", "import numpy"], env, None),
            ("gradcalc CLI: eval ... --json", cli + to_json, env, "json")]
    if baseline:  # the same rows from the gradcalc package under `baseline`
        before = {**env, "PYTHONPATH": baseline}
        module = [python, "-m", "gradcalc"]
        rows += [("before: eval ... -o grads.npz", module + to_npz + [out("old-cli")], before,
                  out("old-cli")),
                 ("before: gradcalc.evaluate", [python, scripts["api.py"], data,
                                                out("old-api")], before, out("old-api")),
                 ("before: eval ... --json", module + to_json, before, "json")]
    for label, command, environ, written in rows:  # untimed: compiles the bytecode
        done = subprocess.run(command, env=environ, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{label} failed: {done.stderr.strip()[-300:]}")
        if written == "json":
            agree_json(done.stdout, out("numpy"), label)
        elif written:
            agree(written, out("numpy"), label)
    times = {label: [] for label, *_ in rows}
    for turn in range(repeats):
        for label, command, environ, written in rows:
            if written != "json" or turn < json_repeats:
                times[label].append(timed_process(command, environ))
    base = [wall for wall, _ in times[NUMPY_ROW]]
    base_cpu = statistics.median(c for _, c in times[NUMPY_ROW])
    lines = [f"End to end, a fresh process each run (ms; {repeats} runs each, in turns; "
             f"--json: {json_repeats}). CPU is the process's user + system time, the "
             "steadier figure on a shared machine.", "",
             "| run | wall: median | min | max | CPU: median | ÷ numpy script: wall median "
             "| wall min | CPU median |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, measured in times.items():
        walls = [wall for wall, _ in measured]
        cpu = statistics.median(c for _, c in measured)
        lines.append(f"| {label} | {statistics.median(walls) * 1e3:,.0f} | "
                     f"{min(walls) * 1e3:,.0f} | {max(walls) * 1e3:,.0f} | {cpu * 1e3:,.0f} | "
                     f"{statistics.median(walls) / statistics.median(base):.2f}× | "
                     f"{min(walls) / min(base):.2f}× | {cpu / base_cpu:.2f}× |")
    return lines


def stages(folder: str, python: str, repeats: int) -> list[str]:
    data, out = os.path.join(folder, "dev.npz"), os.path.join(folder, "stages.npz")
    env = environment(os.path.join(folder, "bytecode"))
    lines = ["Where the time goes: each route again, the clock read between its stages "
             f"(ms; the minimum of {repeats} fresh processes)", "",
             "| route | stage | min |", "|---|---|---:|"]
    for route, (names, script) in STAGES.items():
        path = os.path.join(folder, "stages.py")
        with open(path, "w") as file:
            file.write(script)
        command = [python, path, data, out]
        runs = [json.loads(subprocess.run(command, env=env, capture_output=True, text=True,
                                          check=True).stdout) for _ in range(repeats + 1)]
        best = [min(run[k] for run in runs[1:]) for k in range(len(names))]  # 1st: compiles
        for stage, spent in zip(names, best):
            lines.append(f"| {route} | {stage} | {spent * 1e3:,.1f} |")
        lines.append(f"| {route} | total | {sum(best) * 1e3:,.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs of each row")
    parser.add_argument("--json-repeats", type=int, default=3, help="runs of the --json row")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose gradcalc runs (default: this one)")
    parser.add_argument("--baseline", metavar="FOLDER",
                        help="a folder holding another gradcalc package (an older commit's "
                             "cli/, from git archive), timed in the same turns as 'before'")
    options = parser.parse_args()
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} "
          f"CPUs, {platform.system()} {platform.machine()}\n")
    with tempfile.TemporaryDirectory() as folder:
        dev_set(os.path.join(folder, "dev.npz"))
        print("\n".join(end_to_end(folder, options.python, options.repeats,
                                   options.json_repeats, options.baseline)))
        print()
        print("\n".join(stages(folder, options.python, options.repeats)))


if __name__ == "__main__":
    main()
