"""Snapshot tests of `mltools top` at 80x24, 120x40 and 200x60 (text, and the SVG export).

GPUs come from the NVML double; the host panel, the clock and the process facts are
fixed (a :class:`StillSource`), so every frame is reproducible. After an intended
change of the view: ``MLTOOLS_UPDATE_SNAPSHOTS=1 pytest tests/test_top_snapshots.py``
and review the diff of ``tests/snapshots/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu
from tests._top_helpers import drive, screen_text

fake_nvml = _gpu_fixtures.fake_nvml

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

# pids far above pid_max: nothing on this machine can answer for them
PROCS = {
    4_100_001: ("alice", "python train.py --config llama-7b.yaml", "0/4 L0", 612.0),
    4_100_002: ("alice", "python train.py --config llama-7b.yaml", "1/4 L1", 611.0),
    4_100_003: ("bob", "jupyter-kernel --ip=127.0.0.1 [bold]x", None, 86_400 * 2 + 7200.0),
    4_100_004: ("carol", "python eval.py --ckpt /ckpt/step_9000", None, 45.0),
}


def snapshot_spec(util: int = 97) -> dict:
    p = list(PROCS)
    return {
        "gpus": [
            gpu(0, util_gpu=util, mem_used=71 * GiB, temp=74, fan=62, power_mw=388_000, clock_sm=1410,
                pstate=0, compute=[{"pid": p[0], "mem": 70 * GiB, "sm": util}]),
            gpu(1, util_gpu=util - 3, mem_used=70 * GiB, temp=72, fan=60, power_mw=371_000,
                clock_sm=1395, compute=[{"pid": p[1], "mem": 69 * GiB, "sm": util - 3}]),
            gpu(2, util_gpu=0, mem_used=12 * GiB, compute=[{"pid": p[2], "mem": 11 * GiB, "sm": 0}]),
            gpu(3, util_gpu=41, mem_used=20 * GiB, temp=55, power_mw=180_000,
                compute=[{"pid": p[3], "mem": 19 * GiB, "sm": 41}]),
        ]
    }  # fmt: skip


def still_source():
    """The real source over the double, with the host, clock and process facts fixed."""
    from mltools.sampler import Sampler
    from mltools.tui.sources import Frame, ProcessFacts, Source

    class StillSource(Source):
        n = 0

        def frame(self, *, tree: bool = False) -> Frame:
            f = super().frame(tree=tree)
            s = f.sample
            s.t_monotonic, s.timestamp = 1000.0 + self.n, "2026-01-01T00:00:00+00:00"
            self.n += 1
            s.gpus.host = "gpu-node-1"
            s.host = SimpleNamespace(
                cpu_percent=37.5, memory_used_bytes=96 * GiB, memory_total_bytes=256 * GiB,
                swap_used_bytes=0, swap_total_bytes=8 * GiB, load_average=[12.1, 11.8, 10.2],
                shm_used_bytes=3 * GiB, shm_total_bytes=128 * GiB,
            )  # fmt: skip
            facts = {}
            for g in s.gpus.gpus:
                for p in g.processes or []:
                    user, command, rank, age = PROCS[p.pid]
                    p.visible, p.user, p.command, p.running_seconds = True, user, command, age
                    p.cpu_percent, p.host_memory_rss_bytes = 99.0 if rank else 1.0, 9 * GiB
                    if rank:
                        p.slurm_job_id = "4242"
                    job = "MASTER_ADDR=node1 MASTER_PORT=29500" if rank else None
                    facts[p.pid] = ProcessFacts(p.pid, create_time=1.0, rank=rank, job=job)
            return Frame(s, facts)

    return StillSource(Sampler())


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_snapshot(fake_nvml, size):
    double = fake_nvml(snapshot_spec())
    from mltools.tui.app import TopApp

    source = still_source()
    app = TopApp(source, source.frame(), interval=3600, idle_after=0)
    got = {}

    async def script(app, pilot):
        for util in (60, 80, 97):
            double.update(snapshot_spec(util))
            await app.sample_now()
        got["text"] = screen_text(app)
        got["svg"] = app.export_screenshot()

    drive(script, size=size, app=app)
    text = "\n".join(line.rstrip() for line in got["text"].splitlines()) + "\n"
    assert got["svg"].startswith("<svg") and "train.py" in got["svg"].replace("&#160;", " ")
    path = SNAPSHOTS / f"top_{size[0]}x{size[1]}.txt"
    if os.environ.get("MLTOOLS_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def test_readme_capture_is_the_120x40_snapshot():
    """The README's picture of the default view is the tested frame (blank rows trimmed)."""
    readme = (SNAPSHOTS.parents[1] / "README.md").read_text()
    head = "capture of `tests/snapshots/top_120x40.txt`):\n\n```text\n"
    shown = readme[readme.index(head) + len(head) :].split("```", 1)[0].splitlines()
    frame = (SNAPSHOTS / "top_120x40.txt").read_text().splitlines()
    assert shown == [line for line in frame if line.strip()]
