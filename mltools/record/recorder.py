"""The recorder: samples GPUs, the host and one process tree every interval, into DIR.

``samples.jsonl`` is written as samples are taken, one JSON object a line, flushed
every interval, so a crash or SIGKILL of the recorder loses at most the interval in
progress (and a full disk stops the samples, not the job). Lines, by ``type``:

- ``meta``: first line: command, root pid, interval, start time (UTC and monotonic);
- ``process``: a process of the tree, when first seen (pid, parent, command, rank);
- ``sample``: ``t_seconds`` since the start, the GPUs, the tree's processes, the host;
- ``marker``: a line of the command's output matched by ``--mark``;
- ``end``: why the recording ended, the command's exit code, samples missed.

``marks.jsonl`` holds what the command's own ``mltools.mark()`` calls appended. At the
end the report is rendered from these files alone (:mod:`mltools.record.store`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import math
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mltools._inputs import kind_of, show_path
from mltools._mark import MARKS_ENV
from mltools._outputs import OutputError
from mltools.errors import (
    CommandNotFoundError,
    InputError,
    OutputExistsError,
    UnavailableError,
    UsageError,
)
from mltools.record import store
from mltools.record.procs import ProcessTree, is_running

DEFAULT_INTERVAL = 1.0
SCHEMA_VERSION = 1
_LINE_BYTES = 1 << 20

# GPU fields kept per sample (the snapshot's names; units in the key)
GPU_FIELDS = (
    "name",
    "utilization_gpu_percent",
    "utilization_memory_percent",
    "memory_used_bytes",
    "memory_total_bytes",
    "power_draw_watts",
    "power_limit_watts",
    "energy_joules",
    "temperature_gpu_celsius",
    "clock_sm_mhz",
    "clock_memory_mhz",
    "throttle_reasons",
    "pcie_tx_bytes_per_second",
    "pcie_rx_bytes_per_second",
    "error",
)


@dataclass
class RecordResult:
    """What a recording left: its folder, the command's exit code and the summary."""

    out_dir: Path
    returncode: int | None  # the command's, as a shell reports it; None when attached (--pid)
    summary: dict[str, Any]
    columnar_path: Path | None
    columnar_note: str | None  # why there is no columnar file (pyarrow missing)
    write_error: str | None  # why samples stopped being written (a full disk), if they did
    output_errors: list[str] = field(default_factory=list)  # files the end could not write


def check_interval(interval: float) -> float:
    """``interval`` if it is a usable sampling interval in seconds, else :class:`UsageError`."""
    if not isinstance(interval, (int, float)) or not math.isfinite(interval) or interval <= 0:
        raise UsageError(
            f"--interval must be a positive number of seconds, not {interval!r}",
            hint=f"the default is {DEFAULT_INTERVAL:g} s; e.g. --interval 0.5",
        )
    return float(interval)


def default_out_dir() -> Path:
    """``record-YYYYmmdd-HHMMSS`` in the current directory."""
    return Path(f"record-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")


def prepare_out_dir(out_dir: str | os.PathLike[str] | None, *, overwrite: bool) -> Path:
    """Create the output folder; refuse an existing one without ``overwrite``, and any
    path that is not a folder (a FIFO, a device, a file). With ``overwrite`` only the
    recorder's own files in it are replaced."""
    if out_dir is None:
        base = default_out_dir()
        for n in range(1, 1000):
            path = base if n == 1 else base.with_name(f"{base.name}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
        raise InputError(f"too many folders named {base.name}-N here", hint="pass --out DIR")
    path = Path(out_dir)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise OutputError(
                f"output folder {show_path(path)} is a dangling symlink", hint="name a folder"
            ) from None
        path.mkdir(parents=True)
        return path
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(
            f"output {show_path(path)} is {kind_of(st.st_mode)}, not a folder; not writing to it",
            hint="--out names a folder for the recording's files (new, or existing with --yes)",
        )
    if not overwrite:
        raise OutputExistsError(
            f"output folder {show_path(path)} exists; not writing into it",
            hint="pass --yes to replace the recording in it, or name a new folder with --out",
        )
    for name in store.OWN_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / name)
    return path


def _finite(value: Any) -> Any:
    """``value`` with every nan/inf float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class _SampleLog:
    """``samples.jsonl``: one line per write, flushed; a failed write stops the log only."""

    def __init__(self, path: Path) -> None:
        self.fh: IO[str] = open(path, "x", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.lock = threading.Lock()
        self.error: str | None = None

    def write(self, record: dict[str, Any]) -> None:
        try:
            line = json.dumps(record, separators=(",", ":"), allow_nan=False, default=str)
        except ValueError:  # a nan or inf from a sensor: null, as the summary reads it
            line = json.dumps(_finite(record), separators=(",", ":"), default=str)
        line += "\n"
        with self.lock:
            if self.error is not None or self.fh.closed:
                return
            try:
                self.fh.write(line)
                self.fh.flush()
            except OSError as exc:
                self.error = exc.strerror or str(exc)
                if exc.errno == errno.ENOSPC:
                    self.error = "no space left on device"

    def close(self) -> None:
        with self.lock, contextlib.suppress(OSError):
            self.fh.close()


class Recorder:
    """Writes one recording into ``out_dir`` (which :func:`prepare_out_dir` made).

    ``start(pid)`` writes the meta line and starts the tree at ``pid``; ``step()`` takes
    one sample now; ``marker()`` adds a marker; ``finish()`` ends the log and writes
    the summary, the columnar file and the report. :meth:`run_until` is the sampling
    loop on a drift-free monotonic schedule. ``sampler`` and ``clock`` are for tests.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        gpu_indices: Sequence[int] | None = None,
        gpus: bool = True,
        command: Sequence[str] | None = None,
        sampler: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.interval = check_interval(interval)
        self.command = list(command) if command else None
        self.clock = clock
        if sampler is None:
            from mltools.sampler import Sampler

            sampler = Sampler(gpus=gpus, gpu_processes=True, host=True, gpu_indices=gpu_indices)
        self.sampler = sampler
        sampler.sample()  # warm-up: imports, NVML's first open, CPU % baselines, off the clock
        self.gpu_indices = list(gpu_indices) if gpu_indices is not None else None
        self.log = _SampleLog(self.out_dir / store.SAMPLES)
        self.marks_path = self.out_dir / store.MARKS
        self.marks_path.touch()
        self.t0 = 0.0
        self.tree: ProcessTree | None = None
        self.samples = 0
        self.missed = 0
        self.gpu_error: str | None = None
        self.failure: str | None = None

    def start(self, pid: int, *, attached: bool = False) -> None:
        self.tree = ProcessTree(pid)
        self.t0 = self.clock()
        self.log.write(
            {
                "type": "meta",
                "schema_version": SCHEMA_VERSION,
                "command": self.command,
                "pid": pid,
                "attached": attached,
                "interval_seconds": self.interval,
                "gpu_indices": self.gpu_indices,
                "host": socket.gethostname(),
                "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
                "t0_monotonic": self.t0,
            }
        )

    def now(self) -> float:
        """Seconds since the recording started."""
        return self.clock() - self.t0

    def marker(self, name: str, *, source: str = "output", value: str | None = None) -> None:
        self.log.write(
            {
                "type": "marker",
                "t_seconds": round(self.now(), 3),
                "name": name,
                "value": value,
                "source": source,
            }
        )

    def step(self) -> None:
        """Take one sample of the GPUs, the host and the tree, and write it."""
        assert self.tree is not None, "start() first"
        t = self.clock() - self.t0  # the tick it was taken for (on the start's grid)
        sample = self.sampler.sample()
        procs, new = self.tree.sample(t)
        for info in new:
            self.log.write({"type": "process", **vars(info)})
        gpus: list[dict[str, Any]] = []
        snap = getattr(sample, "gpus", None)
        if snap is not None:
            tree = {p.pid: p for p in procs}
            for gpu in snap.gpus:
                gpus.append({"index": gpu.index, **{k: getattr(gpu, k, None) for k in GPU_FIELDS}})
                for gp in gpu.processes or ():
                    proc = tree.get(gp.pid)
                    if proc is not None:
                        proc.gpus.append(
                            {
                                "index": gpu.index,
                                "memory_bytes": gp.gpu_memory_bytes,
                                "sm_percent": gp.gpu_sm_percent,
                            }
                        )
        self.gpu_error = getattr(sample, "gpu_error", None) or self.gpu_error
        host = getattr(sample, "host", None)
        self.log.write(
            {
                "type": "sample",
                "t_seconds": round(t, 4),
                "timestamp": sample.timestamp,
                "gpus": gpus,
                "gpu_error": getattr(sample, "gpu_error", None),
                "processes": [vars(p) for p in procs],
                "host": _host_row(host),
            }
        )
        self.samples += 1

    def run_until(self, ended: Callable[[float], bool]) -> None:
        """Sample every interval until ``ended(timeout)`` (which waits at most ``timeout``
        seconds for the end) says so. Ticks stay on the start's grid: a slow sample skips
        the ticks it overran (counted in ``missed``) instead of shifting the rest."""
        tick = self.clock()
        while True:
            self.step()
            tick += self.interval
            late = self.clock() - tick
            if late >= 0:
                skipped = int(late // self.interval) + 1
                self.missed += skipped
                tick += skipped * self.interval
            if ended(max(0.0, tick - self.clock())):
                return

    def run_in_thread(self, stop: threading.Event) -> None:
        """:meth:`run_until` ``stop`` is set, from a thread; an unexpected error ends the
        sampling (the command runs on) and is written to the end line."""
        try:
            self.run_until(stop.wait)
        except Exception as exc:  # kept for the end line
            self.failure = f"sampling stopped: {type(exc).__name__}: {exc}"

    def finish(self, *, reason: str, returncode: int | None) -> RecordResult:
        """End the log, then write summary.json, the columnar file and the report from it."""
        self.log.write(
            {
                "type": "end",
                "t_seconds": round(self.now(), 4),
                "reason": reason,
                "exit_code": returncode,
                "samples": self.samples,
                "samples_missed": self.missed,
                "write_error": self.log.error,
                "sampling_error": self.failure,
            }
        )
        self.log.close()
        with contextlib.suppress(Exception):
            self.sampler.close()
        return write_outputs(self.out_dir, returncode=returncode, write_error=self.log.error)


HOST_FIELDS = ("cpu_percent", "memory_used_bytes", "memory_total_bytes", "memory_available_bytes",
               "swap_used_bytes", "swap_total_bytes", "shm_used_bytes", "shm_total_bytes")  # fmt: skip


def _host_row(host: Any) -> dict[str, Any] | None:
    """The sampler's host fields a recording keeps (the total CPU %, not per CPU)."""
    if host is None:
        return None
    row = {key: getattr(host, key, None) for key in HOST_FIELDS}
    load = getattr(host, "load_average", None)
    row["load_1m"] = load[0] if load else None
    return row


def write_outputs(
    out_dir: Path, *, returncode: int | None = None, write_error: str | None = None
) -> RecordResult:
    """summary.json, samples.parquet (with pyarrow) and report.html, from the folder's files.

    A file that cannot be written (a full disk) is skipped and said in ``output_errors``;
    the summary is still returned, so the terminal shows it.
    """
    from mltools.record import report, summary

    run = store.load_run(out_dir)
    summ = summary.summarize(run)
    errors: list[str] = []
    columnar, note = None, None
    for name, write in (
        (store.SUMMARY, lambda p: store.write_text(p, json.dumps(summ, indent=2) + "\n")),
        (store.COLUMNAR, lambda p: store.write_columnar(run, p)),
        (store.REPORT, lambda p: store.write_text(p, report.render_html(run, summ))),
    ):
        try:
            done = write(out_dir / name)
        except OSError as exc:
            errors.append(f"{name} not written: {exc.strerror or exc}")
            with contextlib.suppress(OSError):
                os.unlink(out_dir / f".{name}.tmp")
            continue
        if name == store.COLUMNAR:
            columnar, note = done
    return RecordResult(out_dir, returncode, summ, columnar, note, write_error, errors)


# --------------------------------------------------------------------------- the command


def _marker_matcher(
    recorder: Recorder, patterns: Sequence[re.Pattern[str]]
) -> Callable[[str, bytes], None]:
    def on_line(stream: str, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        for pattern in patterns:
            found = pattern.search(text)
            if found:
                value = found.group(1) if pattern.groups else None
                recorder.marker(found.group(0)[:200], source="output", value=value)
                return

    return on_line


def compile_marks(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """``--mark`` patterns, compiled; a bad one is a :class:`UsageError` naming it."""
    out = []
    for text in patterns:
        try:
            out.append(re.compile(text))
        except re.error as exc:
            raise UsageError(f"--mark {text!r} is not a regular expression: {exc}") from None
    return out


def record_command(
    argv: Sequence[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    interval: float = DEFAULT_INTERVAL,
    gpu_indices: Sequence[int] | None = None,
    gpus: bool = True,
    marks: Sequence[str] = (),
    overwrite: bool = False,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    on_start: Callable[[Path], None] | None = None,
    inherit_output: bool = False,
) -> RecordResult:
    """Run ``argv`` and record it (and every process it starts) into ``out_dir`` until it ends.

    The command runs under the shared launcher (:func:`mltools.launcher.run_child`): its
    output is passed through line by line to ``stdout``/``stderr``, lines matching a
    ``marks`` regular expression become markers, and SIGINT/SIGTERM/SIGHUP are forwarded
    to it (30 s, then SIGKILL). ``inherit_output`` (no ``marks``): the command writes to
    this process's own stdout and stderr instead, so on a terminal it sees the terminal
    (its output stays line-buffered, coloured, its progress bars redraw). A thread takes the samples meanwhile. The files are
    completed in every case; a SIGTERM/SIGHUP is then re-raised (exit 128+N).
    Raises :class:`CommandNotFoundError` (exit 127) when ``argv[0]`` does not exist.
    """
    from mltools.launcher import find_command, run_child

    if not argv:
        raise UsageError("no command given", hint="mltools record -- python train.py")
    check_interval(interval)
    patterns = compile_marks(marks)
    if inherit_output and patterns:
        raise UsageError("--mark reads the command's output, which inherit_output leaves alone")
    if find_command(argv[0]) is None:
        raise CommandNotFoundError(
            f"command not found: {argv[0]}", hint="check the command name and PATH"
        )
    path = prepare_out_dir(out_dir, overwrite=overwrite)
    if on_start is not None:
        on_start(path)
    recorder = Recorder(path, interval=interval, gpu_indices=gpu_indices, gpus=gpus, command=argv)
    env = {**os.environ, MARKS_ENV: str(recorder.marks_path.resolve())}
    stop = threading.Event()
    sampling: list[threading.Thread] = []

    def started(pid: int) -> None:
        recorder.start(pid)
        thread = threading.Thread(target=recorder.run_in_thread, args=(stop,), daemon=True)
        thread.start()
        sampling.append(thread)

    interrupted: KeyboardInterrupt | None = None
    try:
        child = run_child(
            argv,
            env=env,
            stdout=None if inherit_output else stdout,
            stderr=None if inherit_output else stderr,
            on_line=_marker_matcher(recorder, patterns) if patterns else None,
            on_start=started,
            inherit=inherit_output,
        )
    except KeyboardInterrupt as exc:  # SIGTERM/SIGHUP: re-raised once the child is gone
        interrupted = exc
    finally:
        stop.set()
        for thread in sampling:
            thread.join()
    if interrupted is not None:
        signum = getattr(interrupted, "signum", None)
        recorder.finish(reason="interrupted", returncode=128 + signum if signum else None)
        raise interrupted
    if child.pid is None:  # it vanished between the check and the start
        recorder.finish(reason="not started", returncode=child.returncode)
        raise CommandNotFoundError(
            child.error or f"cannot run {argv[0]}", hint="check the command name and PATH"
        )
    reason = "interrupted" if child.interrupted_by is not None else "exited"
    return recorder.finish(reason=reason, returncode=child.returncode)


def record_pid(
    pid: int,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    interval: float = DEFAULT_INTERVAL,
    gpu_indices: Sequence[int] | None = None,
    gpus: bool = True,
    overwrite: bool = False,
    on_start: Callable[[Path], None] | None = None,
) -> RecordResult:
    """Record the running process ``pid`` and its descendants until it ends or Ctrl-C.

    Ctrl-C ends the recording normally (the files are written, the process is left
    alone); SIGTERM/SIGHUP write the files and are re-raised. :class:`UnavailableError`
    when no process has that pid.
    """
    check_interval(interval)
    if pid <= 0 or not is_running(pid):
        raise UnavailableError(
            f"no process with pid {pid}", hint="list candidates with `ps -ef` or `mltools gpu`"
        )
    if pid == os.getpid():
        raise UsageError("--pid names this mltools process itself")
    path = prepare_out_dir(out_dir, overwrite=overwrite)
    if on_start is not None:
        on_start(path)
    recorder = Recorder(path, interval=interval, gpu_indices=gpu_indices, gpus=gpus)
    stack = contextlib.ExitStack()
    interrupted: KeyboardInterrupt | None = None
    try:
        ends = stack.enter_context(_exit_waiter(pid))
        recorder.start(pid, attached=True)
        recorder.run_until(lambda timeout: ends(timeout) or not recorder.tree.alive())  # type: ignore[union-attr]
        reason = "exited"
    except ProcessLookupError:  # it ended between the check and the first sample
        reason = "exited"
    except KeyboardInterrupt as exc:
        interrupted, reason = exc, "interrupted"
    finally:
        stack.close()
    result = recorder.finish(reason=reason, returncode=None)
    if interrupted is not None and getattr(interrupted, "signum", None) is not None:
        raise interrupted
    return result


@contextlib.contextmanager
def _exit_waiter(pid: int) -> Iterator[Callable[[float], bool]]:
    """``wait(timeout)`` -> True once ``pid`` has exited: a pidfd (Linux 5.3+), else polling."""
    import select

    try:
        fd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None

    def wait(timeout: float) -> bool:
        if fd is not None:
            ready, _, _ = select.select([fd], [], [], timeout)
            return bool(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not is_running(pid):
                return True
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return not is_running(pid)

    try:
        yield wait
    finally:
        if fd is not None:
            os.close(fd)
