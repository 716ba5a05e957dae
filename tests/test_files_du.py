"""`mltools du` / `disk_usage` against real trees and against GNU du."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mltools.errors import ExitCode
from mltools.files import disk_usage


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "big").mkdir(parents=True)
    (root / "small" / "deep").mkdir(parents=True)
    (root / "big" / "weights.bin").write_bytes(b"\1" * 300_000)
    (root / "small" / "a.txt").write_bytes(b"a" * 1000)
    (root / "small" / "deep" / "b.txt").write_bytes(b"b" * 5000)
    os.link(root / "big" / "weights.bin", root / "small" / "weights-link.bin")
    os.symlink("/usr", root / "usr-link")
    with open(root / "sparse.img", "wb") as f:
        f.truncate(10_000_000)
    return root


def gnu_du(path: Path, *extra: str) -> int:
    out = subprocess.run(
        ["du", "-sx", "-B1", *extra, str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[0])


def test_totals_match_gnu_du(tree):
    (report,) = disk_usage(tree)
    assert report.disk_bytes == gnu_du(tree)
    assert report.apparent_bytes == gnu_du(tree, "--apparent-size")
    assert report.files == 5  # 4 regular + the symlink itself; the hard link once
    assert report.hardlinks_counted_once == 1
    assert report.dirs == 3


def test_sparse_file_apparent_vs_disk(tree):
    (report,) = disk_usage(tree, top=10)
    sparse = next(e for e in report.biggest_files if e.path.endswith("sparse.img"))
    assert sparse.apparent_bytes == 10_000_000
    assert sparse.disk_bytes < 100_000


def test_biggest_dirs_sorted_and_depth(tree):
    (report,) = disk_usage(tree, depth=1)
    names = [os.path.relpath(e.path, tree) for e in report.biggest_dirs]
    assert sorted(names) == ["big", "small"]
    # the hard-linked 300 kB is charged to whichever directory the walk met first, once
    assert sum(e.apparent_bytes >= 300_000 for e in report.biggest_dirs) == 1
    (deeper,) = disk_usage(tree, depth=2)
    assert "small/deep" in {os.path.relpath(e.path, tree) for e in deeper.biggest_dirs}
    assert report.biggest_dirs[0].disk_bytes >= report.biggest_dirs[1].disk_bytes


def test_df_numbers(tree):
    (report,) = disk_usage(tree)
    vfs = os.statvfs(tree)
    assert report.df.total_bytes == vfs.f_blocks * vfs.f_frsize
    assert 0 < report.df.used_bytes <= report.df.total_bytes
    assert os.path.ismount(report.df.mount_point)


def test_cli_json(cli, tree):
    result = cli("du", str(tree), "--files", "--top", "2", "--json")
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)["paths"]
    assert item["disk_bytes"] == gnu_du(tree)
    assert set(item["filesystem"]) == {
        "mount_point",
        "total_bytes",
        "used_bytes",
        "free_bytes",
        "used_percent",
    }
    names = [Path(f["path"]).name for f in item["biggest_files"]]
    assert names[0] in ("weights.bin", "weights-link.bin") and names[1] == "b.txt"
    assert len(item["biggest_files"]) == 2
    assert item["hardlinks_counted_once"] == 1


def test_cli_table_and_odd_names(cli, tmp_path):
    root = tmp_path / "r"
    (root / "-x").mkdir(parents=True)
    (root / "-x" / "new\nline").write_bytes(b"z" * 10_000)
    result = cli("du", str(root), "--files")
    assert result.exit_code == 0
    assert "new\\nline" in result.stdout and "biggest directories" in result.stdout
    assert "filesystem:" in result.stdout


def test_missing_path(cli, tmp_path):
    result = cli("du", str(tmp_path / "nope"))
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("mltools: error: no such file or directory")


def test_single_file(tree):
    (report,) = disk_usage(tree / "big" / "weights.bin")
    assert report.apparent_bytes == 300_000 and report.files == 1


def _deep_and_wide(root: Path) -> Path:
    """Hard links across directories, a sparse file, 300 levels deep, a wide directory."""
    base = root / "mix"
    deep = base / "deep"
    deep.mkdir(parents=True)
    cur = deep
    for i in range(300):
        cur = cur / f"d{i}"
        cur.mkdir()
        (cur / "f").write_bytes(b"x" * (i % 7))
    wide = base / "wide"
    for i in range(120):
        (wide / f"w{i:03d}").mkdir(parents=True)
        (wide / f"w{i:03d}" / "data").write_bytes(b"y" * (i * 37))
    first = wide / "w010" / "data"
    for i in (3, 50, 99):
        os.link(first, wide / f"w{i:03d}" / "link")
    with open(base / "sparse.img", "wb") as f:
        f.truncate(5_000_000)
        f.seek(1_000_000)
        f.write(b"z" * 10_000)
    return base


@pytest.mark.parametrize("threads", [2, 4, 16])
def test_threaded_walk_is_the_serial_walk_and_gnu_du(tmp_path, threads):
    base = _deep_and_wide(tmp_path)
    (serial,) = disk_usage(base, threads=1, depth=3, top=15)
    (threaded,) = disk_usage(base, threads=threads, depth=3, top=15)
    serial.df = threaded.df = None  # the filesystem's free space moves between two calls
    assert threaded == serial
    assert threaded.disk_bytes == gnu_du(base)
    assert threaded.apparent_bytes == gnu_du(base, "--apparent-size")
    assert threaded.hardlinks_counted_once == 3
    assert threaded.dirs == 300 + 1 + 120 + 1
    skip = ["w01*", "deep/d0/d1/d2"]
    (serial,) = disk_usage(base, threads=1, exclude=skip)
    (threaded,) = disk_usage(base, threads=threads, exclude=skip)
    serial.df = threaded.df = None
    assert threaded == serial
    assert threaded.dirs == 3 + 1 + 110  # deep, d0, d1; wide; its w0xx but w010-w019


def test_threaded_walk_reads_directories_at_once(tmp_path, monkeypatch):
    """Two threads must be inside a directory open together: a barrier proves it (a serial
    walk would break it), with no sleep and no timing."""
    import threading

    from mltools.files import du

    base = _deep_and_wide(tmp_path)
    barrier = threading.Barrier(2, timeout=60)
    met = []
    real = du.open_dir

    def open_dir(name, dir_fd, *, follow=False):  # type: ignore[no-untyped-def]
        if name.startswith("w0") and not met:
            barrier.wait()  # BrokenBarrierError if no second thread ever arrives
            met.append(name)
        return real(name, dir_fd, follow=follow)

    monkeypatch.setattr(du, "open_dir", open_dir)
    (report,) = disk_usage(base, threads=4)
    assert met and report.disk_bytes == gnu_du(base)


def test_unreadable_directory_reported_in_walk_order(tmp_path, monkeypatch):
    """Both walks report unreadable folders alike, in walk order. Root reads a mode-000
    folder anyway, so as root the EACCES an unprivileged user gets from opening it is
    injected at os.open, the call both walks make."""
    base = _deep_and_wide(tmp_path)
    locked = {"w005", "w090"}
    if os.geteuid() == 0:
        real_open = os.open

        def open_as_nobody(path, flags, mode=0o777, *, dir_fd=None):
            if os.path.basename(os.fsdecode(path)) in locked and flags & os.O_DIRECTORY:
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, flags, mode, dir_fd=dir_fd)

        monkeypatch.setattr(os, "open", open_as_nobody)
    for name in locked:
        (base / "wide" / name).chmod(0)
    try:
        (serial,) = disk_usage(base, threads=1)
        (threaded,) = disk_usage(base, threads=4)
    finally:
        for name in locked:
            (base / "wide" / name).chmod(0o755)
    assert threaded.errors == serial.errors and len(serial.errors) == 2
    assert {e.split(":")[0].rsplit("/", 1)[1] for e in serial.errors} == locked


@pytest.mark.parametrize(("limit", "walker"), [(0.0, "_walk_parallel"), (1e9, "_walk")])
def test_threads_only_where_the_storage_is_slow(tmp_path, monkeypatch, limit, walker):
    """``threads=None``: the probe's verdict picks the walk (slow: threads; cached: one)."""
    from mltools.files import du

    base = _deep_and_wide(tmp_path)
    monkeypatch.setattr(du, "SLOW_STAT_S", limit)
    used = []
    for name in ("_walk_parallel", "_walk"):
        real = getattr(du, name)
        monkeypatch.setattr(du, name, lambda *a, _r=real, _n=name: used.append(_n) or _r(*a))
    (report,) = disk_usage(base)
    assert used[0] == walker
    assert report.disk_bytes == gnu_du(base)
    assert du.slow_storage(str(base)) is (limit == 0.0)


def _nested(tmp_path: Path) -> Path:
    """``_deep_and_wide`` two single folders down: the walk has one folder to split first."""
    top = tmp_path / "top"
    _deep_and_wide(top / "a" / "b")
    return top


@pytest.mark.parametrize("processes", [2, 3, 4])
@pytest.mark.parametrize("serial_entries", [1, 40])
def test_forked_walk_is_the_serial_walk_and_gnu_du(
    tmp_path, monkeypatch, processes, serial_entries
):
    """Workers forked after the first ``serial_entries`` entries give the serial walk's report
    (the hard links charged alike, ties alike), and GNU du's bytes, with and without
    --exclude."""
    from mltools.files import du_walk

    base = _deep_and_wide(tmp_path)
    forks = []
    real = du_walk._forked
    monkeypatch.setattr(du_walk, "_forked", lambda *a: forks.append(1) or real(*a))
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", serial_entries)
    for skip in ([], ["w01*", "deep/d0/d1/d2"]):
        (serial,) = disk_usage(base, threads=1, processes=1, depth=3, top=15, exclude=skip)
        (forked,) = disk_usage(base, threads=1, processes=processes, depth=3, top=15, exclude=skip)
        serial.df = forked.df = None
        assert forked == serial
    assert len(forks) == 2
    assert forked.disk_bytes == gnu_du(base, "--exclude=w01*", "--exclude=d2")
    (whole,) = disk_usage(base, threads=1, processes=processes)
    assert whole.disk_bytes == gnu_du(base)
    assert whole.apparent_bytes == gnu_du(base, "--apparent-size")
    assert whole.hardlinks_counted_once == 3
    assert whole.dirs == 300 + 1 + 120 + 1


def _gift_always(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A worker with folders waits, before its first one, until a worker asks for some: the
    request (an event, not a time) makes the hand-over happen on every run."""
    import time

    from mltools.files import du_walk

    real_run = du_walk._Walker.run
    started = []

    def run(self, until=None, flags=None, give=None):  # type: ignore[no-untyped-def]
        if flags is not None and self.stack and not started:
            started.append(1)  # this process's first batch
            deadline = time.monotonic() + 60
            while not flags[self.worker] and time.monotonic() < deadline:
                time.sleep(0.001)
        return real_run(self, until, flags, give)

    monkeypatch.setattr(du_walk._Walker, "run", run)
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)


def test_idle_worker_gets_part_of_a_busy_workers_folders(tmp_path, monkeypatch):
    """A worker with nothing to do asks; the busy one gives away its shallowest pending
    folders (their parent's fd passed over the socket)."""
    from mltools.files import du_walk

    base = _nested(tmp_path)
    log = tmp_path / "gifts.log"
    real_take = du_walk._Walker.take_gift

    def take_gift(self, data, fds):  # type: ignore[no-untyped-def]
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {len(fds)}\n")
        return real_take(self, data, fds)

    monkeypatch.setattr(du_walk._Walker, "take_gift", take_gift)
    _gift_always(monkeypatch)
    (forked,) = disk_usage(base, threads=1, processes=2, depth=4, top=15)
    assert log.read_text().strip(), "no worker was given folders"
    (serial,) = disk_usage(base, threads=1, processes=1, depth=4, top=15)
    serial.df = forked.df = None
    assert forked == serial
    assert forked.disk_bytes == gnu_du(base)


def test_a_folder_handed_over_but_lost_is_an_error(tmp_path, monkeypatch):
    """The fds of a hand-over cut off (MSG_CTRUNC: the receiver's fd table was full): the
    walk fails in one line (a total missing folders would be wrong), no worker is left."""
    import socket

    from mltools.errors import MltoolsError

    base = _nested(tmp_path)
    parent = os.getpid()
    real_recv = socket.recv_fds

    def recv_fds(sock, bufsize, maxfds, flags=0):  # type: ignore[no-untyped-def]
        data, fds, got, addr = real_recv(sock, bufsize, maxfds, flags)
        if os.getpid() != parent and data[:1] == b"W":
            got |= socket.MSG_CTRUNC
        return data, fds, got, addr

    monkeypatch.setattr(socket, "recv_fds", recv_fds)
    _gift_always(monkeypatch)
    with pytest.raises(MltoolsError, match=r"du walk worker \d+ ended early"):
        disk_usage(base, threads=1, processes=2)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_forked_walk_reports_unreadable_folders_in_walk_order(tmp_path, monkeypatch):
    from mltools.files import du_walk

    base = _deep_and_wide(tmp_path)
    locked = {"w005", "w090", "d7"}
    real_open = os.open

    def open_as_nobody(path, flags, mode=0o777, *, dir_fd=None):  # type: ignore[no-untyped-def]
        if os.path.basename(os.fsdecode(path)) in locked and flags & os.O_DIRECTORY:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", open_as_nobody)
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)
    (serial,) = disk_usage(base, threads=1, processes=1)
    (forked,) = disk_usage(base, threads=1, processes=3)
    assert forked.errors == serial.errors and len(serial.errors) == 3
    assert {e.split(":")[0].rsplit("/", 1)[1] for e in serial.errors} == locked
    assert (forked.disk_bytes, forked.files, forked.dirs) == (
        serial.disk_bytes,
        serial.files,
        serial.dirs,
    )


def test_a_worker_that_dies_is_an_error_and_leaves_no_process(tmp_path, monkeypatch):
    from mltools.files import du_walk

    base = _deep_and_wide(tmp_path)
    parent = os.getpid()
    real_step = du_walk._Walker.step

    def step(self):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            os._exit(3)  # a worker killed mid-walk
        return real_step(self)

    monkeypatch.setattr(du_walk._Walker, "step", step)
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)
    from mltools.errors import MltoolsError

    with pytest.raises(MltoolsError, match=r"du walk worker \d+ ended early"):
        disk_usage(base, threads=1, processes=2)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every worker reaped


@pytest.mark.parametrize(
    ("cpus", "loadavg", "expected"),
    [
        (64, "0.00 0.00 0.00 1/300 9", 4),  # idle: up to MAX_PROCESSES
        (2, "0.10 0.10 0.10 1/300 9", 2),  # only this process runs: both cores
        (2, "1.50 1.00 1.00 2/300 9", 2),  # one other task: one idle core, half the other
        (2, "4.50 4.00 3.00 3/300 9", 1),  # both cores busy: one walk, no fork
        (4, "2.00 2.00 2.00 3/300 9", 3),  # two others on four cores
        (4, "9.00 9.00 9.00 12/300 9", 1),  # all busy
        (1, "0.00 0.00 0.00 1/300 9", 1),  # pinned to one CPU (taskset -c 0)
        (2, "unreadable", 2),  # no /proc: the CPUs alone
    ],
)
def test_default_processes_count_the_idle_cpus(tmp_path, monkeypatch, cpus, loadavg, expected):
    from mltools.files import du

    (tmp_path / "loadavg").write_text(loadavg)
    monkeypatch.setattr(du, "LOADAVG", str(tmp_path / "loadavg"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert du.default_processes() == expected


# `mltools` with two walk workers whatever the machine's load (default_processes counts
# only idle CPUs)
FORK_TWO = (
    "import sys\n"
    "from mltools.files import du\n"
    "du.default_processes = lambda: 2\n"
    "from mltools.cli.app import main\n"
    "sys.argv[0] = 'mltools'\n"
    "main()\n"
)


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["TERM", "HUP", "INT"],
)
def test_signalled_forked_du_exits_cleanly(sig, code):
    """SIGTERM/SIGHUP/Ctrl-C to the process group once du's workers exist: one line, exit
    128+N (130), and no worker left. /usr is the big tree (tens of thousands of entries)."""
    import psutil

    from tests.conftest import mltools_env

    outcomes = []
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", FORK_TWO, "du", "/usr", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=mltools_env(),
        )
        parent = psutil.Process(proc.pid)
        workers: list[int] = []
        while proc.poll() is None and len(workers) < 2:  # the event: the workers exist
            with contextlib.suppress(psutil.NoSuchProcess):
                workers = [c.pid for c in parent.children()]
        if workers:
            os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=120)  # a hang detector, not a speed limit
        if not workers:
            continue  # done before it forked: nothing to test this round
        outcomes.append(proc.returncode)
        procs = []
        for pid in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(pid))
        _, alive = psutil.wait_procs(procs, timeout=60)
        assert [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
        assert "Traceback" not in err.decode(), err
        assert err.decode().strip().startswith("mltools: "), err
    assert outcomes and set(outcomes) <= {code, 0}, outcomes  # 0: it finished first


def test_no_process_left_to_fork_walks_on_alone(tmp_path, monkeypatch):
    """fork() failing (EAGAIN: the user's process limit) after a first worker started: that
    worker is stopped and this process finishes the walk; the report is the serial one."""
    import errno

    from mltools.files import du_walk

    base = _deep_and_wide(tmp_path)
    real_fork = os.fork
    forks = []

    def fork():  # type: ignore[no-untyped-def]
        if forks:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)
    (forked,) = disk_usage(base, threads=1, processes=3, depth=3, top=15)
    monkeypatch.setattr(os, "fork", real_fork)
    (serial,) = disk_usage(base, threads=1, processes=1, depth=3, top=15)
    serial.df = forked.df = None
    assert forks == [1] and forked == serial
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the one worker started was reaped


def test_forked_walk_on_hostile_names(tmp_path, monkeypatch):
    """Undecodable bytes, newlines, spaces and a leading dash in folder and file names
    travel through the workers' records and gifts intact: the report is the serial one
    and the bytes are GNU du's."""
    from mltools.files import du_walk

    base = tmp_path / "odd"
    names = [b"caf\xe9", b"new\nline", b" lead space", b"-rf", b"\xff\xfe", b"x" * 255]
    for i, raw in enumerate(names):
        for j, sub in enumerate(names):
            folder = os.path.join(os.fsencode(base), raw, sub)
            os.makedirs(folder)
            with open(os.path.join(folder, raw), "wb") as f:
                f.write(b"z" * (i * 100 + j))
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)
    (serial,) = disk_usage(base, threads=1, processes=1, depth=2, top=50)
    (forked,) = disk_usage(base, threads=1, processes=3, depth=2, top=50)
    serial.df = forked.df = None
    assert forked == serial
    assert forked.dirs == len(names) * (len(names) + 1)
    assert os.fsencode(forked.biggest_files[0].path).endswith(b"/" + b"x" * 255)
    assert forked.disk_bytes == gnu_du(base)
    assert forked.apparent_bytes == gnu_du(base, "--apparent-size")


@pytest.mark.parametrize("processes", [1, 3])
def test_folder_swapped_for_a_symlink_mid_walk_is_not_followed(tmp_path, monkeypatch, processes):
    """A folder replaced by a symlink to a big outside tree just before the walk opens it
    (in whichever worker): the open fails (O_NOFOLLOW), it is reported, and nothing
    outside the root is counted."""
    from mltools.files import du_walk

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"o" * 2_000_000)
    base = tmp_path / "base"
    for i in range(20):
        (base / "a" / f"s{i:02d}").mkdir(parents=True)
        (base / "a" / f"s{i:02d}" / "f").write_bytes(b"i" * 1000)
    real_step = du_walk._Walker.step

    def step(self):  # type: ignore[no-untyped-def]
        _, name, _ = self.stack[-1]
        if name == "s07" and not (base / "a" / "moved").exists():
            (base / "a" / "s07").rename(base / "a" / "moved")
            (base / "a" / "s07").symlink_to(outside)
        return real_step(self)

    monkeypatch.setattr(du_walk._Walker, "step", step)
    monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)
    (report,) = disk_usage(base, threads=1, processes=processes)
    assert [e.split(":")[0].rsplit("/", 1)[1] for e in report.errors] == ["s07"]
    assert report.apparent_bytes < 1_000_000  # big.bin is not in it
    assert report.dirs == 1 + 19  # a and the 19 folders left; s07 is gone, moved not listed


def test_forked_walk_stays_on_one_filesystem(tmp_path, monkeypatch):
    """tmpfs mounts inside the tree, reached by whichever worker: not entered by default
    (du -x), entered with one_file_system=False; the serial walk's report both ways."""
    from mltools.files import du_walk
    from tests.ci_provides import require

    require("tmpfs mounts")
    base = _deep_and_wide(tmp_path)
    mounts = [base / "wide" / f"w{i:03d}" / "mnt" for i in (4, 60, 111)]
    for point in mounts:
        point.mkdir()
    done = []
    try:
        for point in mounts:
            subprocess.run(["mount", "-t", "tmpfs", "none", str(point)], check=True)
            done.append(point)
            (point / "big.bin").write_bytes(b"m" * 1_000_000)
        monkeypatch.setattr(du_walk, "SERIAL_ENTRIES", 1)
        for one_fs in (True, False):
            (serial,) = disk_usage(base, processes=1, threads=1, one_file_system=one_fs)
            (forked,) = disk_usage(base, processes=3, threads=1, one_file_system=one_fs)
            serial.df = forked.df = None
            assert forked == serial
        (alone,) = disk_usage(base, processes=3, threads=1)
        assert alone.disk_bytes == gnu_du(base)  # du -sx
        assert forked.apparent_bytes - alone.apparent_bytes >= 3_000_000
    finally:
        for point in done:
            subprocess.run(["umount", str(point)], check=True)
