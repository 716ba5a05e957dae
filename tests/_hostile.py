"""Run one mltools command the way a hostile machine would, and measure what it did.

``python tests/_hostile.py SPEC_JSON`` runs ``python -m mltools ARGS`` (optionally after
a Python *prelude*, e.g. one that sets a resource limit or sends itself a signal at
a chosen moment) as the only child of this fresh process, in its own session, and
prints one JSON line:

- ``rc``, ``stderr`` (tail), ``stdout`` (tail), ``timed_out``;
- ``maxrss_mb``: the peak RSS of the command and everything it waited for
  (``getrusage(RUSAGE_CHILDREN)``, which counts only this wrapper's descendants);
- ``leftovers``: command lines of processes still alive after it ended that carry
  this run's tag in their environment (workers, rsync, a launched child...), after
  giving them ``linger`` seconds to go; they are then SIGKILLed.

``signal`` = ``{"sig": 15, "proc": REGEX}`` sends ``sig`` to the command once a
tagged process whose command line matches REGEX exists (an event, not a sleep);
``{"sig": 15, "file": GLOB}`` once a file matches GLOB, ``{"sig": 2, "stdout": true}``
once the command has written to stdout.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BOOT = (
    "import sys\n"
    "exec(sys.argv[1])\n"
    "from mltools.cli.app import main\n"
    "sys.argv = ['mltools', *sys.argv[2:]]\n"
    "main()\n"
)


def _tagged(tag: str, exclude: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    needle = f"HOSTILE_TAG={tag}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # a zombie has already ended
        except OSError:
            continue
        found[int(entry)] = cmd
    return found


def _clip(text: str, keep: int = 8000) -> str:
    return text if len(text) <= 2 * keep else text[:keep] + "\n[...]\n" + text[-keep:]


def main() -> None:
    spec = json.loads(sys.argv[1])
    tag = spec["tag"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("MLTOOLS_DEBUG", None)
    env.update(spec.get("env") or {})
    env["HOSTILE_TAG"] = tag
    if spec.get("prelude"):
        argv = [sys.executable, "-c", BOOT, spec["prelude"], *spec["args"]]
    else:
        argv = [sys.executable, "-m", "mltools", *spec["args"]]
    stdin = open(spec["stdin"], "rb") if spec.get("stdin") else subprocess.DEVNULL  # noqa: SIM115
    out_path = Path(spec["cwd"]) / f".hostile-{tag}.out"
    err_path = Path(spec["cwd"]) / f".hostile-{tag}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            argv,
            cwd=spec["cwd"],
            env=env,
            stdin=stdin,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        deadline = time.monotonic() + spec.get("timeout", 120)
        sent = None
        trigger = spec.get("signal")
        while trigger and sent is None and proc.poll() is None and time.monotonic() < deadline:
            if "proc" in trigger:
                hit = any(
                    re.search(trigger["proc"], cmd)
                    for pid, cmd in _tagged(tag, {os.getpid()}).items()
                    if pid != proc.pid
                )
            elif "stdout" in trigger:  # once the command has printed something
                hit = out_path.stat().st_size > 0
            else:
                hit = bool(glob.glob(os.path.join(spec["cwd"], trigger["file"])))
            if hit:
                os.kill(proc.pid, trigger["sig"])
                sent = trigger["sig"]
                break
            time.sleep(0.02)
        timed_out = False
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    linger_until = time.monotonic() + spec.get("linger", 10)
    leftovers = _tagged(tag, {os.getpid()})
    while leftovers and time.monotonic() < linger_until:
        time.sleep(0.05)
        leftovers = _tagged(tag, {os.getpid()})
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    stdout = out_path.read_bytes().decode(errors="replace")
    stderr = err_path.read_bytes().decode(errors="replace")
    out_path.unlink()
    err_path.unlink()
    print(
        json.dumps(
            {
                "rc": rc,
                "timed_out": timed_out,
                "signal_sent": sent,
                "maxrss_mb": round(rss_kb / 1024, 1),
                "stdout": _clip(stdout),
                "stderr": _clip(stderr),
                "leftovers": sorted(leftovers.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
