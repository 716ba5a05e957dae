"""Fast tests of ddp-doctor hang/smoke: signatures, verdicts, flight-recorder dumps, errors."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from mltools.ddp import flight_recorder as fr
from mltools.ddp import hang, pyspy
from mltools.ddp.pyspy import Frame
from tests.conftest import read_line, usage_error

TORCH = "/usr/lib/python3.11/site-packages/torch/distributed"
C10D = f"{TORCH}/distributed_c10d.py"


def _stack(*frames: tuple[str, str, int]) -> list[Frame]:
    return [Frame(n, f, line) for n, f, line in frames]


ALL_REDUCE = _stack(
    ("all_reduce", C10D, 3252),
    ("_exception_logger.<locals>.wrapper", f"{TORCH}/c10d_logger.py", 83),
    ("step", "/home/u/train.py", 88),
    ("main", "/home/u/train.py", 120),
)
LOADER = _stack(
    ("_next_data", "/x/lib/python3.11/site-packages/torch/utils/data/dataloader.py", 700),
    ("__next__", "/x/lib/python3.11/site-packages/torch/utils/data/dataloader.py", 630),
    ("main", "/home/u/train.py", 71),
)
BROADCAST = _stack(
    ("broadcast", C10D, 2800),
    ("_exception_logger.<locals>.wrapper", f"{TORCH}/c10d_logger.py", 83),
    ("main", "/home/u/train.py", 95),
)


def _state(rank, frames, state="stuck"):
    collective, call, frame = hang.signature(frames)
    return hang.RankState(rank, 1000 + rank, state, collective, call, frame)


def test_signature_collective_and_user_frame():
    assert hang.signature(ALL_REDUCE) == ("all_reduce", "all_reduce", "train.py:88 (step)")


def test_signature_library_call_below_user_code():
    collective, call, frame = hang.signature(LOADER)
    assert collective is None
    assert call == "__next__ (dataloader.py)"
    assert frame == "train.py:71 (main)"


def test_signature_outermost_collective_wins():
    frames = _stack(
        ("all_gather", C10D, 10),
        ("all_gather_object", C10D, 20),
        ("wrapper", f"{TORCH}/c10d_logger.py", 83),
        ("sync", "/home/u/train.py", 5),
    )
    assert hang.signature(frames)[0] == "all_gather_object"


def test_signature_backward_counts_as_gradient_wait():
    frames = _stack(
        ("_engine_run_backward", "/x/lib/python3.11/site-packages/torch/autograd/graph.py", 1),
        ("backward", "/x/lib/python3.11/site-packages/torch/autograd/__init__.py", 2),
        ("backward", "/x/lib/python3.11/site-packages/torch/_tensor.py", 3),
        ("train_step", "/home/u/train.py", 90),
    )
    assert hang.signature(frames)[0] == "backward (gradient all_reduce)"


def test_verdict_names_the_odd_rank_among_eight():
    states = [_state(r, ALL_REDUCE) for r in range(8) if r != 3] + [_state(3, LOADER)]
    sentence, kind, culprits = hang.verdict(states)
    assert kind == "odd_rank_stuck"
    assert culprits == [3]
    assert sentence.startswith("rank 3 is stuck in __next__ (dataloader.py) at train.py:71")
    assert "ranks 0-2, 4-7 wait in all_reduce at train.py:88 (step)" in sentence
    groups = hang.group_states(states)
    assert [g.ranks for g in groups] == [[0, 1, 2, 4, 5, 6, 7], [3]]


def test_verdict_slow_rank_is_not_stuck():
    states = [_state(0, ALL_REDUCE), _state(1, LOADER, state="progressing")]
    sentence, kind, culprits = hang.verdict(states)
    assert (kind, culprits) == ("odd_rank_slow", [1])
    assert "(never reaching the collective) while rank 0 waits in all_reduce" in sentence


def test_verdict_mismatch_minority_and_tie():
    states = [_state(r, ALL_REDUCE) for r in range(3)] + [_state(3, BROADCAST)]
    sentence, kind, culprits = hang.verdict(states)
    assert (kind, culprits) == ("mismatch", [3])
    assert "disagree on the collective" in sentence
    tie = hang.verdict([_state(0, ALL_REDUCE), _state(1, BROADCAST)])
    assert tie[1:] == ("mismatch", [])


def test_verdict_exited_rank_and_progressing():
    gone = hang.RankState(1, 1001, "exited", None, None, None, error="exited")
    sentence, kind, culprits = hang.verdict([_state(0, ALL_REDUCE), gone])
    assert (kind, culprits) == ("exited", [1])
    assert sentence.startswith("rank 1 (pid 1001) exited while rank 0 waits in all_reduce")
    moving = hang.verdict([_state(0, ALL_REDUCE, "progressing"), _state(1, LOADER, "progressing")])
    assert moving[1:] == ("progressing", [])


def test_verdict_all_waiting_uses_flight_recorder():
    traces = [
        fr.RankTrace(0, "a", 7, 6, "all_reduce", "all_reduce", {6: "all_reduce", 7: "all_reduce"}),
        fr.RankTrace(1, "b", 6, 6, "all_reduce", "all_reduce", {6: "all_reduce"}),
    ]
    report = fr.analyze(traces)
    sentence, kind, culprits = hang.verdict([_state(0, ALL_REDUCE), _state(1, ALL_REDUCE)], report)
    assert (kind, culprits) == ("all_waiting", [1])
    assert "never enqueued collective #7" in sentence


# ------------------------------------------------------------ flight recorder


def _entry(seq, op, state="completed", pg=("0", "default_pg")):
    return {
        "record_id": seq,
        "pg_id": 0,
        "process_group": pg,
        "collective_seq_id": seq,
        "p2p_seq_id": 0,
        "profiling_name": f"gloo:{op}",
        "state": state,
        "is_p2p": False,
        "frames": [
            {"name": "all_reduce", "filename": C10D, "line": 1},
            {"name": "step", "filename": "/home/u/train.py", "line": 88},
        ],
    }


def _dump(path: Path, entries, last_enq=None, last_done=None, **extra):
    data = {"version": "2.10", "pg_config": {}, "entries": entries, **extra}
    if last_enq is not None:
        data["pg_status"] = {
            "0": {
                "last_enqueued_collective": last_enq,
                "last_started_collective": -1,
                "last_completed_collective": last_done,
            }
        }
    path.write_bytes(pickle.dumps(data))


def test_flight_recorder_divergence_on_op(tmp_path, monkeypatch):
    prefix = tmp_path / "fr_rank_"
    _dump(Path(f"{prefix}0"), [_entry(1, "barrier"), _entry(2, "all_reduce", "scheduled")], 2, 1)
    _dump(Path(f"{prefix}1"), [_entry(1, "barrier"), _entry(2, "broadcast", "scheduled")], 2, 1)
    monkeypatch.setenv("TORCH_FR_DUMP_TEMP_FILE", str(prefix))
    report = fr.read_flight_recorder()
    assert report is not None
    assert [(t.rank, t.last_enqueued, t.last_completed) for t in report.ranks] == [
        (0, 2, 1),
        (1, 2, 1),
    ]
    assert report.divergence_seq == 2
    assert report.divergence == "collective #2 differs: rank 0 all_reduce, rank 1 broadcast"
    assert report.ranks[0].frame == "train.py:88 (step)"


def test_flight_recorder_old_env_name_partial_set_and_old_keys(tmp_path):
    prefix = tmp_path / "nccl_trace_rank_"
    old = [
        {"seq_id": s, "pg_name": "0", "profiling_name": "nccl:all_reduce", "state": "completed"}
        for s in (1, 2, 3)
    ]
    Path(f"{prefix}0").write_bytes(pickle.dumps({"entries": old}))
    Path(f"{prefix}2").write_bytes(pickle.dumps({"entries": old[:2]}))
    env = {"TORCH_NCCL_DEBUG_INFO_TEMP_FILE": str(prefix)}
    report = fr.read_flight_recorder(env=env)
    assert report is not None
    assert report.missing_ranks == [1]
    assert report.behind_ranks == [2]
    assert report.divergence_seq == 3
    assert "rank(s) 2 never enqueued collective #3 (all_reduce)" in (report.divergence or "")


def test_flight_recorder_json_dump_and_rank_key(tmp_path):
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"rank": 5, "entries": [_entry(1, "all_reduce")]}))
    trace = fr.load_trace(path)
    assert (trace.rank, trace.last_completed, trace.last_enqueued_op) == (5, 1, "all_reduce")


def test_flight_recorder_refuses_code_in_pickles(tmp_path):
    path = tmp_path / "evil_rank_0"
    path.write_bytes(pickle.dumps({"entries": [os.system]}))
    with pytest.raises(fr.InputError, match="refusing to load"):
        fr.load_trace(path)


def test_flight_recorder_corrupt_file_is_an_input_error(tmp_path):
    path = tmp_path / "fr_rank_0"
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(fr.InputError, match="not a flight-recorder dump"):
        fr.read_flight_recorder([path])
    assert fr.read_flight_recorder(env={"TORCH_FR_DUMP_TEMP_FILE": str(tmp_path / "none_")}) is None


def test_flight_recorder_skips_stale_dumps(tmp_path):
    _dump(tmp_path / "fr_rank_0", [_entry(1, "barrier")])
    env = {"TORCH_FR_DUMP_TEMP_FILE": str(tmp_path / "fr_rank_")}
    assert fr.read_flight_recorder(env=env, newer_than=time.time() + 60) is None
    assert fr.read_flight_recorder(env=env, newer_than=time.time() - 60) is not None


@pytest.mark.slow
def test_flight_recorder_reads_a_real_gloo_dump(tmp_path):
    pytest.importorskip("torch")
    script = tmp_path / "dump.py"
    script.write_text(
        "import pickle, sys, torch, torch.distributed as dist\n"
        "import torch._C._distributed_c10d as c\n"
        "dist.init_process_group('gloo', rank=0, world_size=1, "
        "init_method='tcp://127.0.0.1:0')\n"
        "t = torch.ones(2)\n"
        "dist.all_reduce(t); dist.barrier()\n"
        "open(sys.argv[1], 'wb').write(c._dump_fr_trace())\n"
    )
    out = tmp_path / "fr_rank_0"
    env = {**os.environ, "TORCH_FR_BUFFER_SIZE": "100"}
    subprocess.run([sys.executable, str(script), str(out)], check=True, env=env, timeout=120)
    trace = fr.load_trace(out)
    assert trace.rank == 0
    assert trace.ops == {1: "all_reduce", 2: "barrier"}
    assert trace.last_enqueued == 2


# ------------------------------------------------------------ py-spy and errors


@pytest.mark.needs("py-spy")
def test_pyspy_reads_a_real_process():
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time\ndef waiting():\n    time.sleep(60)\nwaiting()\n"]
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                threads = pyspy.dump_stacks(proc.pid)
                main = pyspy.main_thread(threads, proc.pid)
                if main and main.frames and main.frames[0].name == "waiting":
                    break
            except pyspy.AttachError:
                pass
            assert time.monotonic() < deadline, "py-spy never saw the sleeping frame"
            time.sleep(0.3)
        assert main.frames[0].line == 3
    finally:
        proc.kill()
        proc.wait()


def _as_nobody() -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to switch to an unprivileged user")
    return ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]


@pytest.mark.needs("py-spy")
def test_attach_as_another_user_fails_with_the_fix(tmp_path, unprivileged_site):
    """A real unprivileged user: the pre-check and py-spy's own refusal both give the fix."""
    prefix = _as_nobody()
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    shared = Path(tempfile.mkdtemp(prefix="mltools-test-"))  # readable by nobody
    shared.chmod(0o755)
    py_spy = str(shared / "py-spy")
    shutil.copy(os.path.realpath(shutil.which("py-spy") or "py-spy"), py_spy)
    code = (
        "import mltools.ddp.pyspy as p\n"
        f"p.pyspy_path = lambda: {py_spy!r}\n"
        "def attempt():\n"
        f"    try:\n        p.dump_stacks({victim.pid})\n"
        "    except p.AttachError as e:\n        print(e.message); print(e.hint)\n"
        "attempt()\n"
        "p.attach_problem = lambda pid: None\n"
        "attempt()\n"
    )
    # the checkout may sit where nobody cannot read it: use the world-readable copy
    env = {"PYTHONPATH": str(unprivileged_site), "PATH": os.environ["PATH"]}
    try:
        out = subprocess.run(
            [*prefix, sys.executable, "-c", code],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        lines = out.stdout.splitlines()
        assert len(lines) == 4, out.stdout + out.stderr
        assert (
            lines[0]
            == f"cannot attach to pid {victim.pid}: process {victim.pid} belongs to uid 0, not to you (uid 65534)"
        )
        assert lines[2].startswith(f"permission denied attaching to pid {victim.pid}")
        for hint_line in (lines[1], lines[3]):
            assert "kernel.yama.ptrace_scope" in hint_line and "SYS_PTRACE" in hint_line
    finally:
        victim.kill()
        victim.wait()
        shutil.rmtree(shared, ignore_errors=True)


def test_hang_cli_attach_error_exit_code_and_hint(cli, monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(pyspy.os, "geteuid", lambda: 4242)
    monkeypatch.setattr(pyspy, "_has_cap_sys_ptrace", lambda: False)
    try:
        result = cli("ddp-doctor", "hang", "--pid", str(proc.pid), "--samples", "1")
        assert result.exit_code == 1
        lines = result.stderr.splitlines()
        assert lines[0].startswith("mltools: error: could not read any rank's stack: cannot attach")
        assert lines[1].startswith("hint: run as the same user") and "SYS_PTRACE" in lines[1]
    finally:
        proc.kill()
        proc.wait()


def test_hang_unknown_pid_is_a_one_line_error(cli):
    result = cli("ddp-doctor", "hang", "--pid", "999999999")
    assert result.exit_code == 1
    assert result.stderr.startswith("mltools: error: no process with pid 999999999\n")


def test_hang_pid_that_is_not_a_rank_says_so(cli):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = cli(
            "ddp-doctor",
            "hang",
            "--pid",
            str(proc.pid),
            "--samples",
            "1",
            "--window",
            "1",
            "--json",
        )
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["ranks"][0]["pid"] == proc.pid
        assert data["ranks"][0]["rank"] is None
        assert set(data) >= {"verdict", "ranks", "groups"}
    finally:
        proc.kill()
        proc.wait()


def test_hang_bad_options_are_usage_errors(cli):
    samples = cli("ddp-doctor", "hang", "--samples", "0")
    usage_error(samples, "Invalid value for '--samples'", "0 is not in the range 1<=x<=1000")
    pid = cli("ddp-doctor", "hang", "--pid", "-x")
    usage_error(pid, "Invalid value for '--pid'", "'-x' is not a valid int")


def test_hang_without_pyspy_is_missing_dependency(cli, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    result = cli("ddp-doctor", "hang")
    assert result.exit_code == 7
    assert "py-spy" in result.stderr and "pip install py-spy" in result.stderr


def test_smoke_without_torch_is_missing_dependency(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    result = cli("ddp-doctor", "smoke")
    assert result.exit_code == 7
    assert result.stderr.startswith("mltools: error: PyTorch is needed")
    assert "hint: pip install torch" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--backend", "mpi"], "unknown backend 'mpi'"),
        (["--inject", "explode"], "unknown fault 'explode'"),
        (["--inject", "crash", "--nproc", "1"], "fault injection needs at least 2 ranks"),
        (["--inject", "crash", "--inject-rank", "5"], "--inject-rank 5 is not a rank of 2"),
        (["--nproc", "0"], "Invalid value"),
    ],
)
def test_smoke_bad_options_are_usage_errors(cli, args, needle):
    result = cli("ddp-doctor", "smoke", *args)
    assert result.exit_code == 2
    assert needle in result.stderr


def test_smoke_nccl_without_gpu_says_so(cli):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = cli("ddp-doctor", "smoke", "--backend", "nccl")
    assert result.exit_code == 1
    assert "backend nccl needs CUDA GPUs" in result.stderr


def test_discovery_keeps_the_rank_process_not_its_children_or_wrapper(tmp_path):
    """A shell wrapper and a DataLoader-like child inherit RANK; only the rank itself counts."""
    child_code = "import time; time.sleep(60)"
    rank_code = (
        "import subprocess, sys, time\n"
        f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}])\n"
        "print(c.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}
    wrapper = subprocess.Popen(
        ["bash", "-c", f'"{sys.executable}" -c "$RANK_CODE"; true'],
        env={**env, "RANK_CODE": rank_code}, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        child_pid = int(read_line(wrapper.stdout))
        rank_pid = psutil.Process(child_pid).ppid()
        found = hang.discover_ranks([wrapper.pid, rank_pid, child_pid])
        assert [(r.pid, r.rank, r.local_rank, r.world_size) for r in found] == [(rank_pid, 3, 1, 4)]
    finally:
        os.killpg(wrapper.pid, 9)
        wrapper.wait()
