"""Rank discovery by what a rank is, GIL/poll evidence, py-spy lookup, --locals, --bundle.

No torch here: ranks are small Python processes under launcher stand-ins named
like the real ones (mpirun, srun, mpiexec.hydra, torchrun behind a bash
wrapper, Lightning's re-run of its own command line), each setting its family's
environment vocabulary.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mltools import _procfs
from mltools.ddp import hang, hang_bundle, hang_sampling, pyspy
from mltools.ddp.pyspy import Frame, ThreadStack
from mltools.errors import MissingDependencyError
from tests.conftest import wait_exec

USER = "/home/u/train.py"
C10D = "/usr/lib/python3.11/site-packages/torch/distributed/distributed_c10d.py"

# a rank says "ready" once it runs its own code (a stack sampled while the interpreter still
# starts shows <frozen site>), then waits on line 3, as the stack tests expect; it imports
# threading, as torch does, which is where py-spy reads thread names (else "thread ?")
RANK_CODE = (
    "import sys, threading, time\n"
    "def waiting(marker=41):\n"
    "    sys.stdout.write('ready\\n'), sys.stdout.flush(), time.sleep(300)\n"
    "waiting()\n"
)

# A launcher stand-in: starts 2 ranks with its family's variables, a worker under rank 0
# (it inherits the rank's environment) and a resource tracker, prints their pids.
LAUNCHER = """\
import os, subprocess, sys, time
family = sys.argv[1]
vocab = {
    "mpirun": lambda r: {"OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_LOCAL_RANK": str(r),
                         "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"},
    "srun": lambda r: {"SLURM_PROCID": str(r), "SLURM_LOCALID": str(r), "SLURM_NTASKS": "2",
                       "SLURM_STEP_ID": "0", "SLURM_JOB_ID": "77", "SLURM_NODEID": "0"},
    "hydra": lambda r: {"PMI_RANK": str(r), "PMI_SIZE": "2", "MPI_LOCALRANKID": str(r),
                        "MPI_LOCALNRANKS": "2"},
    "pmix": lambda r: {"PMIX_RANK": str(r), "PMIX_SIZE": "2", "PMIX_NAMESPACE": "prte-1@1"},
    "torchrun": lambda r: {"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                           "LOCAL_WORLD_SIZE": "2", "HF_TOKEN": "hf_" + "s3cr3t" * 5,
                           "WANDB_API_KEY": "wandb-key-0123456789",
                           "NCCL_DEBUG": "INFO", "TORCH_STORE_URL": "https://u:pw123456@x/y"},
}[family]
env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2])
code = CODE
ranks = [subprocess.Popen([sys.executable, "-c", code], env={**env, **vocab(r)},
                          stdout=subprocess.PIPE) for r in range(2)]
tracker = subprocess.Popen([sys.executable, "-c", "from multiprocessing.resource_tracker import main;import time; print('ready', flush=True); time.sleep(300)"], env={**env, **vocab(0)}, stdout=subprocess.PIPE)
for p in [*ranks, tracker]:
    p.stdout.readline()  # each runs its own code now, not the interpreter's start-up
print(" ".join(str(p.pid) for p in ranks), tracker.pid, flush=True)
time.sleep(300)
""".replace("CODE", repr(RANK_CODE))


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def launched(tmp_path):
    """start(name, family) -> (launcher pid, [rank pids], tracker pid)."""
    procs: list[subprocess.Popen] = []

    def start(name: str, family: str, wrapper: bool = False):
        script = tmp_path / name
        script.write_text(LAUNCHER)
        argv = [sys.executable, str(script), family, "29931"]
        if wrapper:  # a bash script that runs the launcher (not exec: bash stays above it)
            sh = tmp_path / "run.sh"
            sh.write_text(f"#!/bin/bash\n{' '.join(argv)}\necho done\n")
            sh.chmod(0o755)
            argv = ["bash", str(sh)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(proc)
        *ranks, tracker = map(int, proc.stdout.readline().split())
        return proc.pid, ranks, tracker

    yield start
    for p in procs:
        _stop(p)


@pytest.mark.parametrize(
    ("name", "family", "source"),
    [
        ("mpirun", "mpirun", "mpi"),
        ("srun", "srun", "slurm"),
        ("mpiexec.hydra", "hydra", "mpi"),
        ("prterun", "pmix", "mpi"),
    ],
)
def test_launcher_vocabularies_give_the_ranks(launched, name, family, source):
    agent, ranks, tracker = launched(name, family)
    found = hang.discover([agent])
    assert [(r.rank, r.pid, r.source) for r in found.ranks] == [
        (0, ranks[0], source),
        (1, ranks[1], source),
    ]
    assert found.world_size == 2
    assert tracker not in {r.pid for r in found.ranks}  # the resource tracker is never a rank
    assert all(r.agent_pid == agent for r in found.ranks)
    # a rank's own pid gives that rank alone, found by its vocabulary
    (one,) = hang.discover([ranks[1]]).ranks
    assert (one.rank, one.pid) == (1, ranks[1])


def test_pid_of_a_bash_wrapper_leads_to_the_ranks_below(launched):
    wrapper, ranks, _ = launched("torchrun", "torchrun", wrapper=True)
    found = hang.discover([wrapper])
    assert [(r.rank, r.pid, r.source) for r in found.ranks] == [
        (0, ranks[0], "torchrun"),
        (1, ranks[1], "torchrun"),
    ]


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (
            ["/usr/bin/python3", "-u", "-m", "deepspeed.launcher.launch", "--world_info=x"],
            "deepspeed",
        ),
        (["/venv/bin/python", "/venv/bin/deepspeed", "train.py"], "deepspeed"),
        (["/venv/bin/python3.11", "/venv/bin/accelerate", "launch", "train.py"], "accelerate"),
        (["/venv/bin/python3.11", "/venv/bin/accelerate", "env"], None),
        (["python", "-m", "torch.distributed.run", "--nproc-per-node", "2", "t.py"], "torchrun"),
        (["mpirun", "-np", "4", "python", "t.py"], "mpi"),
        (["/usr/bin/hydra_pmi_proxy", "--control-port", "x"], "mpi"),
        (["python", "train.py"], None),
    ],
)
def test_launcher_kinds_by_command_line(monkeypatch, argv, kind):
    from mltools.ddp import hang_discovery

    monkeypatch.setattr(hang_discovery, "cmdline", lambda pid: argv)
    assert hang_discovery.launcher_kind(1234) == kind


def test_bundle_material_json_for_hosts(secret_job, cli):
    agent, _ranks, _ = secret_job
    result = cli("ddp-doctor", "hang", "--pid", str(agent), "--json", "--window", "1",
                 "--max-window", "3", "--bundle-material")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "s3cr3t" not in result.stdout and "wandb-key-0123456789" not in result.stdout
    material = json.loads(result.stdout)["bundle_material"]
    assert "secrets" not in material
    assert material["env"]["rank-1"]["HF_TOKEN"] == hang_bundle.MASK
    assert set(material["stacks"]) == {"rank-0", "rank-1"}
    assert "versions" in material and "gpu" in material and "xid" in material


def test_a_process_that_is_neither_a_rank_nor_above_one_is_refused(tmp_path):
    proc = wait_exec(subprocess.Popen(["sleep", "300"]))  # named "sleep" only once exec built it
    try:
        with pytest.raises(hang.HangError) as err:
            hang.discover([proc.pid])
        assert f"pid {proc.pid} (sleep) is not a Python process and has no rank processes" in str(
            err.value.message
        )
    finally:
        proc.kill()
        proc.wait()


LIGHTNING = """\
import os, subprocess, sys, time
# Lightning's launcher: local rank 0 is the script itself; it re-runs its own command
# line for local rank 1 with LOCAL_RANK/NODE_RANK/WORLD_SIZE set (not RANK)
if "LOCAL_RANK" not in os.environ:
    kid = subprocess.Popen([sys.executable, *sys.argv], env=dict(os.environ, LOCAL_RANK="1",
                           NODE_RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT="29932"), stdout=subprocess.PIPE)
    kid.stdout.readline()  # the kid runs this script now (not a fork still starting it)
    print(kid.pid, flush=True)
else:
    print("ready", flush=True)
time.sleep(300)
"""


def test_lightning_style_parent_is_local_rank_zero(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(LIGHTNING)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--fit"], stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        kid = int(proc.stdout.readline())
        found = hang.discover([proc.pid])
        assert [(r.rank, r.pid, r.source) for r in found.ranks] == [
            (0, proc.pid, "lightning"),
            (1, kid, "lightning"),
        ]
    finally:
        _stop(proc)


# ------------------------------------------------------------ py-spy lookup


def test_pyspy_found_next_to_the_interpreter_when_not_on_path(tmp_path, monkeypatch):
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "py-spy"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(pyspy.sys, "executable", str(bindir / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert pyspy.pyspy_path() == str(exe)
    exe.unlink()
    with pytest.raises(MissingDependencyError) as err:
        pyspy.pyspy_path()
    assert f"found neither next to the interpreter ({bindir}) nor on PATH" in err.value.message
    assert "pip install py-spy" in (err.value.hint or "")


def test_unactivated_venv_run_by_full_path_finds_its_pyspy(tmp_path, run_mltools):
    """`/venv/bin/python -m mltools` with a PATH that has no py-spy: the one beside python."""
    real = Path(pyspy.pyspy_path())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    (bindir / "py-spy").symlink_to(real)
    # a venv of its own, whose packages are this one's: a python linked from elsewhere finds
    # its venv by the pyvenv.cfg beside its bin/ (without it, it is the base interpreter, and
    # the packages installed in this venv, typer first, are not there)
    if (config := Path(sys.prefix) / "pyvenv.cfg").exists():
        (tmp_path / "pyvenv.cfg").write_text(config.read_text())
        for packages in map(Path, site.getsitepackages()):
            if packages.is_relative_to(sys.prefix):
                link = tmp_path / packages.relative_to(sys.prefix)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(packages)
    proc = subprocess.Popen([sys.executable, "-c", RANK_CODE], env={**os.environ, "RANK": "0"})
    try:
        result = subprocess.run(
            [str(bindir / "python"), "-m", "mltools", "ddp-doctor", "hang", "--json", "--pid",
             str(proc.pid), "--window", "1", "--max-window", "3"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "PATH": "/usr/bin:/bin",
                 "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ranks"][0]["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------ GIL holder, poll loop


def _tracker(pid: int = 4242):
    st = _procfs.ProcStat(pid, "python", "S", 1, 100, 0.0)
    return hang_sampling.Tracker(hang.RankProcess(pid=pid, rank=1, start_ticks=st.start_ticks)), st


def test_main_thread_waiting_for_a_gil_held_by_a_runaway_thread_is_stuck():
    t, st = _tracker()
    for i in range(8):
        main = ThreadStack(4242, "MainThread", 4242, False, False, [Frame("start", USER, 30)])
        scan = ThreadStack(7, "regex-scan", 4300, True, True, [Frame("runaway", USER, 12)])
        # the main thread burns a little CPU every sample: GIL timed waits, not work
        t.observe(i * 1.0, st, 0.005 * i, [main, scan], switches=200 * i)
    state = t.state(window=6.0, native=False)
    assert state.state == "stuck", state.evidence
    assert state.evidence.gil_holder == "thread regex-scan (tid 4300) at train.py:12 (runaway)"
    waiting = hang.RankState(0, 1, "stuck", "all_reduce", "all_reduce", "train.py:9 (sync)")
    sentence, kind, culprits = hang.verdict([waiting, state])
    assert (kind, culprits) == ("odd_rank_stuck", [1])
    assert "waiting for the GIL held by thread regex-scan (tid 4300) at train.py:12" in sentence


def test_a_poll_loop_beside_ranks_stuck_in_a_collective_is_the_culprit():
    t, st = _tracker()
    for i in range(8):
        frames = [Frame("wait_for_file", USER, 20)]
        t.observe(i * 1.0, st, 0.0025 * i, _one(frames), switches=20 * i)
    state = t.state(window=6.0, native=False)
    assert state.evidence.poll_loop and state.evidence.wakeups_per_second == 20.0
    waiting = hang.RankState(0, 1, "stuck", "all_reduce", "all_reduce", "train.py:9 (sync)")
    sentence, kind, culprits = hang.verdict([waiting, state])
    assert (kind, culprits) == ("odd_rank_stuck", [1])
    assert sentence.startswith("rank 1 polls in a wait loop at train.py:20 (wait_for_file)")
    # the same ranks all polling alike, nobody stuck: a healthy job that sleeps a lot
    twin = hang.RankState(**{**state.__dict__, "rank": 0})
    assert hang.verdict([twin, state])[1] == "progressing"


def test_work_on_one_line_is_not_a_poll_loop():
    t, st = _tracker()
    for i in range(8):  # active, 40% CPU: computing
        t.observe(i * 1.0, st, 0.4 * i, _one([Frame("step", USER, 10)], active=True), 5 * i)
    assert not t.state(window=6.0, native=False).evidence.poll_loop


def _one(frames, active=False):
    return [ThreadStack(4242, "MainThread", 4242, active, True, frames)]


# ------------------------------------------------------------ --locals, --bundle, --hosts


@pytest.fixture
def secret_job(launched):
    return launched("torchrun", "torchrun")


def test_locals_option_puts_local_variables_in_the_stacks(secret_job, cli):
    agent, _ranks, _ = secret_job
    plain = cli("ddp-doctor", "hang", "--pid", str(agent), "--json", "--window", "1",
                "--max-window", "3")  # fmt: skip
    local = cli("ddp-doctor", "hang", "--pid", str(agent), "--json", "--window", "1",
                "--max-window", "3", "--locals")  # fmt: skip
    assert plain.exit_code == 0 and local.exit_code == 0, local.stderr
    stack = json.loads(local.stdout)["ranks"][0]["stack"]
    assert stack[0] == "<string>:3 (waiting) [marker=41]", stack
    assert json.loads(plain.stdout)["ranks"][0]["stack"][0] == "<string>:3 (waiting)"


def test_bundle_has_everything_and_no_secret(secret_job, cli, tmp_path):
    agent, _ranks, _ = secret_job
    out = tmp_path / "hang.tar.gz"
    result = cli("ddp-doctor", "hang", "--pid", str(agent), "--window", "1", "--max-window",
                 "3", "--locals", "--bundle", str(out))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    with tarfile.open(out) as tar:
        files = {m.name.removeprefix("hang-bundle/"): tar.extractfile(m).read() for m in tar}
    host = next(n.split("/")[1] for n in files if n.startswith("stacks/"))
    for name in ("verdict.txt", "report.json", "versions.json", f"gpu/{host}.json",
                 f"kernel/{host}-xid.txt", f"env/{host}/rank-0.env", f"stacks/{host}/rank-1.txt"):  # fmt: skip
        assert name in files, sorted(files)
    assert files["verdict.txt"].startswith(b"verdict: ")
    env = files[f"env/{host}/rank-0.env"].decode()
    assert "NCCL_DEBUG=INFO\n" in env and "RANK=0\n" in env and "\nPWD=" not in env
    assert f"HF_TOKEN={hang_bundle.MASK}\n" in env
    assert f"WANDB_API_KEY={hang_bundle.MASK}\n" in env
    assert f"TORCH_STORE_URL=https://u:{hang_bundle.MASK}@x/y\n" in env
    assert "thread MainThread" in files[f"stacks/{host}/rank-1.txt"].decode()
    blob = b"".join(files.values())
    for secret in (b"s3cr3t", b"wandb-key-0123456789", b"pw123456"):
        assert secret not in blob
    # never overwrites: refused before any sampling
    again = cli("ddp-doctor", "hang", "--pid", str(agent), "--bundle", str(out))
    assert again.exit_code == 1
    assert "bundle" in again.stderr and "exists" in again.stderr
    assert "analysed" not in again.stderr


def test_mask_env_and_scrub():
    env, secrets = hang_bundle.mask_env(
        {"NCCL_SOCKET_IFNAME": "eth0", "MY_PASSWORD": "hunter22", "HOME": "/root",
         "TORCH_X": "ghp_" + "a" * 30, "MASTER_ADDR": "10.0.0.1"}
    )  # fmt: skip
    assert env == {
        "MASTER_ADDR": "10.0.0.1", "MY_PASSWORD": hang_bundle.MASK,
        "NCCL_SOCKET_IFNAME": "eth0", "TORCH_X": hang_bundle.MASK,
    }  # fmt: skip
    assert hang_bundle.scrub("pw=hunter22 tok=hf_" + "x" * 24, secrets) == (
        f"pw={hang_bundle.MASK} tok={hang_bundle.MASK}"
    )


def test_every_host_down_exits_6(cli, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  ConnectTimeout 3\n")
    result = cli("ddp-doctor", "hang", "--hosts", "nohost-a.invalid,nohost-b.invalid",
                 "--ssh-config", str(config), "--host-timeout", "20")  # fmt: skip
    assert result.exit_code == 6, (result.exit_code, result.stderr)
    assert "no host reported (2 of 2 did not answer" in result.stderr
    assert "nohost-a.invalid" in result.stderr


def test_grouped_output_names_each_group_once(cli, monkeypatch):
    """64 ranks: one line per group and per distinct stack, not 64 (STAT-style)."""
    states = [
        hang.RankState(r, 1000 + r, "stuck", "all_reduce", "all_reduce", "train.py:88 (step)",
                       stack=["distributed_c10d.py:2 (all_reduce)", "train.py:88 (step)"],
                       evidence=hang.Evidence(samples=9, window_seconds=7, still_seconds=7,
                                              distinct_stacks=1, cpu_seconds=0.0))
        for r in range(64) if r != 17
    ]  # fmt: skip
    states.insert(17, hang.RankState(17, 1017, "stuck", None, "__next__ (dataloader.py)",
                                     "train.py:80 (step)", stack=["train.py:80 (step)"],
                                     evidence=hang.Evidence(samples=9, window_seconds=7,
                                                            still_seconds=7, distinct_stacks=1,
                                                            cpu_seconds=0.0)))  # fmt: skip
    report = hang.build_report(states, None, None, 3, 0.5, 6.0, 7.0)
    assert report.verdict.startswith(
        "rank 17 is stuck in __next__ (dataloader.py) at train.py:80 (step)"
    )
    assert "while ranks 0-16, 18-63 wait in all_reduce at train.py:88 (step)" in report.verdict
    from mltools.cli import ddp_live

    monkeypatch.setattr(ddp_live, "print_table", lambda cols, rows, **kw: print(cols, rows))
    import io

    buf = io.StringIO()
    monkeypatch.setattr(ddp_live.sys, "stdout", buf)
    ddp_live._render_hang(report)
    text = buf.getvalue()
    assert "[['0-16, 18-63', 63, 'stuck'" in text
    assert "63 ranks (0-16, 18-63) main thread, innermost first:" in text
    assert "rank 17 (pid 1017) main thread, innermost first:" in text
    assert text.count("main thread, innermost first") == 2
    assert "'rank', 'pid'" not in text  # no per-rank table for 64 live ranks
