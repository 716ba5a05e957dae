"""`benchmarks/run.py` runs as the README says, and a benchmark never times an error.

`python benchmarks/run.py -- --quick` used to stop at bench_startup.py (no --quick:
argparse's usage error), and its "cpu --json" case timed `--interval 0`, a usage error
(exit 2), because no case's exit code was looked at.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, mltools_env

sys.path.insert(0, str(REPO / "benchmarks"))

from _harness import Case, compare  # benchmarks/ is not a package


def test_run_py_quick_as_the_readme_says() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "startup", "--", "--quick"],
        capture_output=True, text=True, cwd=REPO, env=mltools_env(), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "median of 5" in done.stdout
    assert "mltools cpu --json --interval 0.05" in done.stdout
    assert "failed" not in done.stdout


def test_a_case_that_exits_with_an_error_fails_the_benchmark(capsys) -> None:
    cases = [
        Case("python -c pass", [sys.executable, "-c", "pass"]),
        Case(
            "mltools cpu --interval 0", [sys.executable, "-m", "mltools", "cpu", "--interval", "0"]
        ),
    ]
    with pytest.raises(SystemExit) as exc:
        compare("t", cases, baseline="python -c pass", repeat=1, warmup=0)
    message = str(exc.value.code)
    assert "mltools cpu --interval 0: exit 2 (expected (0,))" in message
    assert "--interval must be more than 0 seconds" in message  # its own words, from stderr


def test_a_documented_exit_code_is_a_result() -> None:
    cases = [
        Case("true", ["true"]),
        Case("exit 5", ["sh", "-c", "exit 5"], ok_codes=(0, 5)),
    ]
    result = compare("t", cases, baseline="true", repeat=1, warmup=0)
    assert [c["name"] for c in result["cases"]] == ["true", "exit 5"]


def test_run_py_with_no_matching_benchmark_says_so() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "no-such-bench"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "no benchmark matches 'no-such-bench'" in done.stderr
