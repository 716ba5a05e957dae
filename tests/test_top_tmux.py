"""`mltools top` in a real terminal: tmux runs it on the NVML double, keys are typed with
send-keys, the screen is read with capture-pane, and a real process of the test is killed.

top runs under a shell that prints its exit status and stays, so the test reads that
status and tmux's own flags for the pane (alternate screen, mouse, cursor) to check that
the terminal was restored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu
from tests._nvml_double import write_spec
from tests.ci_provides import require
from tests.conftest import mltools_env

spawn = _gpu_fixtures.spawn
pytestmark = pytest.mark.slow


class Tmux:
    """One private tmux server (its own socket) with one session running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "top")

    def flag(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", "top", f"#{{{name}}}").strip()

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "top", *keys)

    def wait(self, what: Callable[[], bool], timeout: float = 60.0) -> None:
        """Until ``what()`` holds (polls tmux, which has no event to wait on)."""
        deadline = time.monotonic() + timeout
        while not what():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the screen:\n{self.screen()}")
            time.sleep(0.05)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    require("tmux", "gcc")
    servers: list[Tmux] = []

    def start(spec: dict, *args: str, size: tuple[int, int] = (120, 40)) -> Tmux:
        spec_file = tmp_path / "spec.txt"
        write_spec(spec_file, spec)
        env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps({"spec_file": str(spec_file)})})
        env.pop("NO_COLOR", None)
        env["TERM"] = "xterm-256color"
        t = Tmux(
            f"mltools-top-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        )  # never a server being killed
        servers.append(t)
        # the server (and so every pane) gets the double's environment; the pane starts
        # as a placeholder so that remain-on-exit is set before top can exit
        subprocess.run(
            ["tmux", "-L", t.socket, "-f", "/dev/null", "new-session", "-d", "-s", "top",
             "-x", str(size[0]), "-y", str(size[1]), "sleep", "3600"],
            check=True, timeout=30, env=env,
        )  # fmt: skip
        t.run("set-option", "-t", "top", "remain-on-exit", "on")
        # a shell that outlives top: its exit status is printed, and the terminal's modes can
        # still be read from tmux afterwards (a dead pane reports its cursor as hidden)
        script = '"$@"; echo "top exited $?"; exec sleep 3600'
        t.run("respawn-pane", "-k", "-t", "top", "sh", "-c", script, "sh",
              sys.executable, _gpu_fixtures.FAKE_RUN, "top", *args)  # fmt: skip
        return t

    yield start
    for t in servers:
        t.run("kill-server")


def _top_pid(t: Tmux) -> int:
    import psutil

    (child,) = psutil.Process(int(t.flag("pane_pid"))).children()
    return child.pid


def _exit_status(t: Tmux) -> int:
    """Waits for top to end; its exit status, once the terminal was checked restored."""
    t.wait(lambda: "top exited " in t.screen())
    status = int(t.screen().split("top exited ")[1].split()[0])
    assert t.flag("alternate_on") == "0"  # left the alternate screen
    assert t.flag("mouse_any_flag") == "0" and t.flag("mouse_sgr_flag") == "0"
    assert t.flag("cursor_flag") == "1"  # the cursor is shown again
    assert "A100" not in t.screen()  # the UI is gone: the shell's screen is back
    return status


def test_sort_filter_tag_and_kill_a_real_process(tmux, spawn):
    keep, victim = spawn(), spawn()
    spec = {"gpus": [gpu(0, util_gpu=50, mem_used=30 * GiB, compute=[
        {"pid": keep.pid, "mem": 20 * GiB}, {"pid": victim.pid, "mem": 10 * GiB}]), gpu(1)]}  # fmt: skip
    t = tmux(spec, "--interval", "0.5")
    t.wait(lambda: str(victim.pid) in t.screen())
    screen = t.screen()
    assert screen.index(str(keep.pid)) < screen.index(str(victim.pid))  # GPU memory, descending
    t.keys("<")  # sort by the previous column: GPU, then ...
    t.wait(lambda: "sort GPU ▲" in t.screen())
    t.keys("/")
    t.wait(lambda: "filter: user:NAME" in t.screen())  # the filter line has the focus
    t.keys("-l", f"pid:{victim.pid}")
    t.keys("Enter")
    t.wait(lambda: str(keep.pid) not in t.screen() and f"filter pid:{victim.pid}" in t.screen())
    t.keys("Space")
    t.wait(lambda: f"*{victim.pid}" in t.screen())
    t.keys("T")
    t.wait(lambda: "Send SIGTERM to 1 process?" in t.screen())
    assert f"pid {victim.pid}" in t.screen() and f"pid {keep.pid}" not in t.screen()
    t.keys("y")
    assert victim.wait(timeout=30) == -signal.SIGTERM
    t.wait(lambda: "SIGTERM sent to 1" in t.screen())
    assert keep.poll() is None
    t.keys("q")
    assert _exit_status(t) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signals_restore_the_terminal_and_exit_128_plus_n(tmux, sig):
    t = tmux({"gpus": [gpu(0)]})
    t.wait(lambda: "0 A100" in t.screen())
    os.kill(_top_pid(t), sig)
    assert _exit_status(t) == 128 + sig


def test_ctrl_c_quits_with_130(tmux):
    t = tmux({"gpus": [gpu(0)]})
    t.wait(lambda: "0 A100" in t.screen())
    t.keys("C-c")
    assert _exit_status(t) == 130
