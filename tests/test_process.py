"""The process as a shell or a script sees it: a closed pipe, Ctrl-C, unreadable and binary
input, arguments that are not UTF-8, output files written whole, and plain text (no
colour codes) for NO_COLOR and for output that is not a terminal.

These run `python -m gradcalc` in a subprocess, the way a user runs it, so that exit codes,
signals and what reaches the terminal are the real ones."""
import os
import pty
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import read_terminal
from gradcalc import files
from gradcalc.errors import UsageError

GRADCALC = [sys.executable, "-m", "gradcalc"]


def environment(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(changes)
    return env


def run(*args, input=None, **kwargs):
    return subprocess.run([*GRADCALC, *args], input=input, capture_output=True, timeout=60,
                          env=environment(), **kwargs)


def assert_one_error(done, *fragments):
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    assert stderr.startswith("error: ") and stderr.count("error:") == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)


# -- a closed pipe ------------------------------------------------------------------------
BIG = "+".join(f"x*{i}" for i in range(3000))  # a JSON document of ~1 MB
TABLE = "+".join(f"x*{i}" for i in range(500))  # 1,500 rows: laid out by gradcalc
RICH_TABLE = "+".join(f"x*{i}" for i in range(300))  # 900 rows: by Rich, slowly


@pytest.mark.parametrize("program,mode", [(TABLE, ["--all"]), (RICH_TABLE, ["--all"]),
                                          (BIG, ["--json"]),
                                          (BIG, ["--steps", "--format", "markdown"])],
                         ids=["table", "rich-table", "json", "markdown"])
def test_a_closed_pipe_ends_quietly(program, mode):
    """`gradcalc ... | head -c 100`: the reader goes away; no traceback, no "Exception
    ignored", and exit code 0 (not 1, which means a failed check): the reader has what
    it wanted."""
    process = subprocess.Popen([*GRADCALC, "eval", program, "x=2", *mode],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment())
    assert len(process.stdout.read(100)) == 100
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == ""


def test_a_closed_pipe_under_the_shell_is_not_a_failure():
    shell = f"{' '.join(GRADCALC)} eval '{TABLE}' x=2 --all | head -c 10 >/dev/null; " \
            'echo "${PIPESTATUS[0]}" >&2'
    done = subprocess.run(["bash", "-c", shell], capture_output=True, timeout=60,
                          env=environment())
    assert done.stderr.decode().split() == ["0"]  # Rich's own handling said 1


# -- Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_is_one_line_and_exit_code_130():
    # waiting for a program on standard input that never comes
    process = subprocess.Popen([*GRADCALC, "eval", "-", "x=1"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment())
    time.sleep(2)  # let it start and block on the read
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.decode() == "gradcalc: interrupted\n" and stdout == b""


# -- input that is not a program ------------------------------------------------------------
def test_a_directory(tmp_path):
    assert_one_error(run("eval", f"@{tmp_path}", "x=1"), "is a directory")


def test_a_missing_file(tmp_path):
    assert_one_error(run("eval", f"@{tmp_path / 'nope.gc'}", "x=1"), "no such file")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc")
def test_an_unreadable_file():
    # /proc/self/mem opens, but reading at offset 0 fails (EIO) even for root
    assert_one_error(run("eval", "@/proc/self/mem", "x=1"), "cannot read /proc/self/mem")


def test_a_file_without_permission(tmp_path, monkeypatch, gradcalc_cli):
    path = tmp_path / "secret.gc"
    path.write_text("x")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make open() refuse as it would
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(files, "open", refuse, raising=False)
    ran = gradcalc_cli("eval", f"@{path}", "x=1")
    assert ran.code == 2 and "Permission denied" in ran.stderr and "permissions" in ran.stderr


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_invalid_utf8(tmp_path, source):
    data = b"x + 1\ny * \xff\xfe"
    path = tmp_path / "latin.gc"
    path.write_bytes(data)
    done = run("eval", f"@{path}", "x=1", "y=2") if source == "file" \
        else run("eval", "-", "x=1", "y=2", input=data)
    assert_one_error(done, "not UTF-8", "line 2, column 5")


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_nul_bytes(tmp_path, source):
    data = b"x +\x00 1"
    path = tmp_path / "binary.gc"
    path.write_bytes(data)
    done = run("eval", f"@{path}", "x=1") if source == "file" \
        else run("eval", "-", "x=1", input=data)
    assert_one_error(done, "NUL byte", "line 1, column 4")


def test_arguments_that_are_not_utf8():
    done = subprocess.run([*GRADCALC, "eval", b"x*\xff", "x=1", "--json"],
                          capture_output=True, timeout=60, env=environment())
    assert_one_error(done, "argument 2", "not UTF-8")
    assert b'"kind": "usage"' in done.stdout


def test_control_characters_in_the_source_are_not_sent_to_the_terminal():
    done = run("eval", "x + \x1b[2J", "x=1")
    assert_one_error(done, "unexpected character")
    assert b"\x1b" not in done.stderr


# -- output files ---------------------------------------------------------------------------
def test_graph_output_replaces_the_file_whole(tmp_path):
    target = tmp_path / "circuit.dot"
    target.write_text("old picture")
    target.chmod(0o640)
    done = run("graph", "(x+y)*z", "x=-2", "y=5", "z=-4", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_text().startswith("digraph")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the file's mode is kept
    assert [p.name for p in tmp_path.iterdir()] == ["circuit.dot"]  # no temporary left


def test_a_failed_run_leaves_the_old_file(tmp_path):
    target = tmp_path / "circuit.dot"
    target.write_text("old picture")
    done = run("graph", "log(x)", "x=-1", "-o", str(target))
    assert done.returncode == 2 and target.read_text() == "old picture"


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.svg"
    target.write_text("old")

    def fail(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(UsageError, match="No space left on device"):
        files.write_atomically(str(target), b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.svg"]


def test_writing_through_a_symbolic_link_keeps_the_link(tmp_path):
    real = tmp_path / "real.dot"
    real.write_text("old")
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    files.write_atomically(str(link), b"new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_new_file_gets_the_usual_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        files.write_atomically(str(tmp_path / "new.dot"), b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.dot").stat().st_mode) == 0o644


def test_a_device_is_written_directly():
    files.write_atomically(os.devnull, b"nothing")  # no temporary file next to /dev/null
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_output_into_a_directory_is_an_error(tmp_path):
    assert_one_error(run("graph", "x*y", "x=1", "y=2", "--format", "dot", "-o", str(tmp_path)),
                     f"cannot write {tmp_path}")


# -- colour: only for a terminal, and never under NO_COLOR -----------------------------------
_SGR = re.compile(rb"\x1b\[([0-9;]*)m")


def colours(data: bytes) -> set[str]:
    """The colour parameters of the terminal escape codes in `data` (not bold or reset)."""
    found = set()
    for match in _SGR.finditer(data):
        for code in match.group(1).decode().split(";"):
            if code and (30 <= int(code) <= 49 or 90 <= int(code) <= 107):
                found.add(code)
    return found


def on_a_terminal(*args, **env) -> bytes:
    """Run with standard output and error on a pseudo-terminal; what it shows."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*GRADCALC, *args], stdout=follower, stderr=follower,
                               stdin=subprocess.DEVNULL,
                               env=environment(TERM="xterm-256color", COLUMNS="100", **env))
    os.close(follower)
    shown = read_terminal(leader, 30)
    process.wait(timeout=30)
    os.close(leader)
    return shown


LECTURE = ["eval", "(x+y)*z", "x=-2", "y=5", "z=-4"]


def test_a_terminal_gets_colour():
    assert colours(on_a_terminal(*LECTURE))  # so the tests below can fail


def test_no_color_gives_plain_text_on_a_terminal():
    # Plain: no escape code at all, bold and italic included (Rich alone keeps those).
    assert _SGR.search(on_a_terminal(*LECTURE, "--steps"))  # so the test below can fail
    shown = on_a_terminal(*LECTURE, "--steps", NO_COLOR="1")
    assert "(x+y)*z (output)" in shown.decode() and b"\x1b" not in shown
    shown = on_a_terminal("check", "(x+y)*z", "x=-2", "y=5", "z=-4", NO_COLOR="1")
    assert "check passed" in shown.decode() and b"\x1b" not in shown


@pytest.mark.parametrize("args", [LECTURE, ["functions"],
                                  ["check", "relu(x)", "x=1e-9"],
                                  ["eval", "max(x, y)", "x=1", "y=1", "--steps"]],
                         ids=["eval", "functions", "check", "warnings and steps"])
def test_output_that_is_not_a_terminal_has_no_escape_codes(args):
    done = run(*args)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout + done.stderr


def test_errors_are_plain_text_on_a_terminal():
    shown = on_a_terminal("eval", "log(x)", "x=-1")
    assert shown.decode().startswith("error: log is defined") and b"\x1b" not in shown


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_output_is_utf8_whatever_the_locale(encoding):
    """JSON must be UTF-8 (RFC 8259); the table's ∂ and a σ must print under any locale."""
    for args in (["eval", "(x+y)*σ", "x=1", "y=2", "σ=3"],
                 ["eval", "(x+y)*σ", "x=1", "y=2", "σ=3", "--json"],
                 ["eval", "log(σ)", "σ=-1"]):
        done = subprocess.run([*GRADCALC, *args], capture_output=True, timeout=60,
                              env=environment(PYTHONIOENCODING=encoding))
        assert done.returncode in (0, 2), done.stderr
        text = (done.stdout + done.stderr).decode("utf-8")
        assert "σ" in text and "internal error" not in text
