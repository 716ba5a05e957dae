"""The test harness itself: scripts/test.sh, the CI skip guard, per-test time limits.

scripts/test.sh runs in a copy of the repository with fake apt-get/dpkg-query/pip/python on
PATH that only log, so its order and its stop-at-first-failure are checked without
installing anything. The guard and the time limits run in a real child pytest that loads
this suite's conftest.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import ci_provides
from tests.conftest import REPO, mltools_env

FAKE = textwrap.dedent(
    """\
    #!/bin/bash
    name=$(basename "$0")
    echo "$name $*" >> "$FAKE_LOG"
    if [ "$name" = dpkg-query ]; then  # installed unless named in $FAKE_MISSING
        case " $FAKE_MISSING " in *" ${@: -1} "*) exit 1;; esac
        printf 'install ok installed'
    fi
    if [ "$name" = python ] && [ "$1 $2" = "-m venv" ]; then
        mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; cp "$0" "$3/bin/pip"
    fi
    case "$name $*" in *"$FAKE_FAIL"*) exit 3;; esac
    exit 0
    """
)


def _run_test_sh(tmp_path: Path, *, missing: str = "", fail: str = "__never__", euid_root=True):
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    for name in ("test.sh", "test-packages.txt"):
        shutil.copy2(REPO / "scripts" / name, clone / "scripts" / name)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("apt-get", "dpkg-query", "sudo", "pip", "python"):
        (bindir / name).write_text(FAKE)
        (bindir / name).chmod(0o755)
    if not euid_root:
        (bindir / "id").write_text("#!/bin/sh\necho 1000\n")
        (bindir / "id").chmod(0o755)
    log = tmp_path / "log"
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "VIRTUAL_ENV": str(clone / ".venv"),
        "FAKE_LOG": str(log),
        "FAKE_MISSING": missing,
        "FAKE_FAIL": fail,
    }
    proc = subprocess.run(
        ["bash", str(clone / "scripts" / "test.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = log.read_text().splitlines() if log.exists() else []
    return proc, [ln for ln in lines if not ln.startswith("dpkg-query")]


def test_test_sh_installs_the_missing_packages_then_runs_every_stage(tmp_path):
    proc, log = _run_test_sh(tmp_path, missing="fish gcc")
    assert proc.returncode == 0, proc.stderr
    assert log == [
        "apt-get install -y --no-install-recommends fish gcc",
        "pip install -q torch==2.13.0",
        "pip install -q -e .[all,test]",
        "python -m ruff check .",
        "python -m ruff format --check .",
        "python -m pytest -q",
        "python -m venv .venv-pandas22",
        "pip install -q -e .[frame,pandarallel,dask,test-base] pandas==2.2.3",
        "python -m pytest -q tests/test_frame_apply.py tests/test_frame_cli.py"
        " tests/test_frame_dask.py tests/test_frame_pandas_suite.py",
        "python -m venv .venv-nvml-old",
        "pip install -q -e .[test-base] nvidia-ml-py==12.535.77",
        "python -m pytest -q tests/test_gpu_cli.py tests/test_gpu_kill.py"
        " tests/test_gpu_nvml_double.py tests/test_gpu_remote.py tests/test_gpu_select.py"
        " tests/test_gpu_snapshot.py tests/test_gpu_topo.py",
    ]
    assert "== stage 4/4" in proc.stdout


def test_test_sh_skips_apt_when_everything_is_installed_and_uses_sudo_otherwise(tmp_path):
    _, log = _run_test_sh(tmp_path / "a")
    assert not any("apt-get" in ln for ln in log)
    _, log = _run_test_sh(tmp_path / "b", missing="rsync", euid_root=False)
    assert log[0] == "sudo apt-get install -y --no-install-recommends rsync"


@pytest.mark.parametrize(
    "fail",
    ["apt-get install", "pip install -q -e .[all", "ruff format", "pytest -q tests/test_frame"],
)
def test_test_sh_stops_at_the_first_failure(tmp_path, fail):
    proc, log = _run_test_sh(tmp_path, missing="fish", fail=fail)
    assert proc.returncode == 3
    assert fail in log[-1]  # the failing step is the last thing that ran
    assert "test_gpu_cli" not in "\n".join(log)


def test_test_sh_refuses_to_run_outside_a_virtual_environment(tmp_path):
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "test.sh")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "run it in the virtual environment" in proc.stderr


# The names a side stage must not pull: torch is multi-GB (its CUDA build several GB more
# where no local CPU wheel lies), and stage 2 has installed it once already.
HEAVY = {"torch", "accelerate", "torchvision", "deepspeed"}


def _requirement_names(extras: set[str]) -> set[str]:
    """Every distribution the project's own pyproject names for `-e .[extras]`, extras of
    the project itself (`mltools-cli[test-base]`) followed."""
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names, todo, seen = set(), [None, *extras], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        lines = (
            project["dependencies"] if extra is None else project["optional-dependencies"][extra]
        )
        for line in lines:
            req = Requirement(line)
            if req.name == project["name"]:
                todo.extend(req.extras)
            else:
                names.add(req.name.lower())
    return names


def _closure(names: set[str]) -> set[str]:
    """`names` and what they require in this environment's metadata, transitively (no
    extras): what pip installs beside them, as far as this machine can tell."""
    from importlib import metadata

    from packaging.requirements import Requirement

    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name.lower().replace("_", "-"))
    return out


def test_side_stages_install_no_second_torch():
    """Stages 3 and 4 make fresh venvs: what they install must not reach torch, directly or
    through a dependency (the `test` extra's accelerate did, and filled CI's disk)."""
    text = (REPO / "scripts" / "test.sh").read_text()
    installs = re.findall(r"^\.venv-[\w-]+/bin/pip install (.*)$", text, re.M)
    assert len(installs) == 2
    for line in installs:
        extras = re.search(r'-e "?\.\[([\w,-]+)\]', line)
        names = _requirement_names(set(extras.group(1).split(",")) if extras else set())
        names |= {w.strip('"').split("=")[0].lower() for w in line.split() if "==" in w}
        pulled = _closure(names) & HEAVY
        assert not pulled, f"{line!r} pulls {sorted(pulled)}"
    # and the check can fail: the whole `test` extra does pull them
    assert _closure(_requirement_names({"test"})) & HEAVY >= {"accelerate", "torch"}


def test_every_declared_package_is_a_debian_package_name():
    text = (REPO / "scripts" / "test-packages.txt").read_text()
    names = [w for ln in text.splitlines() for w in ln.split("#", 1)[0].split()]
    assert len(names) == len(set(names)) and len(names) >= 15
    assert all(n == n.lower() and n.replace("-", "").replace(".", "").isalnum() for n in names)


# -- the CI guard ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "stage", "named"),
    [
        ("openssh server/client not installed", "", "sshd"),
        ("cannot log in to the test sshd: Permission denied", "", "sshd"),
        ("cannot mount a tmpfs here (not root)", "", "root, tmpfs mounts"),
        ("needs root and unshare for the PID namespaces", "", "root, unshare"),
        ("chattr +i not permitted here", "", "chattr"),
        ("no writable freezer cgroup here", "", "freezer cgroup"),
        ("needs root (mknod, /sys)", "", "root, mknod"),
        ("mpstat (sysstat) is not installed", "", "mpstat"),
        ("fish is not installed", "", "fish"),
        ("the NVML double needs a C compiler (apt-get install gcc libc6-dev)", "nvml-old", "gcc"),
        ("torchrun not installed", "", "torchrun"),
        ("needs py-spy (not on PATH: py-spy)", "", "py-spy"),
        ("could not import 'torch': No module named 'torch'", "", "torch"),
        ("pandarallel: ImportError: ExpandingGroupby", "pandas22", "pandarallel"),
    ],
)
def test_ci_fails_a_skip_of_what_it_provides(reason, stage, named):
    message = ci_provides.ci_failure(reason, stage)
    assert message is not None
    assert f"CI provides {named} (tests/ci_provides.py)" in message
    assert message.endswith(f"skip reason: {reason}")


@pytest.mark.parametrize(
    ("reason", "stage"),
    [
        ("this machine has a working NVIDIA driver", ""),
        ("a GPU is present", ""),
        ("pandarallel: ImportError: ExpandingGroupby", ""),
        ("pandarallel works here", "pandas22"),
        ("could not import 'tomllib': No module named 'tomllib'", ""),
    ],
)
def test_ci_lets_expected_skips_skip(reason, stage):
    assert ci_provides.ci_failure(reason, stage) is None


def test_ci_fails_a_skip_nobody_declared():
    message = ci_provides.ci_failure("the moon is in the wrong phase", "")
    assert message is not None and "not declared in tests/ci_provides.py" in message


def test_pandarallel_works_here_fails_outside_its_stage():
    # on pandas 3.1 pandarallel must not import: if it does, that test ran for nothing
    assert ci_provides.ci_failure("pandarallel works here", "") is not None


def test_require_names_the_need_and_skips(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match=r"needs fish \(not on PATH: fish\)"):
        ci_provides.require("fish")
    with pytest.raises(KeyError, match="'warp drive' is not declared"):
        ci_provides.require("warp drive")


def test_every_provided_need_is_here_on_this_machine_in_ci():
    """Where CI runs, everything it declares is present (a probe that lies is caught here)."""
    if not ci_provides.in_ci():
        pytest.skip("not in CI: what this machine has is up to it")
    stage = ci_provides.STAGE
    missing = {n.name: n.probe() for n in ci_provides.PROVIDED if stage in n.stages}
    assert {k: v for k, v in missing.items() if v} == {}


CHILD_TESTS = textwrap.dedent(
    """\
    import os, pytest

    def test_provided_skip():
        pytest.skip("fish is not installed")

    @pytest.mark.skipif(True, reason="cannot mount a tmpfs here (not root)")
    def test_provided_skipif():
        pass

    def test_expected_skip():
        pytest.skip("a GPU is present")

    def test_blocked_read():
        r, w = os.pipe()
        os.read(r, 1)  # nobody writes: only the time limit ends this

    def test_live_limit(request):
        print("LIMIT", request.node.get_closest_marker("timeout").args)
    """
)


def _child_pytest(tmp_path: Path, ci: str, name: str = "test_child.py", *args: str):
    (tmp_path / name).write_text(CHILD_TESTS)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\ntimeout = 2\nmarkers =\n    live: x\n    slow: x\n"
    )
    env = mltools_env({"CI": ci, "MLTOOLS_TEST_STAGE": ""})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-rA", "-s", name, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_in_ci_a_skip_of_something_provided_fails_the_run(tmp_path):
    out = _child_pytest(tmp_path, "true", "test_child.py", "-k", "skip")
    assert out.returncode == 1, out.stdout
    assert "ERROR test_child.py::test_provided_skipif" in out.stdout
    assert "FAILED test_child.py::test_provided_skip " in out.stdout
    assert "CI provides fish (tests/ci_provides.py); skip reason: fish is not installed" in (
        out.stdout
    )
    assert re.search(r"SKIPPED \[1\] test_child.py:\d+: a GPU is present", out.stdout)


def test_outside_ci_the_same_skips_skip(tmp_path):
    out = _child_pytest(tmp_path, "", "test_child.py", "-k", "skip")
    assert out.returncode == 0, out.stdout
    assert "3 skipped" in out.stdout


def test_a_blocked_read_fails_its_test_at_the_time_limit(tmp_path):
    out = _child_pytest(tmp_path, "", "test_child.py", "-k", "blocked")
    assert out.returncode == 1, out.stdout
    assert "Failed: Timeout (>2.0s) from pytest-timeout" in out.stdout


def test_live_files_get_the_long_limit(tmp_path):
    out = _child_pytest(tmp_path, "", "test_ddp_real.py", "-k", "live_limit")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "LIMIT (900,)" in out.stdout
    out = _child_pytest(tmp_path, "", "test_frame_pandas_suite.py", "-k", "live_limit")
    assert "LIMIT (1600,)" in out.stdout


def test_hypothesis_is_derandomized_without_ci():
    env = mltools_env()
    env.pop("CI", None)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tests.conftest, hypothesis as h; print(h.settings.default.derandomize)",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "True", out.stderr
