"""Stack snapshots of live Python processes through py-spy (``py-spy dump --json``).

py-spy reads another process's memory with ptrace, so it needs permission to
attach: the same user (or root), a Yama ``ptrace_scope`` that allows it, and in
containers the ``SYS_PTRACE`` capability. Failures raise ``AttachError`` with
the fix spelled out rather than py-spy's raw backtrace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mltools import _children
from mltools._deps import install_hint
from mltools.errors import MissingDependencyError, MltoolsError

_CAP_SYS_PTRACE = 19
PTRACE_FIX = (
    "run as the same user as the job (or root); allow attaching with "
    "`sudo sysctl kernel.yama.ptrace_scope=0`; in a container start it with "
    "`--cap-add SYS_PTRACE` (docker) or add SYS_PTRACE to the pod's securityContext"
)


class AttachError(MltoolsError):
    """py-spy could not read a process's stacks (permission, exited, not Python)."""


@dataclass(frozen=True)
class Frame:
    """One Python frame: function name, file and line."""

    name: str
    filename: str
    line: int
    native: bool = False  # a C/C++ frame (``--native``): detail, never the user frame
    locals: tuple[tuple[str, str], ...] = ()  # ``--locals``: (name, py-spy's repr) pairs

    @property
    def where(self) -> str:
        return f"{Path(self.filename).name}:{self.line}"

    @property
    def locals_text(self) -> str:
        """'i=0, n=2' (each repr cut to 60 characters, the whole to 200); '' without locals."""
        parts = [f"{k}={v if len(v) <= 60 else v[:57] + '...'}" for k, v in self.locals]
        text = ", ".join(parts)
        return text if len(text) <= 200 else text[:197] + "..."

    def local(self, name: str) -> str | None:
        """The repr of local variable ``name`` (``--locals``), or None."""
        return next((v for k, v in self.locals if k == name), None)


@dataclass
class ThreadStack:
    """One thread's stack, innermost frame first (py-spy's order)."""

    thread_id: int
    thread_name: str | None
    os_thread_id: int | None
    active: bool
    owns_gil: bool
    frames: list[Frame] = field(default_factory=list)

    @property
    def python_frames(self) -> list[Frame]:
        """The Python frames only (``--native`` adds C frames in between)."""
        return [f for f in self.frames if not f.native]

    @property
    def native_frames(self) -> list[Frame]:
        """The C frames above the innermost Python frame (what the C call is doing)."""
        out = []
        for f in self.frames:
            if not f.native:
                break
            out.append(f)
        return out


def pyspy_path() -> str:
    """Path of ``py-spy``: next to the running interpreter, else on PATH.

    A virtual environment's ``bin/`` holds py-spy beside ``python`` even when the
    environment is not activated (``/opt/venv/bin/mltools ...``), so that is looked
    at first: the interpreter's own folder, then the folder its symlink resolves to.
    Raises ``MissingDependencyError`` with one hint when it is in neither place.
    """
    folders = [os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable))]
    for folder in dict.fromkeys(f for f in folders if f):
        exe = shutil.which("py-spy", path=folder)
        if exe is not None:
            return exe
    exe = shutil.which("py-spy")
    if exe is None:
        raise MissingDependencyError(
            "py-spy is needed to read the stacks of running ranks and was found neither next "
            f"to the interpreter ({folders[0]}) nor on PATH",
            hint=install_hint("pyspy"),
        )
    return exe


def ptrace_scope() -> int | None:
    """Yama's ``kernel.yama.ptrace_scope`` (None when Yama is not enabled)."""
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip())
    except (OSError, ValueError):
        return None


def _has_cap_sys_ptrace() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> _CAP_SYS_PTRACE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def attach_problem(pid: int) -> str | None:
    """Why attaching to ``pid`` will fail, predicted from uid, Yama and capabilities; else None."""
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return f"process {pid} does not exist (it may have exited)"
    except OSError:
        return None
    privileged = os.geteuid() == 0 or _has_cap_sys_ptrace()
    if owner != os.geteuid() and not privileged:
        return f"process {pid} belongs to uid {owner}, not to you (uid {os.geteuid()})"
    scope = ptrace_scope()
    if scope == 3:
        return "kernel.yama.ptrace_scope=3 forbids attaching to any process"
    if scope == 2 and not _has_cap_sys_ptrace():
        return "kernel.yama.ptrace_scope=2 allows attaching only with CAP_SYS_PTRACE"
    return None


def _locals(items: object) -> tuple[tuple[str, str], ...]:
    """py-spy's ``locals`` list as (name, repr) pairs."""
    if not isinstance(items, list):
        return ()
    return tuple(
        (str(v["name"]), str(v.get("repr", "?")))
        for v in items
        if isinstance(v, dict) and v.get("name")
    )


def _parse(payload: str) -> list[ThreadStack]:
    threads = []
    for item in json.loads(payload):
        frames = [
            Frame(
                str(f.get("name", "?")),
                str(f.get("filename", "?")),
                int(f.get("line") or 0),
                native=f.get("module") is not None,
                locals=_locals(f.get("locals")),
            )
            for f in item.get("frames") or []
        ]
        threads.append(
            ThreadStack(
                thread_id=int(item.get("thread_id") or 0),
                thread_name=item.get("thread_name"),
                os_thread_id=item.get("os_thread_id"),
                active=bool(item.get("active")),
                owns_gil=bool(item.get("owns_gil")),
                frames=frames,
            )
        )
    return threads


def dump_stacks(
    pid: int,
    *,
    native: bool = False,
    timeout: float = 30.0,
    nonblocking: bool = False,
    local_vars: bool = False,
) -> list[ThreadStack]:
    """Every thread's Python stack in ``pid`` (``py-spy dump --json``).

    ``local_vars`` adds each frame's local variables (``--locals``). Raises
    ``AttachError`` with the ptrace fix when permission is missing.
    """
    exe = pyspy_path()
    argv = [exe, "dump", "--json", "--pid", str(pid)]
    if native:
        argv.append("--native")
    if local_vars:
        argv.append("--locals")
    if nonblocking:
        argv.append("--nonblocking")
    problem = attach_problem(pid)
    if problem:
        raise AttachError(f"cannot attach to pid {pid}: {problem}", hint=PTRACE_FIX)
    try:
        proc = _children.run(argv, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AttachError(f"py-spy did not answer within {timeout:.0f}s for pid {pid}") from exc
    except OSError as exc:
        raise AttachError(f"cannot run py-spy ({exe}): {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        first = err[0] if err else f"py-spy exited with {proc.returncode}"
        first = first.removeprefix("Error: ")
        low = (proc.stderr or "").lower()
        if "permission" in low or "operation not permitted" in low or "eperm" in low:
            raise AttachError(f"permission denied attaching to pid {pid}: {first}", hint=PTRACE_FIX)
        if not Path(f"/proc/{pid}").exists():
            raise AttachError(f"process {pid} exited while being sampled")
        raise AttachError(
            f"py-spy could not read pid {pid}: {first}",
            hint="is it a Python process? a process still starting up cannot be read yet",
        )
    try:
        return _parse(proc.stdout)
    except (ValueError, TypeError, AttributeError) as exc:
        raise AttachError(f"py-spy printed output that is not the expected JSON ({exc})") from exc


def main_thread(threads: list[ThreadStack], pid: int) -> ThreadStack | None:
    """The main thread (os thread id == pid, else the one named MainThread, else the first)."""
    for t in threads:
        if t.os_thread_id == pid:
            return t
    for t in threads:
        if t.thread_name == "MainThread":
            return t
    return threads[0] if threads else None
