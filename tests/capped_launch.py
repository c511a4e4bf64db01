"""Run `python -m gradcalc ARGS` as a child of this small process, and report its peak memory.

Usage: python capped_launch.py REPORT MEMORY CLOSE_STDOUT CLOSE_STDIN ARGS...

Linux keeps a process's peak resident memory across fork and exec, so a child forked
straight from the test process (hundreds of MB by the end of a suite) would report the
test process's peak, not its own. Forked from this launcher instead, gradcalc starts from
a few MB. The launcher caps the child's address space, passes its signals on, writes the
child's peak memory (bytes) to REPORT and ends as the child did.
"""
import os
import resource
import signal
import sys

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGXCPU, signal.SIGQUIT)


def main() -> None:
    report, memory, close_stdout, close_stdin, *args = sys.argv[1:]
    child = os.fork()
    if child == 0:
        resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if close_stdout == "1":
            os.close(1)
        if close_stdin == "1":
            os.close(0)
        os.execv(sys.executable, [sys.executable, "-m", "gradcalc", *args])
    for number in FORWARDED:
        signal.signal(number, lambda received, frame: os.kill(child, received))
    _, status, usage = os.wait4(child, 0)
    with open(report, "w") as handle:
        handle.write(str(usage.ru_maxrss * 1024))  # kilobytes on Linux
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
