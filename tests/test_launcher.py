"""mltools.launcher.run_child: output passed through, shell exit codes, signals forwarded."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mltools.launcher import EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, find_command, run_child
from tests.conftest import mltools_env


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_streams_pass_through_to_their_sinks_log_and_callback():
    out, err, log = io.BytesIO(), io.BytesIO(), io.BytesIO()
    lines: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on_line(stream: str, line: bytes) -> None:
        with lock:
            lines.append((stream, line))

    result = run_child(
        py("""
            import sys
            print("one", flush=True)
            print("oops", file=sys.stderr, flush=True)
            print("two", flush=True)
            sys.exit(3)
        """),
        stdout=out, stderr=err, log=log, on_line=on_line,
    )  # fmt: skip
    assert result.returncode == 3 and result.error is None and result.pid is not None
    assert out.getvalue() == b"one\ntwo\n"
    assert err.getvalue() == b"oops\n"
    assert sorted(log.getvalue().splitlines()) == [b"one", b"oops", b"two"]
    assert [x for x in lines if x[0] == "stdout"] == [("stdout", b"one\n"), ("stdout", b"two\n")]
    assert ("stderr", b"oops\n") in lines


def test_killed_by_a_signal_is_128_plus_n():
    result = run_child(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert result.returncode == 128 + signal.SIGKILL


def test_not_found_is_127_and_not_executable_is_126(tmp_path: Path):
    result = run_child(["mltools-no-such-command-xyz"])
    assert result.returncode == EXIT_NOT_FOUND == 127
    assert result.error == "command not found: mltools-no-such-command-xyz"
    assert result.pid is None
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = run_child([str(script)])
    assert result.returncode == EXIT_NOT_EXECUTABLE == 126
    assert result.error == f"permission denied: {script}"
    assert find_command("mltools-no-such-command-xyz") is None
    assert find_command("sh") is not None


def test_env_and_cwd_reach_the_child(tmp_path: Path):
    out = io.BytesIO()
    result = run_child(
        py("import os; print(os.environ['MLTOOLS_X'], os.getcwd())"),
        env={**os.environ, "MLTOOLS_X": "42"},
        cwd=tmp_path,
        stdout=out,
    )
    assert result.returncode == 0
    assert out.getvalue().decode().split() == ["42", str(tmp_path.resolve())]


def test_a_full_log_stops_logging_only():
    class Full(io.BytesIO):
        def write(self, data):  # a disk that filled up
            raise OSError(28, "No space left on device")

    out = io.BytesIO()
    result = run_child(py("print('a'); print('b')"), stdout=out, log=Full())
    assert result.returncode == 0
    assert out.getvalue() == b"a\nb\n"
    assert result.log_error == "No space left on device"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signals_are_forwarded_and_the_shell_code_comes_back(tmp_path: Path, sig):
    """mltools (a real process with the signal policy installed) runs a child that says
    when it is ready and which signal it got; a SIGTERM/SIGHUP ends mltools with 128+N
    after the child is gone, a Ctrl-C returns the child's own code."""
    got = tmp_path / "got"
    child = textwrap.dedent(f"""
        import signal, sys, time
        def on(n, f):
            open({str(got)!r}, "w").write(str(n))
            sys.exit(100 + n)
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, on)
        print("ready", flush=True)
        while True:
            time.sleep(1)
    """)
    driver = textwrap.dedent(f"""
        import sys
        from mltools import _signals
        from mltools.launcher import run_child
        _signals.install()
        try:
            r = run_child([sys.executable, "-c", {child!r}], stdout=sys.stdout.buffer)
        except KeyboardInterrupt as exc:
            print("raised", getattr(exc, "signum", None), flush=True)
            sys.exit(128 + exc.signum)
        print("returned", r.returncode, r.interrupted_by, flush=True)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True,
        env=mltools_env(), start_new_session=True,  # not the terminal's foreground group
    )  # fmt: skip
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert got.read_text() == str(int(sig))  # the child got exactly our signal
    if sig == signal.SIGINT:
        assert rest == f"returned {100 + sig} {int(sig)}\n"
        assert proc.returncode == 0
    else:
        assert rest == f"raised {int(sig)}\n"
        assert proc.returncode == 128 + sig
