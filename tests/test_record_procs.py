"""The recorder's process tree read from /proc, against psutil (an implementation nobody
here wrote) on live processes, and the DDP rank vocabulary of the real launchers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import psutil
import pytest

from mltools.record import Recorder, load_run
from mltools.record.procs import ProcessTree, rank_of
from mltools.record.recorder import prepare_out_dir

# what each launcher sets in a rank's environment (from their documentation)
LAUNCHERS = [
    ("torchrun", {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "8"}, (3, 1, "RANK")),
    ("Open MPI", {"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
     (5, 1, "OMPI_COMM_WORLD_RANK")),
    ("MPICH/Hydra", {"PMI_RANK": "2", "MPI_LOCALRANKID": "0"}, (2, 0, "PMI_RANK")),
    ("PMIx", {"PMIX_RANK": "7"}, (7, None, "PMIX_RANK")),
    ("MVAPICH2", {"MV2_COMM_WORLD_RANK": "4", "MV2_COMM_WORLD_LOCAL_RANK": "0"},
     (4, 0, "MV2_COMM_WORLD_RANK")),
    ("srun", {"SLURM_PROCID": "6", "SLURM_LOCALID": "2"}, (6, 2, "SLURM_PROCID")),
    ("srun torchrun rank", {"SLURM_PROCID": "0", "RANK": "9", "LOCAL_RANK": "1"}, (9, 1, "RANK")),
    ("no launcher", {"HOME": "/root"}, (None, None, None)),
    ("garbage", {"RANK": "zero", "LOCAL_RANK": "x"}, (None, None, None)),
]  # fmt: skip


@pytest.mark.parametrize(("launcher", "env", "want"), LAUNCHERS, ids=[x[0] for x in LAUNCHERS])
def test_rank_vocabulary(launcher, env, want):
    assert rank_of(env) == want


TREE = """
import subprocess, sys, time
python, long_name, ready = sys.argv[1:4]
kids = [subprocess.Popen(['sleep', '300']),
        subprocess.Popen([python, '-c', 'import sys, threading, time; '
                          '[threading.Thread(target=time.sleep, args=(300,), daemon=True).start() for _ in range(3)]; '
                          'b = b"x" * (20 << 20); open(sys.argv[1], "w").close(); time.sleep(300)', ready]),
        subprocess.Popen([long_name, '300'])]
while not all(open(f'/proc/{k.pid}/cmdline', 'rb').read() for k in kids):
    time.sleep(0.001)  # Popen returns before exec has built the command line, environment and name
print(' '.join(str(k.pid) for k in kids), flush=True)
sys.stdin.read()
for k in kids:
    k.kill()
"""


@pytest.fixture
def tree(tmp_path):
    """A live tree: a python parent, a sleep, a threaded python holding 20 MiB, and a
    process whose name is longer than the kernel's 15-byte comm."""
    long_name = tmp_path / "a_process_name_longer_than_fifteen"
    shutil.copy(shutil.which("sleep"), long_name)
    ready = tmp_path / "ready"
    root = subprocess.Popen([sys.executable, "-c", TREE, sys.executable, str(long_name), str(ready)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    kids = [int(x) for x in root.stdout.readline().split()]
    while not ready.exists():  # the threaded child has its threads and its 20 MiB
        os.sched_yield()
    yield root, kids, long_name.name
    root.stdin.close()
    root.wait(timeout=30)


def test_tree_agrees_with_psutil(tree):
    root, kids, long_name = tree
    samples, infos = ProcessTree(root.pid).sample(0.0)
    assert {s.pid for s in samples} == {root.pid, *kids}
    by_pid = {i.pid: i for i in infos}
    for s in samples:
        p = psutil.Process(s.pid)
        with p.oneshot():
            times, mem, io = p.cpu_times(), p.memory_info(), p.io_counters()
            # stat's and statm's RSS are the kernel's approximate per-CPU counters, read at
            # two moments: equal within their batch (64 pages per CPU)
            assert abs(s.rss_bytes - mem.rss) <= 64 * 4096 * os.cpu_count(), (s.rss_bytes, mem.rss)
            assert abs(s.cpu_seconds - (times.user + times.system)) <= 0.02, s.pid
            assert s.threads == p.num_threads()
            assert (s.read_bytes, s.write_bytes) == (io.read_bytes, io.write_bytes)
            assert by_pid[s.pid].ppid == p.ppid()
            assert by_pid[s.pid].name == p.name(), (by_pid[s.pid].name, p.name())
            assert by_pid[s.pid].command == " ".join(p.cmdline())
    assert by_pid[kids[2]].name == long_name  # the kernel's comm is cut at 15 bytes
    # idle sleeps: exactly psutil's (statm's) RSS; stat's own field read ~44 pages less on 6.18
    for pid in (kids[0], kids[2]):
        rss = next(x.rss_bytes for x in samples if x.pid == pid)
        assert rss == psutil.Process(pid).memory_info().rss
    assert by_pid[kids[1]].name == psutil.Process(kids[1]).name()
    threaded = next(x for x in samples if x.pid == kids[1])
    assert threaded.rss_bytes >= 20 << 20 and threaded.threads == 4


LAUNCHER = """
import os, subprocess, sys, time
env = dict(os.environ)
kids = [subprocess.Popen(['sleep', '300'], env={**env, **extra})
        for extra in ({'RANK': '0', 'LOCAL_RANK': '0'}, {'RANK': '1', 'LOCAL_RANK': '1'})]
while not all(open(f'/proc/{k.pid}/cmdline', 'rb').read() for k in kids):
    time.sleep(0.001)  # Popen returns before exec has built the environment (RANK) the test reads
print('up', flush=True)
sys.stdin.read()
for k in kids:
    k.kill()
"""


@pytest.mark.parametrize("torchrun", [True, False], ids=["srun torchrun", "srun alone"])
def test_a_launcher_under_srun_is_not_rank_0(tmp_path, torchrun):
    """srun sets SLURM_PROCID for torchrun's agent and its ranks alike; RANK wins, and the
    agent (SLURM_PROCID only) is a launcher. Without torchrun, SLURM_PROCID is the rank."""
    env = {**os.environ, "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}
    code = LAUNCHER if torchrun else "import sys; print('up', flush=True); sys.stdin.read()"
    agent = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert agent.stdout.readline() == "up\n"
        rec = Recorder(prepare_out_dir(tmp_path / "r", overwrite=False), gpus=False)
        rec.start(agent.pid)
        rec.step()
        rec.finish(reason="exited", returncode=0)
    finally:
        agent.stdin.close()
        agent.wait(timeout=30)
    run = load_run(tmp_path / "r")
    ranks = {pid: p["rank"] for pid, p in run.processes.items()}
    if torchrun:
        assert ranks.pop(agent.pid) is None
        assert sorted(ranks.values()) == [0, 1]
    else:
        assert ranks == {agent.pid: 0}


def test_a_process_that_renames_itself_after_it_was_first_seen_is_said_again():
    """A DataLoader worker is seen between its fork and its rename to pt_data_worker (an
    exec'd rank between fork and exec): its info comes again once its name changed, with the
    time it was first seen; the run keeps the later line."""
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; sys.stdin.readline(); open('/proc/self/comm', 'w').write('pt_data_worker');"
         " print('renamed', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        tree = ProcessTree(child.pid)
        _, infos = tree.sample(0.5)
        assert [i.name for i in infos] != ["pt_data_worker"]
        _, again = tree.sample(1.0)
        assert again == []  # nothing changed: nothing said
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "renamed\n"
        _, renamed = tree.sample(1.5)
        assert [(i.pid, i.name, i.first_seen_seconds) for i in renamed] == [
            (child.pid, "pt_data_worker", 0.5)
        ]
    finally:
        child.stdin.close()
        child.wait(timeout=30)
