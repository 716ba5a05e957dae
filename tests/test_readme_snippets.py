"""The README's Python examples run as written (where they need no GPU or cluster).

Each ```python block of README.md is run in a fresh interpreter, in a folder that holds
the files it names, after a prelude that defines what the text leaves to the reader
(``model``, ``df``, ``score_row``). A new block fails ``test_every_snippet_is_covered``
until it gets an entry here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, mltools_env


def readme_snippets() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _key(snippet: str) -> str:
    """A snippet's first import line names it."""
    return next(ln for ln in snippet.splitlines() if ln.startswith("from mltools"))


# key -> (prelude, {text in the snippet: replacement}, checks run after it)
CASES: dict[str, tuple[str, dict[str, str], str]] = {
    "from mltools import gpu_topology, select_gpus, snapshot": (
        # 4 fake GPUs (tests/_fake_nvml.py raises nvidia-ml-py's real errors).
        "import pytest, tests._fake_nvml as fake\n"
        "mp = pytest.MonkeyPatch()\n"
        "fake.install(mp, {'gpus': [fake.gpu(i) for i in range(4)]})\n",
        {},
        "assert len(snap.gpus) == 4 and len(links) == 4\n"
        "assert os.environ['CUDA_VISIBLE_DEVICES'] == sel.env['CUDA_VISIBLE_DEVICES']\n"
        "assert os.environ['CUDA_DEVICE_ORDER'] == 'PCI_BUS_ID'\n",
    ),
    "from mltools import Sampler, ticks": (
        # 2 GPUs on the NVML double; one session for the three samples
        "import pytest, pynvml, tests._fake_nvml as fake\n"
        "mp = pytest.MonkeyPatch()\n"
        "double = fake.install(mp, {'gpus': [fake.gpu(0, mem_used=2**30), fake.gpu(1)]})\n"
        "inits = []\n"
        "real_init = pynvml.nvmlInit\n"
        "mp.setattr(pynvml, 'nvmlInit', lambda: (inits.append(1), real_init())[1])\n",
        {},
        "assert [g.memory_used_bytes for g in gpus] == [2**30, 0] and s.gpu_error is None\n"
        "assert 0 <= s.host.cpu_percent <= 100 and inits == [1] and double.init_count() == 0\n",
    ),
    "from mltools.ddp import setup, seed_everything, is_main_process, rank_zero_only, setup_logging": (
        "",
        {},
        "assert info.rank == 0 and info.world_size == 1\n"
        "log.info('hello')\n"
        "import os; assert os.path.exists('logs/rank0.log')\n"
        "save({}) ; assert is_main_process()\n",
    ),
    "from mltools import load_checkpoint, load_state_dict, inspect_checkpoint": (
        "import torch\n"
        "model = torch.nn.Linear(3, 2)\n"
        "torch.save({'epoch': 3, 'state_dict': model.state_dict()}, 'last.ckpt')\n"
        "torch.save({'module.' + k: v for k, v in model.state_dict().items()}, 'ddp.pt')\n",
        {},
        "assert set(sd) >= {'epoch', 'state_dict'}\n"
        "assert result.stripped_prefix == 'module.' and result.missing_keys == []\n"
        "assert inspect_checkpoint('ddp.pt').tensors\n",
    ),
    "from mltools.files import detect_type, disk_usage": (
        "import os, struct, json\n"
        "header = json.dumps({'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}).encode()\n"
        "open('model.safetensors', 'wb').write(struct.pack('<Q', len(header)) + header + bytes(8))\n"
        "os.makedirs('data/a/b'); open('data/a/b/f', 'wb').write(bytes(5000))\n",
        {'"/data"': '"data"'},  # the example's folder, here
        "assert detect_type('model.safetensors').kind == 'safetensors'\n"
        "assert detect_type('model.safetensors').problem is None\n"
        "import subprocess\n"
        "du = int(subprocess.check_output(['du', '-s', '-B1', 'data']).split()[0])\n"
        "report = disk_usage('data', depth=2)[0]\n"
        "assert report.disk_bytes == du and report.files == 1\n"
        "assert [d.path for d in report.biggest_dirs] == ['data/a', 'data/a/b']\n",
    ),
    "from mltools import Parallel, parallel_apply, parallel_map": (
        "import pandas as pd\n"
        "df = pd.DataFrame({'user': list('abab'), 'text': [' A', 'b ', 'C', 'd'], 'x': [1, 2, 3, 4]})\n"
        "def score_row(row): return row['x'] * 2\n"
        "def clean(s): return s.strip().lower()\n"
        "def summarize(g): return g['x'].sum()\n"
        "f = score_row\n",
        # The last line needs a Dask cluster at tcp://head:8786; tested in test_frame_dask.py.
        {
            'out = parallel_apply(df, f, axis=1, parallel=Parallel(backend="dask", '
            'scheduler="tcp://head:8786"))': "pass"
        },
        "assert list(parallel_apply(df, score_row, axis=1)) == [2, 4, 6, 8]\n"
        "assert list(parallel_map(df['text'], clean)) == ['a', 'b', 'c', 'd']\n"
        "assert parallel_map(df[['x']], str).equals(df[['x']].map(str))\n",
    ),
    "from mltools import analyze_log": (
        "open('job.log', 'w').write(\n"
        "    '[rank1]: Traceback (most recent call last):\\n'\n"
        "    '[rank1]: RuntimeError: CUDA error: device-side assert triggered\\n'\n"
        "    '[rank0]: [E ProcessGroupNCCL.cpp:1] Watchdog caught collective operation timeout\\n'\n"
        ")\n",
        {},
        "assert not report.ok and report.findings[0].rank == 1\n"
        "assert checks.status in ('PASS', 'WARN', 'FAIL')\n"
        "assert all(r.name and r.status for r in checks.results)\n",
    ),
    "from mltools import cpu_report": (
        "",
        {},
        "import os\n"
        "lim = report.limits\n"
        "assert lim.affinity_cpus == sorted(os.sched_getaffinity(0))\n"
        "assert lim.effective_cpus == min(len(lim.affinity_cpus), lim.cpu_quota_cpus or 1e9)\n"
        "per_rank = int(lim.effective_cpus // max(1, lim.gpus))\n"
        "assert lim.suggested_num_workers == (0 if lim.effective_cpus < 2 else max(1, per_rank - 1))\n"
        "assert report.physical_cores >= 1\n"
        "assert all(abs(sum(v for k, v in vars(u).items() if k.endswith('_percent')) - 100) < 0.1"
        " for u in report.per_cpu)\n",
    ),
    "from mltools import mark, record_command, summarize, load_run": (
        "",
        {},
        "assert result.returncode == 0 and result.summary['samples'] >= 1\n"
        "assert [m['name'] for m in result.summary['markers']] == ['step 1']\n"
        "import os; assert os.path.exists('run-lib/report.html')\n",
    ),
}


def test_every_snippet_is_covered():
    keys = [_key(s) for s in readme_snippets()]
    assert sorted(keys) == sorted(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CASES), ids=lambda k: k.split(" import ")[0][5:])
def test_readme_snippet_runs(key: str, tmp_path: Path) -> None:
    (snippet,) = [s for s in readme_snippets() if _key(s) == key]
    prelude, replace, checks = CASES[key]
    for old, new in replace.items():
        assert old in snippet, f"README no longer has {old!r}"
        snippet = snippet.replace(old, new)
    code = "\n".join([textwrap.dedent(prelude), snippet, textwrap.dedent(checks)])
    env = mltools_env({"PYTHONPATH": f"{REPO}", "CUDA_VISIBLE_DEVICES": ""})
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{code}\n---\n{proc.stderr}"
