"""pandas' own apply/map/groupby-apply tests, with every call routed through parallel_apply.

Runs the test files that ship inside the installed pandas (see
``tests/pandas_suite/plugin.py``) once per backend, each as a separate pytest
process: on pandas 3 in the main run, and on pandas 2.2 in CI's second
environment, where pandarallel imports too. Every test must pass, except the
ones listed in ``ONE_PROCESS_ONLY`` (they check func's side effects in the
calling process), which are xfailed with the reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from mltools.frame import available_backends
from tests.conftest import REPO, mltools_env
from tests.pandas_suite.paths import paths

pytestmark = pytest.mark.slow

pytest.importorskip("hypothesis")  # pandas' conftest needs it

BACKENDS = ["loky", "fork", "dask", "pandarallel"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pandas_own_tests_pass_through_parallel_apply(backend, tmp_path):
    reason = available_backends()[backend]
    if reason is not None:
        pytest.skip(f"{backend}: {reason}")
    files = paths()
    assert files, "the installed pandas ships no tests"
    start = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.pandas_suite.plugin",
            "-p",
            "no:cacheprovider",
            "--mltools-backend",
            backend,
            # pandas' own pytest config (its pyproject.toml, shipped in the package)
            # writes test-data.xml into the working directory: put it in tmp_path
            f"--junitxml={tmp_path / 'pandas-suite.xml'}",
            *files,
        ],
        cwd=REPO,
        env=mltools_env(),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    took = time.monotonic() - start
    text = out.stdout + out.stderr
    summary = [ln for ln in text.splitlines() if "mltools pandas-suite" in ln]
    counts = next((ln for ln in reversed(text.splitlines()) if " passed" in ln), "")
    print(f"{backend}: {counts} ({took:.0f} s); {summary[-1] if summary else ''}")
    failed = re.findall(r"^(?:FAILED|ERROR) .*$", text, flags=re.MULTILINE)
    assert out.returncode == 0, "\n".join(failed[:40]) or text[-4000:]
    assert summary and re.search(r": [1-9]\d* calls routed", summary[-1]), summary
