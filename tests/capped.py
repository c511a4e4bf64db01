"""`gradcalc ARGS` in a child process capped in memory and time, with what it really used.

The bounds that gradcalc promises (README, "Limits and guarantees") are about the whole
process, so they are measured on one: the child's address space is capped with
setrlimit (a runaway allocation fails there, not on the machine running the tests), and
its peak resident memory comes from wait4's rusage, for that child alone (taken by a small
launcher, tests/capped_launch.py, since Linux carries a peak across fork and exec). The bounds the
tests assert are generous, so that two shared cores in CI stay green.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

GRADCALC = [sys.executable, "-m", "gradcalc"]
MEMORY_CAP = 3 << 30  # address space of the child: past it, allocations fail


class Capped:
    """What the child did: exit code, its output as text, wall time and peak memory."""

    def __init__(self, code: int, stdout: bytes, stderr: bytes, seconds: float, peak: int):
        self.code = code
        self.stdout = stdout.decode("utf-8")  # output is always UTF-8: this checks it
        self.stderr = stderr.decode("utf-8")
        self.seconds = seconds
        self.peak = peak  # bytes of resident memory at most

    def json(self):
        def reject(token):
            raise ValueError(f"non-standard JSON token {token}")
        return json.loads(self.stdout, parse_constant=reject)

    def __repr__(self):
        return (f"Capped(code={self.code}, seconds={self.seconds:.1f}, "
                f"peak={self.peak >> 20} MB, stderr={self.stderr[:400]!r})")


LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capped_launch.py")


def run_capped(*args, stdin: bytes | None = b"", memory: int = MEMORY_CAP,
               timeout: float = 120, stdout=subprocess.PIPE, signal_after=None,
               cwd=None, stdin_closed: bool = False) -> Capped:
    """Run `gradcalc ARGS` capped at `memory` bytes; `signal_after` = (seconds, signal)
    sends a signal mid-run; `stdout="closed"` starts it with no standard output (`>&-`),
    `stdin_closed` with no standard input (`<&-`).
    A child still running at `timeout` is killed (code -9)."""
    closed = stdout == "closed"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # no thread-sized arenas
    start = time.monotonic()
    report = tempfile.NamedTemporaryFile(prefix="peak.", delete=False)  # noqa: SIM115
    report.close()
    launch = [sys.executable, LAUNCHER, report.name, str(memory), str(int(closed)),
              str(int(stdin_closed)), *args]
    process = subprocess.Popen(launch, stdin=subprocess.PIPE, stdout=None if closed else stdout,
                               stderr=subprocess.PIPE, env=env, cwd=cwd,
                               start_new_session=True)  # a timeout kills both processes
    if signal_after is not None:
        seconds, number = signal_after
        try:
            process.communicate(stdin, timeout=seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(number)
        stdin = None
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    seconds = time.monotonic() - start
    with open(report.name) as handle:
        peak = int(handle.read() or 0)
    os.unlink(report.name)
    return Capped(process.returncode, out or b"", err, seconds, peak)
