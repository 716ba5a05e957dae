"""`mltools kill` against real child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from mltools.errors import ExitCode
from mltools.files.kill import find_processes, parse_signal
from tests.conftest import mltools_env, read_line, usage_error, wait_exec

SLEEPER = "import time, sys; time.sleep(600)"
STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGUSR1, lambda *a: print('usr1', flush=True))\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(0.05)\n"
)


@pytest.fixture
def spawn() -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(code: str = SLEEPER, *marker: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *marker], stdout=subprocess.PIPE, text=True
        )
        procs.append(wait_exec(proc))  # found by its command line: once exec has set it
        if "ready" in code:
            assert read_line(proc.stdout).strip() == "ready"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def marker() -> str:
    return f"mltools-test-{uuid.uuid4().hex}"


def test_preview_does_not_signal(cli, spawn, marker):
    procs = [spawn(SLEEPER, marker) for _ in range(2)]
    result = cli("kill", marker, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["dry_run"] is True
    assert sorted(m["pid"] for m in out["matched"]) == sorted(p.pid for p in procs)
    assert all(marker in m["cmdline"] and m["age_seconds"] >= 0 for m in out["matched"])
    assert all(p.poll() is None for p in procs)
    table = cli("kill", marker)
    assert str(procs[0].pid) in table.stdout and "--yes" in table.stderr


def test_yes_terminates(cli, spawn, marker):
    proc = spawn(SLEEPER, marker)
    result = cli("kill", marker, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["terminated"] == [proc.pid] and out["killed"] == []
    assert proc.wait(timeout=10) == -signal.SIGTERM


def test_stubborn_process_gets_sigkill_after_grace(cli, spawn, marker):
    proc = spawn(STUBBORN, marker)
    result = cli("kill", marker, "--yes", "--grace", "0.3", "--json")
    out = json.loads(result.stdout)
    assert out["killed"] == [proc.pid] and out["terminated"] == []
    assert proc.wait(timeout=10) == -signal.SIGKILL


def test_non_terminating_signal_is_not_escalated(cli, spawn, marker):
    proc = spawn(STUBBORN, marker)
    out = json.loads(cli("kill", marker, "--yes", "-s", "USR1", "--grace", "0.1", "--json").stdout)
    assert out["signalled"] == [proc.pid]
    assert read_line(proc.stdout).strip() == "usr1"
    assert proc.poll() is None


def test_subprocess_kill_of_foreign_children(run_mltools, spawn, marker):
    # the targets are children of pytest, not of mltools: they linger as zombies until
    # reaped, and mltools must count a zombie as ended rather than wait for it
    procs = [spawn(SLEEPER, marker) for _ in range(3)]
    out = run_mltools("kill", marker, "--yes", "--json", "--grace", "5")
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)["terminated"]) == sorted(p.pid for p in procs)
    assert [p.wait(timeout=10) for p in procs] == [-signal.SIGTERM] * 3


def test_regex_and_user_filter(cli, spawn, marker):
    proc = spawn(SLEEPER, marker, "epoch=42")
    out = json.loads(cli("kill", rf"{marker} epoch=\d+$", "--regex", "--json").stdout)
    assert [m["pid"] for m in out["matched"]] == [proc.pid]
    assert cli("kill", rf"{marker} epoch=\d+$", "--json").exit_code == ExitCode.UNAVAILABLE
    import getpass

    mine = json.loads(cli("kill", marker, "--user", getpass.getuser(), "--json").stdout)
    assert [m["pid"] for m in mine["matched"]] == [proc.pid]
    none = cli("kill", marker, "--user", "no-such-user-xyz")
    assert none.exit_code == ExitCode.USAGE  # the user is named, not "no process matches"
    assert "no such user: 'no-such-user-xyz'" in none.stderr
    by_uid = json.loads(cli("kill", marker, "--user", str(os.getuid()), "--json").stdout)
    assert [m["pid"] for m in by_uid["matched"]] == [proc.pid]


def test_never_matches_itself_or_parents(run_mltools, marker):
    out = run_mltools("kill", marker, "--yes")
    assert out.returncode == ExitCode.UNAVAILABLE  # only mltools itself has the marker
    shell = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m mltools kill {marker} --yes; echo survived"],
        capture_output=True,
        text=True,
        timeout=60,
        env=mltools_env(),
    )
    assert shell.stdout.strip() == "survived"
    assert "no process matches" in shell.stderr


def test_pid_one_never_matches():
    with open("/proc/1/cmdline", "rb") as f:
        cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    if not cmdline:
        pytest.skip("pid 1 has no command line here")
    assert 1 not in {p.pid for p in find_processes(cmdline)}


def test_bad_inputs(cli):
    usage_error(cli("kill", "x", "--signal", "NOPE"), "unknown signal 'NOPE'")
    usage_error(cli("kill", "(", "--regex"), "bad regex '(': missing )")
    usage_error(cli("kill", ""), "empty pattern would match every process")
    assert parse_signal("9") == signal.SIGKILL and parse_signal("term") == signal.SIGTERM
