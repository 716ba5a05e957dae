"""Shared fixtures: drive the CLI in-process (CliRunner) or as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import settings

from tests.ci_provides import ci_failure, in_ci, require

REPO = Path(__file__).resolve().parents[1]

# The property tests run on a fixed set of examples everywhere (not only where $CI is set),
# so a red run is reproducible and the same on every machine. To explore new examples on
# purpose: pytest --hypothesis-profile=explore.
settings.register_profile("derandomized", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("derandomized")

# The signal tests send SIGHUP to the processes they start and expect the default action
# (or mltools' handler): under `nohup`, SIGHUP arrives ignored and every child inherits that,
# so the suite restores the default for its children wherever it was started.
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

# Per-test time limits (pytest-timeout; the default is `timeout` in pyproject.toml). The
# tests that run real multi-process jobs are `live` and get LIVE_TIMEOUT_S, or the seconds
# given here for their file (pandas' own suite: above its subprocess's own 1500 s limit). A
# single test can say @pytest.mark.live or @pytest.mark.timeout(...) itself.
LIVE_TIMEOUT_S = 900
LIVE_FILES: dict[str, int] = {
    "test_ddp_live_hang.py": LIVE_TIMEOUT_S,
    "test_ddp_live_smoke.py": LIVE_TIMEOUT_S,
    "test_ddp_real.py": LIVE_TIMEOUT_S,
    "test_ddp_hang_scenarios.py": LIVE_TIMEOUT_S,
    "test_frame_pandas_suite.py": 1600,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in LIVE_FILES:
            item.add_marker(pytest.mark.live)
        if item.get_closest_marker("live") and not item.get_closest_marker("timeout"):
            seconds = LIVE_FILES.get(item.path.name, LIVE_TIMEOUT_S)
            item.add_marker(pytest.mark.timeout(seconds))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """@pytest.mark.needs("py-spy", ...): skip without them here, fail in CI (ci_provides)."""
    for mark in item.iter_markers("needs"):
        require(*mark.args)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In CI, a skip is a failure unless tests/ci_provides.py expects it (see there)."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        message = ci_failure(reason.removeprefix("Skipped: "))
        if message is not None:
            report.outcome = "failed"
            report.longrepr = message
    return report


# A runner that starts pytest as a background job of a non-interactive shell (`cmd &`, nohup)
# hands it SIGINT ignored, and every child inherits that: the Ctrl-C tests' subprocesses would
# then never see their SIGINT and time out. A handled (not ignored) SIGINT is reset to the
# default at exec, so the children start with Python's usual KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _own_nvml_double_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The NVML double's libraries and spec files under this session's temp dir (children
    inherit it): two test runs at once never share, or half-write, each other's."""
    if not os.environ.get("MLTOOLS_NVML_DOUBLE_DIR"):
        os.environ["MLTOOLS_NVML_DOUBLE_DIR"] = str(tmp_path_factory.mktemp("nvml-double"))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``mltools ARGS`` in-process through the real root app (error table included)."""
    from typer.testing import CliRunner

    from mltools.cli.app import app

    monkeypatch.delenv("MLTOOLS_DEBUG", raising=False)

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        result = CliRunner().invoke(app, list(args), input=input, env=env, prog_name="mltools")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def read_line(stream: IO[Any], timeout: float = 60.0) -> Any:
    """One line from a child's pipe, or fail the test after ``timeout`` seconds.

    A bare ``readline()`` on a child that never writes blocks until CI's own limit; this
    one has a deadline. The reader is a daemon thread: the test's cleanup kills the child,
    which ends the read.
    """
    box: list[Any] = []
    done = threading.Event()

    def read() -> None:
        try:
            box.append(stream.readline())
        except BaseException as exc:  # handed to the test below
            box.append(exc)
        finally:
            done.set()

    threading.Thread(target=read, daemon=True, name="read_line").start()
    if not done.wait(timeout):
        pytest.fail(f"no line from the child within {timeout:g} s", pytrace=False)
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def wait_exec(proc: subprocess.Popen) -> subprocess.Popen:
    """``proc`` once the program it exec'd has its command line, environment and name.

    Popen returns when exec closes the child's error pipe, which the kernel does before it
    builds the new command line and environment and renames the process: right after Popen
    /proc/PID/cmdline and environ can read empty and comm be the parent's name (59 of 100
    reads at once under load, 1 of 100 still after 10 ms beside two busy loops). A test that
    finds a child by its command line, name or rank variables waits on this first.
    """
    deadline = time.monotonic() + 60  # a hang detector: exec ends within milliseconds
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
                if f.read():
                    return proc
        except OSError:  # gone
            return proc
        assert time.monotonic() < deadline, f"pid {proc.pid} did not finish its exec"
        time.sleep(0.001)
    return proc


def usage_error(result: CliResult | subprocess.CompletedProcess, *words: str) -> str:
    """Assert ``result`` is a usage error (exit 2) whose message says each of ``words``.

    Click exits 2 for "No such option" too, so a test that checks the code alone stays
    green when the option it means is renamed away: name the option and the reason.
    Returns stderr.
    """
    code = getattr(result, "exit_code", None)
    code = result.returncode if code is None else code
    text = result.stderr
    assert code == 2, f"exit {code}, not 2 (a usage error): {text}"
    assert "Traceback" not in text, text
    if not any("No such option" in w for w in words):
        assert "No such option" not in text, text
    missing = [w for w in words if w not in text]
    assert not missing, f"the usage error does not say {missing}: {text}"
    return text


def mltools_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a subprocess that imports this checkout's ``mltools``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("MLTOOLS_DEBUG", None)
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def run_mltools() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m mltools ARGS`` as a real process (for signals, TTYs, completion)."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kwargs
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mltools", *args],
            capture_output=True,
            text=True,
            env=mltools_env(env),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    return run


_DEPS_FOR_NOBODY = (
    "import mltools.cli.app, psutil, magic, rich.progress, rich.table, pandas, joblib"
)


@pytest.fixture(scope="session")
def unprivileged_site(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """As root: a world-readable copy of this package and the third-party modules the CLI uses.

    Root's Python environment may live where other users cannot read it (here,
    under /root), so the unprivileged run gets its own copy on PYTHONPATH.
    """
    import shutil
    import tempfile

    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root for this test")
    site = Path(tempfile.mkdtemp(prefix="mltools-site-"))
    listing = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{_DEPS_FOR_NOBODY}\nimport sys, sysconfig\n"
            "purelib = sysconfig.get_paths()['purelib']\n"
            "for name, mod in list(sys.modules.items()):\n"
            "    f = getattr(mod, '__file__', None) or ''\n"
            "    if '.' not in name and f.startswith(purelib): print(f)",
        ],
        capture_output=True,
        text=True,
        env=mltools_env(),
        check=True,
    ).stdout.split()
    for file in map(Path, listing):
        source = file.parent if file.name == "__init__.py" else file
        target = site / source.name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            vendored = source.with_name(source.name + ".libs")  # e.g. numpy.libs (OpenBLAS)
            if vendored.is_dir():
                shutil.copytree(vendored, site / vendored.name, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    shutil.copytree(REPO / "mltools", site / "mltools", dirs_exist_ok=True)
    for path in [site, *site.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield site
    shutil.rmtree(site, ignore_errors=True)


@pytest.fixture
def unprivileged(unprivileged_site: Path | None):
    """Run ``mltools`` as a user whom file permissions apply to.

    Tests run as root in CI, and root reads a mode-000 file anyway. As root this
    runs the CLI as ``nobody`` (``setpriv``) over ``unprivileged_site``; as any
    other user it runs the CLI directly. Yields ``(workdir, run)``: files made
    under ``workdir`` are reachable by that user; ``run(*args)`` returns the
    CompletedProcess.
    """
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="mltools-unpriv-"))
    base.chmod(0o755)
    workdir = base / "work"
    workdir.mkdir()
    workdir.chmod(0o777)
    prefix: list[str] = []
    env = mltools_env({"HOME": str(workdir)})
    if unprivileged_site is not None:
        env["PYTHONPATH"] = str(unprivileged_site)
        prefix = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", _DEPS_FOR_NOBODY],
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
        )
        if probe.returncode != 0:
            pytest.skip(f"user nobody cannot run mltools here: {probe.stderr[-300:]}")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "mltools", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    try:
        yield workdir, run
    finally:
        for path in [base, *base.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
