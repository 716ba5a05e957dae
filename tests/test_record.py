"""`mltools record` on this machine with real processes: a tree whose workers start and stop
when the test says so (events over a FIFO, not sleeps), the CLI's bad inputs, signals,
attaching to a pid, `show` and `compare`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mltools import mark
from mltools.record import load_run, record_command
from tests._ports import free_port
from tests.conftest import mltools_env

PHASES = str(Path(__file__).with_name("_record_phases.py"))
INTERVAL = 0.2
MiB = 1 << 20


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120.0) -> object:
    """Poll ``predicate`` (a file's content) until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def lines(out: Path, kind: str) -> list[dict]:
    try:
        text = (out / "samples.jsonl").read_text()
    except FileNotFoundError:
        return []
    items = []
    for raw in text.splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if item.get("type") == kind:
            items.append(item)
    return items


def marks(out: Path) -> dict[str, tuple[float, list[str]]]:
    """mark() lines so far: first word pair -> (t_seconds, the rest of the words)."""
    meta = lines(out, "meta")
    if not meta:
        return {}
    found = {}
    for raw in (out / "marks.jsonl").read_text().splitlines():
        m = json.loads(raw)
        words = m["name"].split()
        found[" ".join(words[:2])] = (m["t_monotonic"] - meta[0]["t0_monotonic"], words[2:])
    return found


def samples_after(out: Path, t: float) -> int:
    return sum(1 for s in lines(out, "sample") if s["t_seconds"] > t)


@pytest.fixture
def phased(tmp_path):
    """Record the phase script; returns (run, marks) once the test's script of phases ran."""
    out = tmp_path / "run"
    control = tmp_path / "control"
    os.mkfifo(control)
    result: list = []
    errors: list = []

    def target() -> None:
        try:
            with open(os.devnull, "wb") as sink:
                result.append(record_command(
                    [sys.executable, PHASES, str(control)], out_dir=out, interval=INTERVAL,
                    gpus=False, marks=[r"phase (\w+ \w+)"], stdout=sink, stderr=sink,
                ))  # fmt: skip
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    with open(control, "w") as ctl:  # opens once the script reads: an event

        def say(line: str, mark_name: str, then_samples: int) -> None:
            ctl.write(line + "\n")
            ctl.flush()
            t, _ = wait_for(lambda: marks(out).get(mark_name), mark_name)
            wait_for(  # the output channel's marker too: it is in before the next phase
                lambda: any(mark_name in m["name"] for m in lines(out, "marker")),
                f"the output line of {mark_name}",
            )
            wait_for(
                lambda: samples_after(out, t) >= then_samples,
                f"{then_samples} samples after {mark_name}",
            )

        wait_for(lambda: len(lines(out, "sample")) >= 3, "3 samples of the idle parent")
        say("spawn w1 64", "w1 up", 6)
        say("spawn w2 16", "w2 up", 6)
        say("stop w1", "w1 down", 4)
        say("stop w2", "w2 down", 3)
        ctl.write("quit\n")
    thread.join(timeout=120)
    assert not errors, errors
    assert result and result[0].returncode == 0
    return load_run(out), marks(out)


def test_process_tree_series_follow_the_phases(phased):
    run, found = phased
    samples = run.samples
    for name, low, high in (("w1", 64 * MiB, 200 * MiB), ("w2", 16 * MiB, 64 * MiB)):
        t_up, (pid, *_) = found[f"{name} up"]
        t_down, (_, total, spun, wall) = found[f"{name} down"]
        pid = int(pid)
        series = [(s["t_seconds"], p) for s in samples for p in s["processes"] if p["pid"] == pid]
        ts = [t for t, _ in series]
        # present in every sample while it lived, absent after it was joined
        alive = [s["t_seconds"] for s in samples if t_up <= s["t_seconds"] <= t_down]
        assert alive and set(alive) <= set(ts), f"{name} missing from samples while alive"
        assert all(t <= t_down + 0.05 for t in ts), f"{name} sampled after it ended"
        # not seen before it was started: the first sample that lists it was still being
        # taken then (samples are taken one after another: it ended before the next began)
        first = next(
            i for i, s in enumerate(samples) if any(p["pid"] == pid for p in s["processes"])
        )
        assert samples[first + 1]["t_seconds"] > found[f"{name} start"][0], name
        # RSS: what it touched, in every sample after it was ready
        rss = [p["rss_bytes"] for t, p in series if t >= t_up]
        assert rss and all(low <= r <= high for r in rss), (name, rss)
        # CPU: the recorded cumulative CPU never exceeds what the worker itself reported
        # at the end, and the last sample's is short of it by at most the unsampled tail
        cpu = [p["cpu_seconds"] for _, p in series]
        assert cpu == sorted(cpu)
        tail = t_down - ts[-1]
        assert cpu[-1] <= float(total) + 0.02
        assert float(total) - cpu[-1] <= tail + 0.05
        # the series' mean CPU % while it spun matches the worker's own CPU/wall ratio
        spinning = [p["cpu_percent"] for t, p in series if t_up + INTERVAL <= t <= t_down]
        measured = sum(spinning) / len(spinning)
        expected = 100 * float(spun) / float(wall)
        assert abs(measured - expected) <= 15 + 0.15 * expected, (name, measured, expected)
    # the parent only waits on the FIFO: idle
    root = run.meta["pid"]
    parent = [p["cpu_percent"] for s in samples[2:] for p in s["processes"] if p["pid"] == root]
    assert parent and sum(parent) / len(parent) < 10


def test_markers_from_mark_and_from_output_agree(phased):
    run, found = phased
    by_source: dict[str, dict[str, float]] = {"mark": {}, "output": {}}
    for m in run.markers:
        key = " ".join(m["name"].replace("phase ", "").split()[:2])
        by_source[m["source"]][key] = m["t_seconds"]
    phases = [("w1 start", "w1 up"), ("w2 start", "w2 up"), ("w1 down",), ("w2 down",)]
    assert set(by_source["mark"]) == {key for phase in phases for key in phase}
    assert set(by_source["output"]) == set(by_source["mark"])
    # the same moment on two channels: the output line is printed just after the mark and
    # read by the recorder before the test starts the next phase (it waits for both). No
    # bound in seconds: the recorder's reader may wait for the CPU.
    ends = [by_source["mark"][phase[0]] for phase in phases[1:]] + [run.end["t_seconds"]]
    for phase, end in zip(phases, ends):
        for key in phase:
            t = by_source["mark"][key]
            assert t - 0.001 <= by_source["output"][key] < end, key
            assert abs(found[key][0] - t) < 1e-3
    order = sorted(by_source["mark"], key=by_source["mark"].get)
    assert order == [key for phase in phases for key in phase]
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["processes_seen"] == 3  # the parent and its two workers
    # the ticks the recorder overran, as it counted them or as the gaps show (how many
    # depends on the load, not on the code)
    assert summary["samples_missed"] == max(run.end["samples_missed"], summary["samples_gaps"])


def test_mark_is_a_no_op_outside_a_recording(monkeypatch, tmp_path):
    monkeypatch.delenv("MLTOOLS_RECORD_MARKS", raising=False)
    mark("nothing")  # no file, no error
    target = tmp_path / "marks.jsonl"
    monkeypatch.setenv("MLTOOLS_RECORD_MARKS", str(target))
    mark("not created")  # the recorder makes the file; mark() never creates one
    assert not target.exists()
    target.touch()
    mark("eval")
    item = json.loads(target.read_text())
    assert item["name"] == "eval" and item["pid"] == os.getpid()
    assert abs(item["t_monotonic"] - time.monotonic()) < 5


# ------------------------------------------------------------------ the CLI: bad input


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ((), 2, "no command given"),
        (("--", "no-such-command-xyz"), 127, "command not found: no-such-command-xyz"),
        (("--pid", "4194303"), 4, "no process with pid 4194303"),
        (("-i", "nan", "--", "true"), 2, "'nan' is not a finite number"),
        (("-i", "-1", "--", "true"), 2, "-1.0 is not in the range"),
        (("-i", "0", "--", "true"), 2, "0.0 is not in the range"),
        (("--gpus", "x", "--", "true"), 2, "--gpus takes all, none or GPU indices"),
        (("--mark", "(", "--", "true"), 2, "--mark '(' is not a regular expression"),
        (("--pid", "1", "--", "true"), 2, "either --pid or a command"),
        (("python", "x.py"), 2, "put the command to record after `--`"),
    ],
)
def test_bad_input_is_one_line_and_its_code(cli, tmp_path, args, code, words):
    r = cli("record", "-o", str(tmp_path / "r"), *args)
    assert r.exit_code == code, r.stderr
    assert words in r.stderr
    assert "Traceback" not in r.stderr


def test_output_folder_rules(cli, tmp_path):
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep")
    r = cli("record", "-o", str(existing), "--gpus", "none", "--", "true")
    assert r.exit_code == 1 and "exists; not writing into it" in r.stderr and "--yes" in r.stderr
    assert not (existing / "samples.jsonl").exists()
    r = cli("record", "-o", str(existing), "--yes", "--gpus", "none", "--", "true")
    assert r.exit_code == 0, r.stderr
    assert (existing / "summary.json").is_file() and (existing / "mine.txt").read_text() == "keep"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, kind in ((fifo, "named pipe"), (Path("/dev/null"), "character device")):
        r = cli("record", "-o", str(target), "--yes", "--", "true")
        assert r.exit_code == 1 and f"is a {kind}" in r.stderr and "not a folder" in r.stderr


def test_exit_code_and_output_pass_through(run_mltools, tmp_path):
    out = tmp_path / "r"
    r = run_mltools("record", "-i", "0.1", "-o", str(out), "--gpus", "none", "--", sys.executable,
                    "-c", "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(7)")  # fmt: skip
    assert r.returncode == 7
    assert r.stdout == "to stdout\n"  # stdout is the command's alone
    assert "to stderr" in r.stderr and "recorded" in r.stderr and "exit 7" in r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 7
    # --gpus none: NVML is not even asked (by default this machine says it has no driver)
    assert summary["gpus"] == [] and summary["gpu_error"] is None


def test_json_summary_and_show_and_compare(run_mltools, cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out, n in ((a, 1), (b, 3)):
        r = run_mltools("record", "-i", "0.1", "-o", str(out), "--gpus", "none", "--json", "--",
                        sys.executable, "-c", f"import mltools; [mltools.mark('m') for _ in range({n})]")  # fmt: skip
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["exit_code"] == 0 and len(summary["markers"]) == n
    shown = cli("record", "show", str(b), "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["markers"][0]["name"] == "m"
    text = cli("record", "show", str(b))
    assert text.exit_code == 0 and f"into {b}/" in text.stdout and "markers: 3" in text.stdout
    both = cli("record", "compare", str(a), str(b), "--json")
    data = json.loads(both.stdout)
    assert data["a"] == str(a) and data["b"] == str(b)
    rows = {m["metric"]: m for m in data["metrics"]}
    assert (
        rows["samples"]["a"] >= 1
        and rows["samples"]["delta"] == rows["samples"]["b"] - rows["samples"]["a"]
    )
    plain = cli("record", "compare", str(a), str(b))
    assert plain.exit_code == 0 and "duration_seconds" in plain.stdout
    missing = cli("record", "show", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "no such recording" in missing.stderr
    not_run = tmp_path / "empty"
    not_run.mkdir()
    r = cli("record", "show", str(not_run))
    assert r.exit_code == 1 and "not a recording folder" in r.stderr


# ------------------------------------------------------------------ signals, SIGKILL, --pid

CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (print('child got SIGTERM', flush=True), sys.exit(143)))\n"
    "print('ready', flush=True)\n"
    "signal.pause()\n"
)


def _start_record(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltools", "record", "-i", "0.1", "-o", str(out), "--gpus", "none", *args],
        env=mltools_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, out


def test_sigterm_stops_the_child_and_leaves_complete_files(tmp_path):
    proc, out = _start_record(tmp_path, "--", sys.executable, "-c", CHILD)
    try:
        assert proc.stdout.readline() == "ready\n"
        wait_for(lambda: len(lines(out, "sample")) >= 3, "3 samples")
        child = lines(out, "meta")[0]["pid"]
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "child got SIGTERM" in stdout  # forwarded, as ddp-doctor run does
    assert (
        not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    )
    end = lines(out, "end")
    assert end and end[0]["reason"] == "interrupted" and end[0]["exit_code"] == 143
    assert json.loads((out / "summary.json").read_text())["samples"] >= 3
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
    # -i 0.1: one tick every 0.1 s from the first sample, each sampled or counted as missed:
    # as many as fit up to the last sample, and none past the end. (Not counted against the
    # end's time alone: the end line comes when the child is gone and the recorder gets the
    # CPU, and 0.5 s without it put that 5 ticks past the last one.)
    samples = lines(out, "sample")
    ticks = len(samples) + end[0]["samples_missed"]
    first, last = samples[0]["t_seconds"], samples[-1]["t_seconds"]
    assert (last - first) / 0.1 - 0.01 < ticks <= end[0]["t_seconds"] / 0.1 + 1.01, (ticks, end[0])
    assert "terminated by SIGTERM" in stderr


def _stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` has stopped (SIGSTOP is taken thread by thread)."""
    tasks = Path(f"/proc/{pid}/task")
    return all(
        (t / "stat").read_text().rsplit(")", 1)[1].split()[0] in "Tt" for t in tasks.iterdir()
    )


def test_sigkill_of_the_recorder_loses_at_most_one_interval(tmp_path, cli):
    """Each sample is on disk before the next is taken, so a SIGKILL loses at most the one
    in flight. Checked on events, not on the clock (a recorder that did not get the CPU for
    a while has lost nothing): the recorder is frozen at any moment and its file read; once
    it runs again, the samples it adds may include at most one taken before the freeze (a
    buffered log would bring back many: a flush every 10 samples failed 3 of 3); then it is
    SIGKILLed and its files still read."""
    proc, out = _start_record(tmp_path, "--", sys.executable, "-c", CHILD)
    try:
        assert proc.stdout.readline() == "ready\n"
        wait_for(lambda: len(lines(out, "sample")) >= 5, "5 samples")
        meta = lines(out, "meta")[0]
        child = meta["pid"]
        # Any moment will do, but not the one just after a write was seen (a log flushed
        # every few samples has nothing pending then): a few intervals on. (Not a wait for
        # anything: the check holds whenever the freeze comes.)
        time.sleep(0.25)
        frozen_at = time.monotonic() - meta["t0_monotonic"]  # (same clock as the samples')
        proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: _stopped(proc.pid), "the recorder to stop")
        on_disk = lines(out, "sample")
        proc.send_signal(signal.SIGCONT)
        wait_for(
            lambda: any(s["t_seconds"] > frozen_at for s in lines(out, "sample")),
            "a sample taken after the freeze",
        )
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.kill(child, signal.SIGKILL)
    samples = lines(out, "sample")
    assert samples[: len(on_disk)] == on_disk
    taken_before = [s for s in samples if s["t_seconds"] < frozen_at]
    assert len(taken_before) - len(on_disk) <= 1, (len(on_disk), len(taken_before))
    r = cli("record", "show", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["samples"] == len(samples)
    assert any("no end line" in note for note in summary["notes"])


def test_attach_to_a_running_tree_until_it_ends(tmp_path):
    target = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; c = subprocess.Popen(['sleep', '300']); print(c.pid, flush=True); "
         "sys.stdin.read(); c.kill(); c.wait()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        grandchild = int(target.stdout.readline())
        proc, out = _start_record(tmp_path, "--pid", str(target.pid))
        wait_for(lambda: len(lines(out, "sample")) >= 3, "3 samples")
        target.stdin.close()  # the job ends
        target.wait(timeout=30)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if target.poll() is None:
            target.kill()
    assert proc.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attached"] and summary["pid"] == target.pid
    assert {p["pid"] for p in summary["processes"]} == {target.pid, grandchild}
    assert lines(out, "end")[0]["reason"] == "exited"


def test_torchrun_tree_every_rank_and_worker(tmp_path):
    """Under torchrun: the agent, both ranks (RANK from their environment) and each rank's
    DataLoader worker (the rank of the process that started it) are all recorded."""
    from tests.ci_provides import require

    require("torch")
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltools", "record", "-i", "0.2", "-o", str(out), "--gpus", "none",
         "--mark", r"rank \d ready", "--", sys.executable, "-m", "torch.distributed.run",
         "--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port",
         str(free_port()), "--max-restarts", "0", str(Path(__file__).with_name("_record_ddp.py"))],
        env=mltools_env({"OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:

        def workers_seen() -> bool:
            ranks = {p.get("rank") for p in lines(out, "process") if p["name"] == "pt_data_worker"}
            return ranks == {0, 1} and len(lines(out, "sample")) >= 2

        try:
            wait_for(workers_seen, "both ranks' DataLoader workers in the samples", timeout=240)
        except AssertionError:
            proc.kill()
            seen = [(p["name"], p.get("rank")) for p in lines(out, "process")]
            samples = len(lines(out, "sample"))
            raise AssertionError(
                f"processes seen {seen}, {samples} samples; {proc.communicate()[1][-3000:]}"
            ) from None
        wait_for(
            lambda: len((out / "marks.jsonl").read_text().splitlines()) == 2,
            "both ranks' marks",
            timeout=60,
        )
        # and both ranks' "ready" lines, read from the job's output, before rank 0 goes on (a
        # CI run under load once ended with one of them: the wait is on the event, not a time)
        wait_for(
            lambda: sum(m["source"] == "output" for m in lines(out, "marker")) == 2,
            "both ranks' ready lines",
            timeout=120,
        )
        _, stderr = proc.communicate("go\n", timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    run = load_run(out)
    procs = run.processes
    ranks = {
        p["rank"]: p
        for p in procs.values()
        if p["rank"] is not None and p["name"] != "pt_data_worker"
    }
    assert set(ranks) == {0, 1}
    agent = procs[run.meta["pid"]]
    assert agent["rank"] is None and all(p["ppid"] == agent["pid"] for p in ranks.values())
    workers = [p for p in procs.values() if p["name"] == "pt_data_worker"]
    assert sorted(w["rank"] for w in workers) == [0, 1]
    assert all(procs[w["ppid"]]["rank"] == w["rank"] for w in workers)  # a rank's own worker
    by_source = {(m["source"], m.get("rank")) for m in run.markers}
    assert {("mark", 0), ("mark", 1)} <= by_source
    assert sum(1 for m in run.markers if m["source"] == "output") == 2
    summary = json.loads((out / "summary.json").read_text())
    assert [r["rank"] for r in summary["ranks"]] == [0, 1]


# The job ends once the recording has filled the small disk: no block left and the log's
# last block used up to its end, so the recorder's next write (a sample, or the end line)
# finds no room, however long the recorder waits for the CPU. (A free block count of 0
# alone is not that: appends go on into the last block's tail.)
FILL_THEN_EXIT = """
import os, sys, time
folder = sys.argv[1]
log = os.path.join(folder, "run", "samples.jsonl")
while True:
    disk = os.statvfs(folder)
    size = os.path.getsize(log) if os.path.exists(log) else 1
    if disk.f_bavail == 0 and size % disk.f_bsize == 0:
        break
    time.sleep(0.02)  # (polls for that state)
print("disk full", flush=True)
sys.exit(5)
"""


def test_full_disk_stops_the_samples_not_the_job(tmp_path, cli):
    """Samples on a 64 KiB tmpfs: it fills; the job runs on and its exit code comes back,
    the samples written so far stay readable, and stderr says what was not written."""
    from tests.ci_provides import require

    require("tmpfs mounts")
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        out = disk / "run"
        r = subprocess.run(
            [sys.executable, "-m", "mltools", "record", "-i", "0.02", "-o", str(out), "--gpus",
             "none", "--", sys.executable, "-c", FILL_THEN_EXIT, str(disk)],
            env=mltools_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 5, r.stderr
        assert r.stdout == "disk full\n"
        assert "samples stopped being written: no space left on device" in r.stderr
        assert "Traceback" not in r.stderr and "recorded" in r.stderr
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no half files
        # the files the end could not write are named, and no report is announced then
        written = (out / "report.html").is_file()
        assert ("report.html not written" in r.stderr) is not written
        assert ("\nreport: " in r.stderr) is written
        samples = lines(out, "sample")
        assert len(samples) >= 5
        shown = cli("record", "show", str(out), "--json")
        assert shown.exit_code == 0 and json.loads(shown.stdout)["samples"] == len(samples)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_ctrl_c_ends_an_attached_recording_and_leaves_the_job(tmp_path):
    """--pid: Ctrl-C is how an attached recording is stopped: exit 0, files written, and
    the job it watched is left running."""
    job = subprocess.Popen(["sleep", "300"])
    try:
        proc, out = _start_record(tmp_path, "--pid", str(job.pid))
        wait_for(lambda: len(lines(out, "sample")) >= 3, "3 samples")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        assert job.poll() is None  # still running
        assert lines(out, "end")[0]["reason"] == "interrupted"
        assert json.loads((out / "summary.json").read_text())["processes"][0]["pid"] == job.pid
    finally:
        job.kill()
        job.wait()


def test_the_command_sees_the_terminal_and_keeps_its_line_buffering(tmp_path):
    """Without --mark nothing reads the command's output, so it gets mltools' own stdout:
    on a terminal, a terminal (Python line-buffers it, progress bars and colours stay);
    piped, the pipe. With --mark its output goes through record, line by line."""
    from tests._pty import mltools_argv, run_tty

    probe = "import sys; print('stdout is a tty:', sys.stdout.isatty())"
    tty = run_tty(
        mltools_argv(
            "record",
            "-o",
            str(tmp_path / "r1"),
            "--gpus",
            "none",
            "--",
            sys.executable,
            "-c",
            probe,
        ),
        columns=100,
    )
    assert "stdout is a tty: True" in tty.stdout, tty.stdout
    marked = run_tty(
        mltools_argv(
            "record", "-o", str(tmp_path / "r2"), "--gpus", "none", "--mark", "never", "--",
            sys.executable, "-c", probe,
        ),
        columns=100,
    )  # fmt: skip
    assert "stdout is a tty: False" in marked.stdout, marked.stdout
    piped = subprocess.run(
        [sys.executable, "-m", "mltools", "record", "-o", str(tmp_path / "r3"), "--gpus", "none", "--",
         sys.executable, "-c", probe],
        capture_output=True, text=True, env=mltools_env(), timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "stdout is a tty: False\n"
