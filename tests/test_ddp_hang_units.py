"""Fast tests of hang's progress tracking, rank accounting, verdicts and offline flight recorder.

No torch here: ranks are plain Python processes under a fake launcher (a script
named ``torchrun``), and progress is fed to the tracker directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mltools import _procfs
from mltools.ddp import flight_recorder as fr
from mltools.ddp import hang, hang_hosts, hang_sampling, hang_signatures, pyspy
from mltools.ddp.pyspy import Frame, ThreadStack
from mltools.errors import InputError, UsageError
from tests.conftest import read_line, usage_error

USER = "/home/u/train.py"
C10D = "/usr/lib/python3.11/site-packages/torch/distributed/distributed_c10d.py"


def _threads(pid: int, *frames: tuple[str, str, int], active: bool = False) -> list[ThreadStack]:
    return [ThreadStack(1, "MainThread", pid, active, False, [Frame(*f) for f in frames])]


def _tracker(pid: int = 4242) -> hang_sampling.Tracker:
    st = _procfs.ProcStat(pid, "python", "S", 1, 100, 0.0)
    r = hang.RankProcess(pid=pid, rank=0, start_ticks=st.start_ticks)
    return hang_sampling.Tracker(r), st


# ------------------------------------------------------------ progress


def test_same_line_with_cpu_is_progress_not_a_hang():
    """A loop that sits on one line in every sample but burns CPU is working."""
    t, st = _tracker()
    for i in range(5):
        t.observe(i * 0.5, st, 0.01 * i, _threads(4242, ("step", USER, 10)))
    state = t.state(window=6.0, native=False)
    assert state.state == "progressing"
    assert state.evidence.distinct_stacks == 1 and state.evidence.progress_events == 4
    assert t.decided(2.0, 6.0)


def test_same_line_without_cpu_is_stuck_only_after_the_window():
    t, st = _tracker()
    for i in range(4):
        t.observe(i * 1.0, st, 0.0001, _threads(4242, ("load", USER, 9)))
    assert not t.decided(3.0, 6.0)
    assert t.state(window=6.0, native=False).state == "still"
    for i in range(4, 8):
        t.observe(i * 1.0, st, 0.0001 + i * 1e-5, _threads(4242, ("load", USER, 9)))
    state = t.state(window=6.0, native=False)
    assert state.state == "stuck" and t.decided(7.0, 6.0)
    assert state.evidence.text() == "same frame for 7.0 s, 0.000 s CPU, idle"


def test_tiny_cpu_bursts_add_up_to_progress():
    """A paced loop (long sleeps, a millisecond of work each) is not stuck."""
    t, st = _tracker()
    for i in range(12):
        t.observe(i * 0.5, st, 0.0006 * i, _threads(4242, ("main", USER, 30)))
    assert t.state(window=6.0, native=False).state == "progressing"


def test_busy_in_one_c_call_is_busy():
    t, st = _tracker()
    for i in range(8):
        t.observe(i * 1.0, st, 0.9 * i, _threads(4242, ("matmul", USER, 5), active=True))
    assert t.state(window=6.0, native=False).state == "busy"


def test_a_rank_that_vanishes_is_exited_never_busy():
    t, st = _tracker()
    t.observe(0.0, st, 0.0, _threads(4242, ("step", USER, 10)))
    t.observe(0.5, None, None, None)
    state = t.state(window=6.0, native=False)
    assert state.state == "exited"
    reused = _procfs.ProcStat(4242, "python", "S", 1, 999, 0.0)  # same pid, another process
    t2, st2 = _tracker()
    t2.observe(0.0, st2, 0.0, _threads(4242, ("step", USER, 10)))
    t2.observe(0.5, reused, 0.0, _threads(4242, ("other", USER, 1)))
    assert t2.state(window=6.0, native=False).state == "exited"


def test_native_frames_are_detail_only():
    frames = [
        Frame("read", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, native=True),
        Frame("os_read", "/usr/lib/libpython3.11.so", 0, native=True),
        Frame("blocked_read", USER, 60),
        Frame("main", USER, 100),
    ]
    assert hang.signature(frames) == (None, None, "train.py:60 (blocked_read)")
    t, st = _tracker()
    th = [ThreadStack(1, None, 4242, False, False, frames)]
    t.observe(0.0, st, 0.0, th)
    state = t.state(window=6.0, native=True)
    assert state.native == ["read (libc.so.6)", "os_read (libpython3.11.so)"]
    assert state.stack == ["train.py:60 (blocked_read)", "train.py:100 (main)"]
    assert hang_signatures.short_symbol("f<int, std::vector<x<y>>>::g(a<b>)") == "f<...>::g(a<...>)"


def test_pyspy_active_flag_and_native_marker_are_parsed():
    payload = json.dumps(
        [
            {
                "thread_id": 1, "os_thread_id": 7, "active": True, "owns_gil": True,
                "frames": [
                    {"name": "read", "filename": "/lib/libc.so.6", "module": "/lib/libc.so.6", "line": 0},
                    {"name": "f", "filename": "/x/t.py", "module": None, "line": 3},
                ],
            }
        ]
    )  # fmt: skip
    (th,) = pyspy._parse(payload)
    assert th.active is True
    assert [f.native for f in th.frames] == [True, False]
    assert [f.name for f in th.python_frames] == ["f"]


# ------------------------------------------------------------ verdicts


def _st(rank, state, frames=(("step", USER, 10),), **kw):
    collective, call, frame = hang.signature([Frame(*f) for f in frames])
    return hang.RankState(rank, 1000 + rank, state, collective, call, frame, **kw)


WAIT = (("all_reduce", C10D, 3252), ("sync", USER, 56))


def test_verdicts_for_the_new_states():
    assert hang.verdict([_st(0, "progressing"), _st(1, "busy")])[1] == "progressing"
    stopped = _st(1, "stopped", detail="stopped (state T: SIGSTOP or job control)")
    sentence, kind, culprits = hang.verdict([_st(0, "stuck", WAIT), stopped])
    assert (kind, culprits) == ("stopped", [1])
    assert "kill -CONT 1001" in sentence
    unreadable = _st(1, "unreadable", error="permission denied")
    assert hang.verdict([_st(0, "stuck", WAIT), unreadable])[1:] == ("unreadable", [1])
    missing = hang.RankState(1, None, "missing", None, None, None, detail="local rank 1 of 2 gone")
    sentence, kind, culprits = hang.verdict([_st(0, "stuck", WAIT), missing])
    assert (kind, culprits) == ("exited", [1])
    assert sentence.startswith("rank 1 is missing (local rank 1 of 2 gone) while rank 0 waits")
    ended = [hang.RankState(r, 1000 + r, "exited", None, None, None) for r in (0, 1)]
    assert hang.verdict(ended)[1:] == ("ended", [])


def test_vanished_ranks_never_give_a_contradictory_deadlock():
    """The old bug: ranks whose samples failed because they exited were 'busy ... a deadlock'."""
    states = [
        hang.RankState(0, 1000, "exited", None, None, None, error="process 1000 exited"),
        hang.RankState(1, 1001, "exited", None, None, None, error="process 1001 exited"),
    ]
    sentence, kind, _ = hang.verdict(states)
    assert kind == "ended" and "deadlock" not in sentence and "busy" not in sentence


def test_hosts_verdict_names_the_host_and_unseen_ranks():
    states = [_st(r, "stuck", WAIT, host="node-a") for r in (0, 1)]
    states += [_st(2, "stuck", WAIT, host="node-b"), _st(3, "stuck", host="node-b")]
    sentence, kind, culprits = hang.verdict(states)
    assert (kind, culprits) == ("odd_rank_stuck", [3])
    assert sentence.startswith("rank 3 on node-b is stuck at train.py:10 (step)")
    unseen = [hang.RankState(r, None, "unseen", None, None, None, detail="not on the hosts "
              "that answered (node-a)") for r in (2, 3)]  # fmt: skip
    sentence, kind, culprits = hang.verdict(states[:2] + unseen)
    assert kind == "all_waiting" and culprits == []
    assert "ranks 2-3 are not on the hosts that answered (node-a)" in sentence


def test_remote_json_round_trips_into_rank_states():
    state = _st(1, "stuck", WAIT, host=None, world_size=2, job="x|127.0.0.1|29500")
    state.evidence = hang.Evidence(samples=12, still_seconds=6.5, cpu_seconds=0.0)
    import dataclasses

    back = hang_hosts._state_from_dict(json.loads(json.dumps(dataclasses.asdict(state))), "n1")
    assert back.host == "n1" and back.evidence.still_seconds == 6.5
    assert (back.rank, back.collective, back.frame) == (1, "all_reduce", "train.py:56 (sync)")


def test_slurm_hosts_from_scontrol(tmp_path, monkeypatch):
    fake = tmp_path / "scontrol"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$2" = job ]; then echo "JobId=42 JobName=train NodeList=gpu[01-02] NumNodes=2"; '
        "else echo gpu01; echo gpu02; fi\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert hang_hosts.slurm_hosts("42") == ["gpu01", "gpu02"]
    with pytest.raises(UsageError):
        hang_hosts.slurm_hosts("42; rm -rf /")


def test_hang_cli_rejects_bad_host_option_combinations(cli):
    both = cli("ddp-doctor", "hang", "--hosts", "a", "--slurm-job", "1")
    usage_error(both, "give --hosts or --slurm-job, not both")
    per_host = cli("ddp-doctor", "hang", "--hosts", "a", "--pid", "1")
    usage_error(per_host, "--pid and --flight-recorder are per host; not with --hosts")
    option = cli("ddp-doctor", "hang", "--hosts", "-oProxyCommand=x")
    usage_error(option, "not a host name: '-oProxyCommand=x'")


# ------------------------------------------------------------ accounting under a launcher

LAUNCHER = """\
import os, subprocess, sys, time
env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1], WORLD_SIZE="3",
           LOCAL_WORLD_SIZE="3", GROUP_RANK="0", TORCHELASTIC_RUN_ID="test")
code = "import time\\ndef waiting():\\n    time.sleep(120)\\nwaiting()\\n"
kids = [subprocess.Popen([sys.executable, "-c", code], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
        for r in range(2)]
gone = subprocess.Popen([sys.executable, "-c", "pass"], env={**env, "RANK": "2", "LOCAL_RANK": "2"})
# an orphan: a forked helper of the job's environment that no longer descends from the launcher
subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "import time; time.sleep(120)" & echo $! > orphan'],
                 env={**env, "RANK": "1", "LOCAL_RANK": "1"}).wait()
while True:
    if os.path.exists("orphan") and open("orphan").read().strip():
        break
orphan = int(open("orphan").read())


def runs_python(pid):  # Popen returns before exec has built the command line and environment
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\\0")[0] == sys.executable.encode()


while not all(runs_python(p) for p in [*(k.pid for k in kids), orphan]):
    time.sleep(0.001)
print(" ".join(str(k.pid) for k in kids), gone.pid, orphan, flush=True)
time.sleep(120)
"""


@pytest.fixture
def fake_job(tmp_path):
    launcher = tmp_path / "torchrun"  # a launcher by name, as torchrun's script is
    launcher.write_text(LAUNCHER)
    proc = subprocess.Popen(
        [sys.executable, str(launcher), "29999"], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    fields = read_line(proc.stdout).split()
    r0, r1, zombie, orphan = map(int, fields)
    # the zombie is there once the short-lived child has exited
    deadline = time.monotonic() + 60
    while (_procfs.read_stat(zombie) or _procfs.ProcStat(0, "", "Z", 0, 0, 0)).state != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield proc.pid, r0, r1, zombie, orphan
    for pid in (orphan, r0, r1):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    os.killpg(proc.pid, 9)
    proc.wait()


def test_every_local_rank_is_accounted_for(fake_job):
    agent, r0, r1, zombie, orphan = fake_job
    found = hang.discover([agent, orphan])
    by_rank = {r.rank: r for r in found.ranks}
    assert {r: (p.pid, p.status) for r, p in by_rank.items()} == {
        0: (r0, "live"),
        1: (r1, "live"),
        2: (zombie, "zombie"),
    }
    assert all(r.agent_pid == agent for r in found.ranks)
    assert [i.pid for i in found.ignored] == [orphan]
    assert "does not descend from the job's launcher" in found.ignored[0].reason
    assert found.world_size == 3 and found.local_world_size == 3
    assert [r.pid for r in hang.discover_ranks([agent])] == [r0, r1]


def test_zombie_rank_gives_exited_and_is_the_culprit(fake_job, cli):
    agent, _r0, _r1, zombie, orphan = fake_job
    result = cli("ddp-doctor", "hang", "--pid", str(agent), "--pid", str(orphan), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "exited" and data["culprits"] == [2]
    assert data["verdict"].startswith(f"rank 2 (pid {zombie}) exited: a zombie")
    assert [i["pid"] for i in data["ignored"]] == [orphan]
    assert {r["rank"] for r in data["ranks"]} == {0, 1, 2}


def test_a_launchers_missing_local_rank_is_named(tmp_path):
    launcher = tmp_path / "torchrun"
    launcher.write_text(
        textwrap.dedent(
            """\
            import os, subprocess, sys, time
            env = dict(os.environ, MASTER_PORT="29998", WORLD_SIZE="4", LOCAL_WORLD_SIZE="2",
                       GROUP_RANK="1", RANK="2", LOCAL_RANK="0")
            k = subprocess.Popen([sys.executable, "-c", "import time; print(1, flush=True); "
                                  "time.sleep(120)"], env=env, stdout=subprocess.PIPE)
            k.stdout.readline()  # it runs its code now: its environment can be read (Popen
            print(k.pid, flush=True)  # returns while exec still builds the new one)
            time.sleep(120)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(launcher)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        kid = int(read_line(proc.stdout))
        found = hang.discover([proc.pid])
        assert [(r.rank, r.local_rank, r.status) for r in found.ranks] == [
            (2, 0, "live"),
            (3, 1, "missing"),
        ]
        assert found.ranks[0].pid == kid
        assert "local rank 1 of 2 is not among launcher" in (found.ranks[1].detail or "")
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


# ------------------------------------------------------------ flight recorder offline


def _dump(path: Path, seqs, ops=None, world=2, t0=1_700_000_000 * 10**9, state="completed"):
    ops = ops or ["all_reduce"] * len(seqs)
    entries = [
        {
            "collective_seq_id": s, "process_group": ("0", "default_pg"), "pg_id": 0,
            "profiling_name": f"gloo:{op}", "state": state, "is_p2p": False,
            "time_created_ns": t0 + s * 10**9,
            "frames": [{"name": "step", "filename": USER, "line": 88}],
        }
        for s, op in zip(seqs, ops)
    ]  # fmt: skip
    data = {
        "version": "2.10",
        "pg_config": {"": {"name": "", "desc": "", "ranks": json.dumps(list(range(world)))}},
        "pg_status": {
            "0": {"last_enqueued_collective": max(seqs), "last_completed_collective": -1}
        },
        "entries": entries,
    }
    path.write_bytes(pickle.dumps(data))


def test_offline_dumps_of_a_dead_job_name_the_rank_behind(tmp_path, cli):
    _dump(tmp_path / "fr_rank_0", [1, 2, 3])
    _dump(tmp_path / "fr_rank_1", [1, 2])
    for target in (str(tmp_path), str(tmp_path / "fr_rank_")):
        result = cli("ddp-doctor", "hang", "--offline", "--flight-recorder", target, "--json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["kind"] == "flight_recorder" and data["culprits"] == [1]
        assert "rank(s) 1 never enqueued collective #3 (all_reduce)" in data["verdict"]
        assert data["world_size"] == 2
    # the configured dump path
    env = {"TORCH_FR_DUMP_TEMP_FILE": str(tmp_path / "fr_rank_")}
    result = cli("ddp-doctor", "hang", "--offline", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["culprits"] == [1]


def test_offline_missing_rank_and_mismatched_op(tmp_path):
    _dump(tmp_path / "fr_rank_0", [1, 2], ["barrier", "all_reduce"], world=3)
    _dump(tmp_path / "fr_rank_1", [1, 2], ["barrier", "broadcast"], world=3)
    report = hang.analyze_flight_recorder([tmp_path])
    assert "collective #2 differs: rank 0 all_reduce, rank 1 broadcast" in report.verdict
    assert "no dump from rank(s) 2" in report.verdict


def test_dumps_that_do_not_belong_together_are_refused(tmp_path):
    _dump(tmp_path / "fr_rank_0", [1, 2], world=2)
    _dump(tmp_path / "fr_rank_1", [1, 2], world=4)
    with pytest.raises(InputError, match="do not belong together: the dumps come from jobs"):
        hang.analyze_flight_recorder([tmp_path])
    other = tmp_path / "b"
    other.mkdir()
    _dump(other / "fr_rank_0", [1], world=2)
    _dump(other / "trace_rank_0", [1], world=2)
    with pytest.raises(InputError, match="two dumps claim rank 0"):
        hang.analyze_flight_recorder([other])
    late = tmp_path / "c"
    late.mkdir()
    _dump(late / "fr_rank_0", [1], world=2)
    _dump(late / "fr_rank_1", [1], world=2, t0=1_700_000_000 * 10**9 + 86400 * 10**9)
    report = hang.analyze_flight_recorder([late])
    assert "24.0 h apart: they may come from different runs" in report.verdict


@pytest.mark.parametrize("size", [2 << 30, 100 << 30])
def test_huge_or_sparse_dump_is_a_one_line_error(tmp_path, cli, size):
    path = tmp_path / "fr_rank_0"
    with open(path, "wb") as fh:
        fh.truncate(size)  # sparse: no disk used, no memory either
    with pytest.raises(InputError, match="too large for a flight-recorder dump"):
        fr.load_trace(path)
    result = cli("ddp-doctor", "hang", "--offline", "--flight-recorder", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"mltools: error: {path}: {size:,} bytes is too large")
    assert "MemoryError" not in result.stderr and "Traceback" not in result.stderr


def test_a_fifo_is_not_read_as_a_dump(tmp_path):
    fifo = tmp_path / "fr_rank_0"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        fr.load_trace(fifo)


def test_no_dumps_and_no_ranks_is_one_clear_error(tmp_path, cli):
    result = cli("ddp-doctor", "hang", "--offline", "--flight-recorder", str(tmp_path / "x_"))
    assert result.exit_code == 1
    assert "no flight-recorder dumps at" in result.stderr


def _freezer() -> Path | None:
    """A fresh freezer cgroup (v1 freezer or v2) we may write to, else None."""
    import uuid

    name = f"mltools-test-{uuid.uuid4().hex[:8]}"
    for root, marker in (
        ("/sys/fs/cgroup/freezer", "freezer.state"),
        ("/sys/fs/cgroup", "cgroup.freeze"),
    ):
        base = Path(root)
        if not (base / ("tasks" if "freezer" in root else "cgroup.controllers")).exists():
            continue
        try:
            (base / name).mkdir()
        except OSError:
            continue
        if (base / name / marker).exists():
            return base / name
        (base / name).rmdir()
    return None


def _freeze(group: Path, frozen: bool) -> None:
    if (group / "freezer.state").exists():
        (group / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
    else:
        (group / "cgroup.freeze").write_text("1" if frozen else "0")


def test_a_rank_in_a_frozen_cgroup_is_the_suspect(tmp_path, cli):
    group = _freezer()
    if group is None:
        pytest.skip("no writable freezer cgroup here")
    launcher = tmp_path / "torchrun"
    launcher.write_text(
        "import os, subprocess, sys, time\n"
        "env = dict(os.environ, MASTER_PORT='29997', WORLD_SIZE='2', LOCAL_WORLD_SIZE='2')\n"
        "code = 'import time\\ndef waiting():\\n    time.sleep(120)\\nwaiting()\\n'\n"
        "ks = [subprocess.Popen([sys.executable, '-c', code], env={**env, 'RANK': str(r), "
        "'LOCAL_RANK': str(r)}) for r in range(2)]\n"
        "while not all(open(f'/proc/{k.pid}/cmdline', 'rb').read() for k in ks):\n"
        "    time.sleep(0.001)  # Popen returns before exec has built the environment\n"
        "print(' '.join(str(k.pid) for k in ks), flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, str(launcher)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        r0, r1 = map(int, read_line(proc.stdout).split())
        procs = "tasks" if (group / "tasks").exists() else "cgroup.procs"
        (group / procs).write_text(str(r1))
        _freeze(group, True)
        result = cli("ddp-doctor", "hang", "--pid", str(proc.pid), "--json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["kind"] == "stopped" and data["culprits"] == [1]
        assert f"rank 1 (pid {r1}) is frozen (in a frozen cgroup" in data["verdict"]
    finally:
        _freeze(group, False)
        os.killpg(proc.pid, 9)
        proc.wait()
        for pid in (r0, r1) if "r1" in locals() else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def test_a_host_ssh_cannot_reach_is_said_in_ssh_words_with_a_hint(cli, monkeypatch):
    """`hang --hosts` says an ssh failure as `gpu --hosts` does: ssh's own line, what it
    means, and what to do (one place: mltools._child_failure)."""
    from mltools.gpu import remote

    refused = "ssh: connect to host 10.0.0.9 port 22: Connection refused\n"
    key = (
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
        "Host key verification failed.\n"
    )
    outputs = [
        remote.HostOutput("gpu01", 255, "", refused),
        remote.HostOutput("gpu02", 255, "", key),
    ]
    monkeypatch.setattr(remote, "run_on_hosts", lambda *a, **k: outputs)
    result = cli("ddp-doctor", "hang", "--hosts", "gpu01,gpu02", "--json")
    assert result.exit_code == 6, result.stderr  # no host reported: a partial failure
    assert "gpu01: ssh: connect to host 10.0.0.9 port 22: Connection refused (nothing accepts" in (
        result.stderr
    )
    assert "the host's key differs from the one recorded in known_hosts" in result.stderr
    assert "hint: check the port and that sshd runs on the host" in result.stderr
    assert "ssh failed" not in result.stderr
