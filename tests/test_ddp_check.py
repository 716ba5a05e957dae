"""`ddp-doctor check` in a controlled environment: fake /dev/shm, /proc, variables, ports."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from mltools.ddp import check
from mltools.ddp.check import FAIL, PASS, WARN, CheckContext, run_checks, select_interfaces
from mltools.errors import ExitCode
from tests._ports import free_port
from tests.conftest import wait_exec

GiB = 1024**3


@pytest.fixture
def quiet(monkeypatch, tmp_path):
    """A healthy machine: big /dev/shm, an empty /proc (no leftovers), a free port."""
    monkeypatch.setattr(check, "fs_size", lambda path: 32 * GiB)
    (tmp_path / "proc").mkdir()
    (tmp_path / "sys").mkdir()
    return tmp_path


def ctx(tmp_path, **env: str) -> CheckContext:
    base = {"MASTER_PORT": str(free_port())}
    base.update(env)
    return CheckContext(
        env=base,
        proc_root=str(tmp_path / "proc"),
        sys_root=str(tmp_path / "sys"),
        import_torch=False,
    )


def rows(report, name_prefix: str):
    return [r for r in report.results if r.name.startswith(name_prefix)]


def test_healthy_machine_passes(quiet):
    report = run_checks(ctx(quiet))
    assert not report.failed, [r for r in report.results if r.status == FAIL]
    by_name = {r.name: r for r in report.results}
    assert by_name.keys() >= {
        "versions", "gpus", "shm", "ulimit_nofile", "ulimit_memlock", "infiniband",
        "master_port", "env", "leftovers",
    }  # fmt: skip
    # the rows this test controls (the rest depend on the host: limits, interfaces)
    for name in ("versions", "gpus", "shm", "infiniband", "master_port", "env", "leftovers"):
        assert by_name[name].status == PASS, by_name[name]


@pytest.mark.parametrize(
    ("size", "status"), [(64 * 1024**2, FAIL), (1 * GiB, WARN), (16 * GiB, PASS)]
)
def test_shm_size(quiet, monkeypatch, size, status):
    monkeypatch.setattr(check, "fs_size", lambda path: size)
    (row,) = rows(run_checks(ctx(quiet)), "shm")
    assert row.status == status
    if status != PASS:
        assert "--shm-size" in row.fix


def test_missing_shm_fails(tmp_path):
    c = CheckContext(env={}, shm_path=str(tmp_path / "no-shm"), sys_root=str(tmp_path))
    check_rows = check.check_limits(c)
    assert check_rows[0].status == FAIL
    c.shm_path = str(tmp_path)  # a real file system: its true size is read
    assert check.check_limits(c)[0].message.startswith(f"{tmp_path} is ")


def test_port_held_by_a_test_socket_fails_and_names_the_owner(quiet):
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        report = run_checks(ctx(quiet, MASTER_PORT=str(port), MASTER_ADDR="127.0.0.1"))
    (row,) = rows(report, "master_port")
    assert row.status == FAIL
    assert f"MASTER_PORT={port} is already in use" in row.message
    assert "pytest" in row.message or "python" in row.message  # this process holds it
    assert report.failed


def test_master_addr(quiet):
    report = run_checks(ctx(quiet, MASTER_ADDR="no-such-host.invalid"))
    (row,) = rows(report, "master_addr")
    assert row.status == FAIL
    report = run_checks(ctx(quiet, MASTER_ADDR="localhost"))
    (row,) = rows(report, "master_addr")
    assert row.status == PASS and "this node" in row.message
    report = run_checks(ctx(quiet, MASTER_PORT="http"))
    assert rows(report, "master_port")[0].status == FAIL


def test_env_lint_for_installed_torch(quiet):
    report = run_checks(
        ctx(
            quiet,
            NCCL_ASYNC_ERROR_HANDLING="1",
            NCCL_BLOCKING_WAIT="1",
            TORCH_NCCL_TRACE_BUFFER_SIZE="2000",
            NCCL_TIMEOUT="600",
            TORCH_DISTRIBUTED_DEBUG="DETAIL",
        )
    )
    by_name = {r.name: r for r in report.results}
    assert by_name["env:NCCL_ASYNC_ERROR_HANDLING"].status == WARN
    assert "TORCH_NCCL_ASYNC_ERROR_HANDLING=1" in by_name["env:NCCL_ASYNC_ERROR_HANDLING"].fix
    assert by_name["env:NCCL_BLOCKING_WAIT"].fix == "use TORCH_NCCL_BLOCKING_WAIT=1"
    assert by_name["env:TORCH_NCCL_TRACE_BUFFER_SIZE"].fix == "use TORCH_FR_BUFFER_SIZE=2000"
    assert by_name["env:NCCL_TIMEOUT"].status == FAIL
    assert by_name["env:TORCH_DISTRIBUTED_DEBUG"].status == WARN
    assert by_name["env:blocking_wait"].status == WARN  # blocking wait + flight recorder
    assert report.failed


def test_env_lint_for_an_old_torch(quiet, monkeypatch):
    monkeypatch.setattr(check, "torch_version", lambda: (2, 1))
    report = run_checks(ctx(quiet, TORCH_NCCL_ASYNC_ERROR_HANDLING="1", NCCL_BLOCKING_WAIT="1"))
    by_name = {r.name: r for r in report.results}
    assert by_name["env:TORCH_NCCL_ASYNC_ERROR_HANDLING"].status == FAIL
    assert "env:NCCL_BLOCKING_WAIT" not in by_name


def test_select_interfaces_forms():
    names = ["docker0", "eth0", "eth1", "ib0", "lo"]
    assert select_interfaces("eth", names) == ["eth0", "eth1"]
    assert select_interfaces("=eth1", names) == ["eth1"]
    assert select_interfaces("=eth", names) == []
    assert select_interfaces("^docker,lo", names) == ["eth0", "eth1", "ib0"]
    assert select_interfaces("^=eth0", names) == ["docker0", "eth1", "ib0", "lo"]
    assert select_interfaces("ib,eth1", names) == ["eth1", "ib0"]


def test_nccl_socket_ifname(quiet):
    report = run_checks(ctx(quiet, NCCL_SOCKET_IFNAME="=nosuch0"))
    assert rows(report, "nccl_socket_ifname")[0].status == FAIL
    report = run_checks(ctx(quiet, NCCL_SOCKET_IFNAME="lo"))
    assert rows(report, "nccl_socket_ifname")[0].status == WARN
    report = run_checks(ctx(quiet, NCCL_SOCKET_IFNAME="^nosuch"))
    assert rows(report, "nccl_socket_ifname")[0].status in (PASS, WARN)
    report = run_checks(ctx(quiet, GLOO_SOCKET_IFNAME="nosuch0"))
    assert rows(report, "gloo_socket_ifname")[0].status == FAIL


def fake_gpu_machine(root, n=2, driver="550.54.15"):
    nv = root / "proc" / "driver" / "nvidia"
    (nv / "gpus").mkdir(parents=True)
    for i in range(n):
        (nv / "gpus" / f"0000:0{i}:00.0").mkdir()
    (nv / "version").write_text(
        f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {driver}  Thu Feb 22 01:44:30 UTC 2024\n"
    )


def test_cuda_visible_devices(quiet):
    fake_gpu_machine(quiet)
    report = run_checks(ctx(quiet, CUDA_VISIBLE_DEVICES="1"))
    assert rows(report, "gpus")[0].status == PASS
    assert rows(report, "cuda_device_order")[0].status == WARN
    report = run_checks(ctx(quiet, CUDA_VISIBLE_DEVICES="1", CUDA_DEVICE_ORDER="PCI_BUS_ID"))
    assert rows(report, "cuda_device_order") == []
    report = run_checks(ctx(quiet, CUDA_VISIBLE_DEVICES="0,3"))
    assert rows(report, "gpus")[0].status == FAIL
    report = run_checks(ctx(quiet, CUDA_VISIBLE_DEVICES="0,0"))
    assert rows(report, "gpus")[0].status == FAIL
    report = run_checks(ctx(quiet, CUDA_VISIBLE_DEVICES=""))
    assert rows(report, "gpus")[0].status == FAIL


def test_cpu_only_torch_on_a_gpu_machine_fails(quiet):
    fake_gpu_machine(quiet)
    c = ctx(quiet)
    c.import_torch = True
    (row, *_) = check.check_versions(c)
    assert "driver 550.54.15" in row.message
    import torch

    if torch.version.cuda is None:
        assert row.status == FAIL
        assert "CPU-only torch" in row.message


def test_infiniband_and_memlock(quiet):
    (quiet / "sys" / "class" / "infiniband" / "mlx5_0").mkdir(parents=True)
    report = run_checks(ctx(quiet))
    assert "mlx5_0" in rows(report, "infiniband")[0].message
    report = run_checks(ctx(quiet, NCCL_IB_DISABLE="1"))
    assert rows(report, "infiniband")[0].status == WARN
    report = run_checks(ctx(quiet / "nowhere", NCCL_IB_HCA="mlx5_0"))
    assert rows(report, "infiniband")[0].status == WARN


def test_leftover_launcher_is_reported(tmp_path):
    """A real launcher-looking process is found on the real /proc, and the check's row names
    it. The row names the first five only, so the message is read over a /proc of just this
    process (a link to its real entry): other launchers on a shared machine (any argv holding
    "torchrun", a pytest folder test_torchrun_0) took the five places before."""
    proc = wait_exec(
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time; time.sleep(60)",
                "torchrun",
                "--nproc-per-node",
                "2",
            ]
        )
    )
    try:
        found = check.leftover_processes(CheckContext())
        assert (proc.pid, "launcher") in [(pid, what) for pid, what, _ in found]
        own = tmp_path / "proc"
        own.mkdir()
        (own / str(proc.pid)).symlink_to(f"/proc/{proc.pid}")
        (row,) = check.check_leftovers(CheckContext(proc_root=str(own)))
        assert row.status == WARN
        cmd = f"{sys.executable} -c import time; time.sleep(60) torchrun --nproc-per-node 2"
        assert row.message == (
            "1 process(es) from an earlier run may hold GPUs or ports: "
            f"pid {proc.pid} launcher: {cmd[:80]}"
        )
    finally:
        proc.kill()
        proc.wait()


def test_leftovers_row_names_the_first_five_and_counts_the_rest(tmp_path):
    for pid in range(4240, 4247):
        (tmp_path / "proc" / str(pid)).mkdir(parents=True)
        (tmp_path / "proc" / str(pid) / "cmdline").write_bytes(b"torchrun\0--rdzv-id\0%d\0" % pid)
    (row,) = check.check_leftovers(CheckContext(proc_root=str(tmp_path / "proc")))
    assert row.status == WARN
    named = re.findall(r"pid (\d+) launcher: torchrun --rdzv-id (\d+)", row.message)
    assert len(named) == 5 and all(a == b for a, b in named), row.message
    assert len({a for a, _ in named}) == 5 and {int(a) for a, _ in named} < set(range(4240, 4247))
    assert row.message.startswith("7 process(es) ") and row.message.endswith(" (+2 more)")


def test_leftover_gpu_holder_from_fake_proc(tmp_path):
    fd_dir = tmp_path / "proc" / "4242" / "fd"
    fd_dir.mkdir(parents=True)
    (tmp_path / "proc" / "4242" / "cmdline").write_bytes(b"python\0train.py\0")
    (fd_dir / "7").symlink_to("/dev/nvidia3")
    found = check.leftover_processes(CheckContext(proc_root=str(tmp_path / "proc")))
    assert found == [(4242, "holds /dev/nvidia3", "python train.py")]


# ---- CLI -------------------------------------------------------------------


@pytest.fixture
def cli_quiet(monkeypatch):
    monkeypatch.setattr(check, "fs_size", lambda path: 32 * GiB)
    monkeypatch.setattr(check, "leftover_processes", lambda ctx: [])


def test_cli_check_is_the_default_and_passes(cli, cli_quiet):
    env = {"MASTER_PORT": str(free_port())}
    for args in (("ddp-doctor",), ("ddp-doctor", "check")):
        result = cli(*args, env=env)
        assert result.exit_code == 0, result.stdout
        assert result.stdout.splitlines()[0].split() == ["STATUS", "CHECK", "DETAIL", "FIX"]
        assert "shm" in result.stdout


def test_cli_check_json_and_fail_exit_code(cli, cli_quiet, monkeypatch):
    monkeypatch.setattr(check, "fs_size", lambda path: 64 * 1024**2)
    env = {"MASTER_PORT": str(free_port()), "NCCL_ASYNC_ERROR_HANDLING": "1"}
    result = cli("ddp-doctor", "check", "--json", env=env)
    assert result.exit_code == ExitCode.CHECK_FAILED
    data = json.loads(result.stdout)
    assert data["status"] == "FAIL"
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["shm"]["status"] == "FAIL"
    assert by_name["env:NCCL_ASYNC_ERROR_HANDLING"]["status"] == "WARN"
    assert set(by_name["shm"]) == {"name", "status", "message", "fix"}
    result = cli("ddp-doctor", "--json", env=env)
    assert result.exit_code == ExitCode.CHECK_FAILED
    assert json.loads(result.stdout)["status"] == "FAIL"
