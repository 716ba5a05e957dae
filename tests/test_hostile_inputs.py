"""Hostile inputs and signals: every command ends, stays small, and leaves nothing behind.

Each case runs one real ``python -m mltools ...`` inside a fresh wrapper process
(``tests/_hostile.py``) and asserts, for that run:

- it ended within the case's bound (a subprocess timeout, not a speed assert);
- the exit code is the documented one;
- the error is one line (``mltools: error: ...`` or Click's usage line), with no
  traceback and no "internal error";
- the peak RSS of everything it ran (``getrusage(RUSAGE_CHILDREN)`` in the wrapper)
  stays under the case's bound;
- no process carrying the run's tag is left, no temp file is left in the arena, and
  no file that was there before (FIFOs and devices included) was replaced or changed.

Cases owned by another issue are marked ``xfail(strict=False)`` with its number; the
lead removes the mark after merging that issue.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
IS_ROOT = os.geteuid() == 0
SIGHUP, SIGINT, SIGTERM = 1, 2, 15
MB = 1 << 20

# --- the arena: what every case finds in its working directory ---------------------------


def _safetensors(path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)


FEATS = """\
import os, signal, time

def double(x):
    return x * 2

def stall(x):
    # the first call in a worker tells the main process to stop, then waits to be stopped
    if os.environ.get("HOSTILE_MAIN"):
        os.kill(int(os.environ["HOSTILE_MAIN"]), int(os.environ.get("HOSTILE_SIG", "15")))
    time.sleep(120)
    return x
"""


@pytest.fixture
def arena(tmp_path: Path) -> Path:
    d = tmp_path / "arena"
    d.mkdir()
    os.mkfifo(d / "fifo")
    os.mkfifo(d / "fifo.csv")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(d / "sock"))
    (d / "zero.csv").symlink_to("/dev/zero")
    (d / "zero.pt").symlink_to("/dev/zero")
    for name, size in (
        ("sparse.pt", 100 << 30),
        ("sparse.safetensors", 100 << 30),
        ("sparse.csv", 1 << 40),
        ("sparse.log", 300 * MB),
    ):
        with open(d / name, "wb") as f:
            f.truncate(size)
    _safetensors(d / "good.safetensors")
    (d / "in.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(2000)))
    (d / "feats.py").write_text(FEATS)
    (d / "existing.csv").write_text("keep me\n")
    (d / "existing.csv").chmod(0o640)
    (d / "existing.pt").write_bytes(b"keep me")
    (d / "existing.log").write_text("keep me\n")
    # an ssh that connects to nothing and waits: its ProxyCommand sleeps
    (d / "stall.ssh").write_text("Host *\n  ProxyCommand sleep 300\n")
    (d / "src").mkdir()
    with open(d / "src" / "big.bin", "wb") as f:  # sync copies it for real: keep it small
        f.truncate(1 << 30)
    if IS_ROOT:  # a real character device of our own (never the machine's /dev/null)
        os.mknod(d / "null.chr", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(d / "null.csv", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(d / "full.chr", stat.S_IFCHR | 0o666, os.makedev(1, 7))
    return d


def _snapshot(d: Path) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for p in d.rglob("*"):
        st = p.lstat()
        out[str(p.relative_to(d))] = (
            st.st_ino,
            stat.S_IFMT(st.st_mode),
            st.st_size,
            st.st_mtime_ns,
        )
    return out


# --- one case ------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    args: list[str]
    rc: int | tuple[int, ...]
    message: str | None = None  # must appear in stderr
    prelude: str | None = None  # Python run in the command's process before mltools starts
    stdin: str | None = None  # a file in the arena
    signal: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)
    max_rss_mb: float = 400
    timeout: float = 90
    creates: tuple[str, ...] = ()  # arena files the command may create
    changes: tuple[str, ...] = ()  # arena files it may change
    owner: int | None = None  # the issue that owns the fix (xfail until merged)
    root_only: bool = False
    slow: bool = False
    check: Callable[[Path, dict[str, Any]], None] | None = None


def run_case(case: Case, d: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex
    if os.environ.get("HOSTILE_MAX_TIMEOUT"):  # to replay the matrix quickly on old code
        case = dataclasses.replace(
            case, timeout=min(case.timeout, float(os.environ["HOSTILE_MAX_TIMEOUT"]))
        )
    spec = {
        "tag": tag,
        "args": case.args,
        "cwd": str(d),
        "prelude": case.prelude,
        "stdin": str(d / case.stdin) if case.stdin else None,
        "signal": case.signal,
        "env": case.env,
        "timeout": case.timeout,
    }
    done = subprocess.run(
        [sys.executable, str(HERE / "_hostile.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=case.timeout + 60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_clean_result(case: Case, result: dict[str, Any]) -> None:
    stderr = result["stderr"]
    assert not result["timed_out"], f"did not end within {case.timeout} s: {stderr}"
    want = case.rc if isinstance(case.rc, tuple) else (case.rc,)
    assert result["rc"] in want, f"exit {result['rc']}, expected {want}: {stderr}"
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith(("mltools: error:", "Error:"))]
    if result["rc"] not in (0, 5) and result["rc"] < 128:
        assert len(errors) == 1, stderr
    if case.message:
        assert case.message in stderr, stderr
    assert result["maxrss_mb"] <= case.max_rss_mb, f"peak RSS {result['maxrss_mb']} MB"
    assert result["leftovers"] == [], f"processes left: {result['leftovers']}"
    assert ".tmp" not in stderr, stderr  # errors name the output, never its temp file


def _mode(name: str, want: int) -> Callable[[Path, dict[str, Any]], None]:
    def check(d: Path, result: dict[str, Any]) -> None:
        assert stat.S_IMODE((d / name).stat().st_mode) == want, oct((d / name).stat().st_mode)

    return check


def _no_torch_before_missing_input() -> str:
    return "import sys; sys.modules['torch'] = None  # importing torch would fail\n"


def _kill_self_in(module: str, func: str, sig: int, before: str = "") -> str:
    """A prelude that makes ``module.func`` send ``sig`` to this process mid-call."""
    return (
        "import importlib, os, time\n"
        f"_m = importlib.import_module({module!r})\n"
        f"_orig = getattr(_m, {func!r})\n"
        "def _hostile(*a, **k):\n"
        f"    {before or 'pass'}\n"
        f"    os.kill(os.getpid(), {sig})\n"
        "    time.sleep(60)\n"
        "    return _orig(*a, **k)\n"
        f"setattr(_m, {func!r}, _hostile)\n"
    )


FSIZE_LIMIT = (
    "import resource, signal\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))\n"
)

DIGITS400 = "9" * 400
# a child that takes SIGINT as a plain signal death (no traceback), then says it is ready
READY_THEN_SLEEP = (
    "import pathlib, signal, time; signal.signal(2, signal.SIG_DFL); "
    "pathlib.Path('ready').touch(); time.sleep(300)"
)
HUGE = "99999999999999999999"
APPLY = ["apply", "in.csv", "-f", "feats.py:double", "-c", "a"]
CONVERT = ["ckpt", "convert", "good.safetensors"]


def _torch_save_writes_then_signal(sig: int) -> str:
    return _kill_self_in(
        "torch",
        "save",
        sig,
        before="f = a[1] if hasattr(a[1], 'write') else open(a[1], 'wb'); "
        "f.write(b'x' * 100000); f.flush()",
    ).replace("import importlib, os, time\n", "import importlib, os, time\nimport torch\n")


def _zip_bomb(d: Path) -> None:
    import zipfile

    with zipfile.ZipFile(d / "bomb.pt", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02" + b"\0" * (256 * MB))
        z.writestr("archive/version", b"3\n")


def _deep_safetensors(d: Path) -> None:
    header = ('{"__metadata__":' + "[" * 100000 + "]" * 100000 + "}").encode()
    (d / "deep.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


def _deep_index(d: Path) -> None:
    (d / "deep.index.json").write_text('{"weight_map": ' + "[" * 100000 + "]" * 100000 + "}")


SETUPS: dict[str, Callable[[Path], None]] = {
    "zip-bomb": _zip_bomb,
    "deep-safetensors": _deep_safetensors,
    "deep-index": _deep_index,
}


CASES: list[Case] = [
    # ---- special files and endless inputs, read --------------------------------------
    Case("ckpt-inspect-fifo", ["ckpt", "inspect", "fifo"], 1, "named pipe"),
    Case("ckpt-inspect-dev-zero", ["ckpt", "inspect", "/dev/zero"], 1, "character device"),
    Case("ckpt-inspect-socket", ["ckpt", "inspect", "sock"], 1, "socket"),
    Case("ckpt-inspect-sparse-100G", ["ckpt", "inspect", "sparse.pt"], 1, "not a checkpoint"),
    Case("ckpt-inspect-sparse-100G-safetensors", ["ckpt", "inspect", "sparse.safetensors"], 1),
    Case("ckpt-scan-fifo", ["ckpt", "scan", "fifo"], 1, "named pipe"),
    Case("ckpt-scan-dev-zero-link", ["ckpt", "scan", "zero.pt"], 1, "character device"),
    Case("ckpt-diff-fifo", ["ckpt", "diff", "good.safetensors", "fifo"], 1, "named pipe"),
    Case("ckpt-diff-dev-zero", ["ckpt", "diff", "/dev/zero", "good.safetensors"], 1),
    Case("ckpt-convert-fifo-in", ["ckpt", "convert", "fifo", "o.pt"], 1, "named pipe"),
    Case("ckpt-convert-dev-zero-in", ["ckpt", "convert", "/dev/zero", "o.pt"], 1),
    Case("ddp-log-fifo", ["ddp-doctor", "log", "fifo"], 1, "named pipe"),
    Case("ddp-log-dev-zero", ["ddp-doctor", "log", "/dev/zero"], 1, "character device"),
    Case("ddp-log-socket", ["ddp-doctor", "log", "sock"], 1, "socket"),
    Case("ddp-log-stdin-dev-zero", ["ddp-doctor", "log", "-"], 1, "never end", stdin="zero.pt"),
    # an empty log is not a clean one (issue 23): nothing to read is an input error
    Case(
        "ddp-log-stdin-dev-null",
        ["ddp-doctor", "log", "-"],
        1,
        "the log is empty",
        stdin="null.chr",
        root_only=True,
    ),
    # a 300 MB log that is one line without a newline: bounded memory (grep capped)
    Case(
        "ddp-log-300MB-one-line",
        ["ddp-doctor", "log", "sparse.log"],
        0,
        max_rss_mb=200,
        timeout=240,
        slow=True,
    ),
    Case(
        "ddp-log-300MB-one-line-stdin",
        ["ddp-doctor", "log", "-"],
        0,
        stdin="sparse.log",
        max_rss_mb=200,
        timeout=240,
        slow=True,
    ),
    Case("apply-dev-zero-csv", [*APPLY[:1], "zero.csv", *APPLY[2:]], 1, "character device"),
    Case("apply-fifo-csv", [*APPLY[:1], "fifo.csv", *APPLY[2:]], 1, "named pipe"),
    Case("apply-sparse-1T-csv", [*APPLY[:1], "sparse.csv", *APPLY[2:]], 1, "larger than"),
    Case(
        "sync-password-file-dev-zero",
        ["sync", "--password-file", "/dev/zero", "src", "h:/x"],
        1,
        "character device",
    ),
    Case("sync-password-file-fifo", ["sync", "--password-file", "fifo", "src", "h:/x"], 1),
    Case(
        "sync-password-file-sparse",
        ["sync", "--password-file", "sparse.pt", "src", "h:/x"],
        1,
        "too large",
    ),
    Case(
        "gpu-hosts-ssh-config-dev-zero",
        ["gpu", "--hosts", "h1", "--ssh-config", "/dev/zero"],
        1,
        "character device",
    ),
    Case("gpu-hosts-ssh-config-fifo", ["gpu", "--hosts", "h1", "--ssh-config", "fifo"], 1),
    Case("filetype-specials", ["filetype", "fifo", "sock", "/dev/zero"], (0, 6)),
    Case(
        "hang-flight-recorder-missing",
        ["ddp-doctor", "hang", "-p", "1", "--flight-recorder", "nope"],
        1,
        "no flight-recorder",
    ),
    Case(
        # the reader hang uses, through the CLI's error table (hang itself needs live ranks)
        "flight-recorder-sparse-100G",
        ["--version"],
        1,
        prelude="import sys\n"
        "from mltools.cli._errors import report\n"
        "from mltools.ddp import flight_recorder as fr\n"
        "try:\n"
        "    fr.read_flight_recorder(['sparse.pt'])\n"
        "except Exception as exc:\n"
        "    sys.exit(report(exc))\n",
        max_rss_mb=300,  # fixed by #14 (merged)
    ),
    Case(
        "ckpt-scan-zip-bomb", ["ckpt", "scan", "bomb.pt"], 1, max_rss_mb=300
    ),  # fixed by #12 (merged)
    Case(
        "ckpt-inspect-deep-safetensors", ["ckpt", "inspect", "deep.safetensors"], 1
    ),  # fixed by #12 (merged)
    Case(
        "ckpt-inspect-deep-index", ["ckpt", "inspect", "deep.index.json"], 1
    ),  # fixed by #12 (merged)
    # ---- numbers ----------------------------------------------------------------------
    *[
        Case(f"number-{name}", args, 2, "Invalid value")
        for name, args in (
            ("kill-grace-nan", ["kill", "--grace", "nan", "zzz"]),
            ("kill-grace-inf", ["kill", "--grace", "inf", "zzz"]),
            ("kill-grace-1e309", ["kill", "--grace", "1e309", "zzz"]),
            ("kill-grace-negative", ["kill", "--grace", "-1", "zzz"]),
            ("cpu-interval-inf", ["cpu", "--interval", "inf"]),
            ("gpu-host-timeout-nan", ["gpu", "--hosts", "h1", "--host-timeout", "nan"]),
            ("gpu-interval-nan", ["gpu", "--watch", "--interval", "nan"]),
            ("gpu-run-timeout-inf", ["gpu", "run", "--timeout", "inf", "--", "true"]),
            ("gpu-kill-gpu-negative", ["gpu", "kill", "--gpu", "-1"]),
            ("hang-interval-nan", ["ddp-doctor", "hang", "--interval", "nan"]),
            ("hang-pid-huge", ["ddp-doctor", "hang", "-p", HUGE]),
            ("filetype-workers-huge", ["filetype", "-j", HUGE, "."]),
            ("smoke-nproc-huge", ["ddp-doctor", "smoke", "-n", "100000"]),
            ("smoke-timeout-nan", ["ddp-doctor", "smoke", "--timeout", "nan"]),
            ("apply-workers-huge", [*APPLY, "-w", "1000000"]),
            ("du-top-negative", ["du", "--top", "-5", "."]),
            ("sync-port-huge", ["sync", "--port", "70000", "src", "h:/x"]),
        )
    ],
    Case(
        "number-clean-larger-400-digits",
        ["clean", "--larger", DIGITS400 + "G", "."],
        2,
        "too large",
    ),
    Case(
        "number-clean-older-400-digits",
        ["clean", "--older-than", DIGITS400 + "d", "."],
        2,
        "too large",
    ),
    # ---- outputs ----------------------------------------------------------------------
    Case("convert-out-fifo-yes", [*CONVERT, "fifo", "--yes"], 1, "named pipe"),
    Case("convert-out-socket-yes", [*CONVERT, "sock", "--yes"], 1, "socket"),
    Case(
        "convert-out-chardev-yes",
        [*CONVERT, "null.chr", "--yes"],
        1,
        "character device",
        root_only=True,
    ),
    Case("apply-out-fifo-yes", [*APPLY, "-o", "fifo.csv", "--yes"], 1, "named pipe"),
    Case(
        "apply-out-chardev-yes",
        [*APPLY, "-o", "null.csv", "--yes"],
        1,
        "character device",
        root_only=True,
    ),
    Case("convert-out-exists", [*CONVERT, "existing.pt"], 1, "exists"),
    Case("apply-out-exists", [*APPLY, "-o", "existing.csv"], 1, "exists"),
    Case(
        "apply-out-exists-yes-keeps-mode",
        [*APPLY, "-o", "existing.csv", "--yes"],
        0,
        changes=("existing.csv",),
        check=_mode("existing.csv", 0o640),
    ),
    Case(
        "apply-out-new-honours-umask-022",
        [*APPLY, "-o", "new.csv"],
        0,
        prelude="import os; os.umask(0o022)",
        creates=("new.csv",),
        check=_mode("new.csv", 0o644),
    ),
    Case(
        "apply-out-new-honours-umask-027",
        [*APPLY, "-o", "new.csv"],
        0,
        prelude="import os; os.umask(0o027)",
        creates=("new.csv",),
        check=_mode("new.csv", 0o640),
    ),
    Case(
        "convert-out-new-honours-umask-002",
        [*CONVERT, "new.pt"],
        0,
        prelude="import os; os.umask(0o002)",
        creates=("new.pt",),
        check=_mode("new.pt", 0o664),
        max_rss_mb=600,
    ),
    Case(
        "apply-out-read-only-folder",
        [*APPLY, "-o", "/sys/x.csv"],
        1,
        "cannot write output /sys/x.csv",
        root_only=True,
    ),
    Case(
        "apply-out-file-too-large",
        [*APPLY, "-o", "big.csv"],
        1,
        "cannot write output big.csv",
        prelude=FSIZE_LIMIT,
    ),
    Case(
        "convert-out-file-too-large",
        [*CONVERT, "big.pt"],
        1,
        "cannot write output big.pt",
        prelude=FSIZE_LIMIT.replace("8192", "1000"),
        max_rss_mb=600,
    ),
    Case(
        "run-log-exists",
        ["ddp-doctor", "run", "--log", "existing.log", "--", "touch", "ran"],
        1,
        "exists",
    ),
    Case(
        "run-log-dev-full",
        ["ddp-doctor", "run", "--log", "full.chr", "--yes", "--", "true"],
        1,
        "character device",
        root_only=True,
    ),
    Case(
        "run-log-fifo",
        ["ddp-doctor", "run", "--log", "fifo", "--yes", "--", "true"],
        1,
        "named pipe",
    ),
    Case(
        "run-default-log-taken",
        ["ddp-doctor", "run", "--", "true"],
        0,
        "log: ddp-doctor-X-2.log",
        prelude="import mltools.ddp.launch as L, pathlib\n"
        "L.default_log_path = lambda: pathlib.Path('ddp-doctor-X.log')\n"
        "pathlib.Path('ddp-doctor-X.log').write_text('first run\\n')\n",
        creates=("ddp-doctor-X.log", "ddp-doctor-X-2.log"),
        check=lambda d, r: (d / "ddp-doctor-X.log").read_text() == "first run\n",
    ),
    # ---- signals ----------------------------------------------------------------------
    Case(
        "convert-sigterm-mid-write",
        [*CONVERT, "o.pt"],
        128 + SIGTERM,
        "SIGTERM",
        prelude=_torch_save_writes_then_signal(SIGTERM),
        max_rss_mb=600,
    ),
    Case(
        "convert-sighup-mid-write",
        [*CONVERT, "o.pt"],
        128 + SIGHUP,
        "SIGHUP",
        prelude=_torch_save_writes_then_signal(SIGHUP),
        max_rss_mb=600,
    ),
    Case(
        "apply-sigterm-mid-write",
        [*APPLY, "-o", "o.csv"],
        128 + SIGTERM,
        "SIGTERM",
        prelude="import os, time, pandas\n"
        "_orig = pandas.DataFrame.to_csv\n"
        "def _hostile(self, path=None, *a, **k):\n"
        "    if isinstance(path, (str, os.PathLike)):\n"
        "        open(path, 'wb').write(b'a,b\\n' * 10000)  # half a table, then SIGTERM\n"
        "        os.kill(os.getpid(), 15)\n"
        "        time.sleep(60)\n"
        "    return _orig(self, path, *a, **k)\n"
        "pandas.DataFrame.to_csv = _hostile\n",
    ),
    Case(
        "apply-loky-sigterm",
        [*APPLY[:3], "feats.py:stall", "-c", "a", "-o", "o.csv", "--backend", "loky", "-w", "2"],
        128 + SIGTERM,
        "SIGTERM",
        prelude="import os; os.environ['HOSTILE_MAIN'] = str(os.getpid())",
        max_rss_mb=600,
    ),
    Case(
        "apply-loky-sighup",
        [*APPLY[:3], "feats.py:stall", "-c", "a", "-o", "o.csv", "--backend", "loky", "-w", "2"],
        128 + SIGHUP,
        "SIGHUP",
        prelude="import os; os.environ['HOSTILE_MAIN'] = str(os.getpid())",
        env={"HOSTILE_SIG": "1"},
        max_rss_mb=600,
    ),
    Case(
        "apply-fork-sigterm",
        [*APPLY[:3], "feats.py:stall", "-c", "a", "-o", "o.csv", "--backend", "fork", "-w", "2"],
        128 + SIGTERM,
        "SIGTERM",
        prelude="import os; os.environ['HOSTILE_MAIN'] = str(os.getpid())",
        max_rss_mb=600,
    ),
    Case(
        "sync-sigterm-stops-rsync",
        ["sync", "src", "dst"],
        128 + SIGTERM,
        "SIGTERM",
        signal={"sig": SIGTERM, "proc": r"^rsync "},
        creates=("dst", "dst/*"),
    ),
    Case(
        "run-sigterm-forwarded",
        [
            "ddp-doctor",
            "run",
            "--log",
            "r.log",
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(300)",
        ],
        128 + SIGTERM,
        signal={"sig": SIGTERM, "proc": r"time.sleep\(300\)"},
        creates=("r.log",),
    ),
    Case(
        "run-sigint-forwarded",
        [
            "ddp-doctor",
            "run",
            "--log",
            "r.log",
            "--",
            sys.executable,
            "-c",
            READY_THEN_SLEEP,
        ],
        128 + SIGINT,
        signal={"sig": SIGINT, "file": "ready"},  # once the child can take it
        creates=("r.log", "ready"),
    ),
    Case(
        "run-child-sigkilled",
        ["ddp-doctor", "run", "--log", "r.log", "--", "sh", "-c", "kill -9 $$"],
        137,
        creates=("r.log",),
    ),
    Case(
        "record-sigterm-forwarded",
        [
            "record",
            "-i",
            "0.2",
            "-o",
            "rec",
            "--gpus",
            "none",
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(300)",
        ],
        128 + SIGTERM,
        "SIGTERM",
        signal={"sig": SIGTERM, "proc": r"time.sleep\(300\)"},
        creates=("rec", "rec/*"),
        check=lambda d, result: json.loads((d / "rec" / "summary.json").read_text()),
    ),
    Case(
        "record-child-sigkilled",
        ["record", "-o", "rec", "--gpus", "none", "--", "sh", "-c", "kill -9 $$"],
        137,
        creates=("rec", "rec/*"),
    ),
    Case("record-no-such-command", ["record", "--", "no-such-cmd-x"], 127, "command not found"),
    Case("record-out-fifo", ["record", "-o", "fifo", "--yes", "--", "true"], 1, "named pipe"),
    Case("record-out-dev-zero", ["record", "-o", "/dev/zero", "--", "true"], 1, "character device"),
    Case("record-interval-nan", ["record", "-i", "nan", "--", "true"], 2, "finite number"),
    Case("record-interval-inf", ["record", "-i", "1e309", "--", "true"], 2, "finite number"),
    Case("record-show-fifo", ["record", "show", "fifo"], 1, "named pipe"),
    Case(
        "gpu-hosts-sigterm-stops-ssh",
        ["gpu", "--hosts", "h1,h2", "--ssh-config", "stall.ssh", "--host-timeout", "200"],
        128 + SIGTERM,
        "SIGTERM",
        signal={"sig": SIGTERM, "proc": r"^sleep 300"},
        timeout=60,
    ),
    Case(
        "cpu-watch-ctrl-c",
        ["cpu", "--watch", "--interval", "0.1"],
        0,
        signal={"sig": SIGINT, "stdout": True},
    ),
    Case(
        "cpu-watch-sigterm",
        ["cpu", "--watch", "--interval", "0.1"],
        128 + SIGTERM,
        signal={"sig": SIGTERM, "stdout": True},
    ),
    Case(
        "smoke-sigterm-stops-torchrun",
        ["ddp-doctor", "smoke", "-n", "2"],
        128 + SIGTERM,
        signal={"sig": SIGTERM, "proc": r"-m mltools\.ddp\.smoke"},
        timeout=240,
        slow=True,
        max_rss_mb=900,
    ),
    # ---- messages ---------------------------------------------------------------------
    Case("message-newline-in-path", ["ckpt", "inspect", "a\nb.pt"], 1, "a\\nb.pt"),
    Case("message-proc-self-mem", ["ckpt", "inspect", "/proc/self/mem"], 1, "/proc/self/mem"),
    Case("message-empty-path", ["ddp-doctor", "log", ""], 1, "no such file or directory: ''"),
    Case("message-too-long-path", ["ckpt", "inspect", "a" * 5000], 1, "too long"),
    Case(
        "message-convert-missing-input-before-torch",
        ["ckpt", "convert", "nope.pt", "o.pt"],
        1,
        "no such file or directory: nope.pt",
        prelude=_no_torch_before_missing_input(),
    ),
    Case(
        "message-write-denied-no-read-hint",
        [*APPLY, "-o", "/sys/y.csv"],
        1,
        "folder",
        root_only=True,
        check=lambda d, r: "may read" not in r["stderr"],
    ),
    # ---- other issues' items, in the matrix until they merge ------------------------------
    Case(
        "clean-print-cron-newline",
        ["clean", "--print-cron", "30 23 * * *", "--name", "a\n* * * * * evil", "."],
        (0, 1, 2),
        # refused, or quoted onto the one crontab line (fixed by #11, merged)
        check=lambda d, r: r["rc"] != 0 or r["stdout"].count("\n") == 1,
    ),
    Case("sync-dest-inside-source", ["sync", "src", "src/inner"], (1, 2)),  # fixed by #11
]


def _params() -> list[Any]:
    out = []
    for case in CASES:
        marks = []
        if case.owner is not None:
            marks.append(pytest.mark.xfail(strict=False, reason=f"owned by issue #{case.owner}"))
        if case.slow:
            marks.append(pytest.mark.slow)
        if case.root_only:
            marks.append(pytest.mark.skipif(not IS_ROOT, reason="needs root (mknod, /sys)"))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_hostile(case: Case, arena: Path) -> None:
    for name, setup in SETUPS.items():
        if name in case.id:
            setup(arena)
    before = _snapshot(arena)
    smoke_dirs = set(Path(tempfile.gettempdir()).glob("mltools-smoke-*"))
    result = run_case(case, arena)
    if os.environ.get("HOSTILE_REPORT"):  # the matrix for the issue note
        with open(os.environ["HOSTILE_REPORT"], "a") as f:
            f.write(json.dumps({"id": case.id, "rc": result["rc"], "rss": result["maxrss_mb"]}))
            f.write("\n")
    if "smoke" in case.id:  # its working folder lives in the temp dir, not the arena
        left = set(Path(tempfile.gettempdir()).glob("mltools-smoke-*")) - smoke_dirs
        assert not left, f"temp dirs left: {left}"
    assert_clean_result(case, result)
    after = _snapshot(arena)
    import fnmatch

    new = [
        p for p in after if p not in before and not any(fnmatch.fnmatch(p, c) for c in case.creates)
    ]
    assert new == [], f"left behind: {new}"
    changed = [p for p in before if p not in case.changes and before[p] != after.get(p)]
    assert changed == [], f"replaced or changed: {changed}"
    if case.check is not None:
        assert case.check(arena, result) is not False


# --- two writers racing for one new output --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*APPLY, "-o", "race.csv"], id="apply"),
        pytest.param([*CONVERT, "race.pt"], id="ckpt-convert"),
    ],
)
def test_two_writers_one_new_output(arena: Path, args: list[str]) -> None:
    """Started together, without --yes: exactly one wins, the other says the output exists."""
    procs = []
    for _ in range(2):
        spec = {"tag": uuid.uuid4().hex, "args": args, "cwd": str(arena), "timeout": 120}
        procs.append(
            subprocess.Popen(
                [sys.executable, str(HERE / "_hostile.py"), json.dumps(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    results = [json.loads(p.communicate(timeout=180)[0].strip().splitlines()[-1]) for p in procs]
    codes = sorted(r["rc"] for r in results)
    assert codes == [0, 1], results
    loser = next(r for r in results if r["rc"] == 1)
    assert "exists" in loser["stderr"] and "internal error" not in loser["stderr"]
    leftover = [p.name for p in arena.iterdir() if p.name.endswith(".tmp")]
    assert leftover == []
