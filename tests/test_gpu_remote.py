"""`--hosts` over a real sshd on loopback (`sshd -i` behind a port held here; skipped if sshd cannot run)."""

from __future__ import annotations

import getpass
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mltools.errors import ExitCode, UsageError
from mltools.gpu.remote import parse_hosts, snapshot_from_dict, ssh_argv
from tests import _sshd
from tests._fake_nvml import GiB, gpu
from tests._gpu_fixtures import FAKE_RUN, REPO
from tests.ci_provides import require
from tests.conftest import usage_error

SSHD = "/usr/sbin/sshd"


@pytest.fixture(scope="module")
def ssh_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    require("sshd")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True
        )
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    (d / "sshd_config").write_text(
        f"HostKey {d / 'host_key'}\n"
        f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        # sshd's privilege-separation directory, which the Debian service creates at start
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    check = subprocess.run(
        [SSHD, "-t", "-f", str(d / "sshd_config")], capture_output=True, text=True
    )
    if check.returncode != 0:
        pytest.skip(f"sshd cannot start here: {check.stderr.strip()}")
    # ports held from the first moment: node-a/b's listener, node-down's refusing port
    server = _sshd.InetdSshd(d / "sshd_config", (d / "sshd.log").open("wb"))
    down = _sshd.RefusingPort()
    port, closed = server.port, down.port
    common = (
        f"  HostName 127.0.0.1\n  User {getpass.getuser()}\n  IdentityFile {d / 'client_key'}\n"
        "  IdentitiesOnly yes\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n"
        "  LogLevel ERROR\n"
    )
    config = d / "ssh_config"
    config.write_text(
        f"Host node-a node-b\n  Port {port}\n{common}Host node-down\n  Port {closed}\n{common}"
    )
    spec = {"gpus": [gpu(0, mem_used=GiB), gpu(1, util_gpu=90), gpu(2, lost=True)]}
    remote = (
        f"env MLTOOLS_TEST_FAKE_NVML={shlex.quote(json.dumps(spec))} PYTHONPATH={shlex.quote(str(REPO))} "
        f"{shlex.quote(sys.executable)} {shlex.quote(FAKE_RUN)}"
    )
    # The probe is plain ssh, not the production ssh_argv: a broken ssh_argv must fail the
    # tests below, not skip them.
    probe = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "node-a", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    try:
        if probe.returncode != 0:
            pytest.skip(f"cannot log in to the test sshd: {probe.stderr.strip()}")
        yield {"config": str(config), "remote": remote}
    finally:
        server.close()
        down.close()


def hosts_cli(run_mltools, setup: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return run_mltools(
        "gpu", *args, "--ssh-config", setup["config"], "--remote-mltools", setup["remote"],
        "--host-timeout", "20",
    )  # fmt: skip


def test_table_with_host_column_and_unreachable_host(run_mltools, ssh_setup):
    result = hosts_cli(run_mltools, ssh_setup, "--hosts", "node-a,node-down,node-b")
    assert result.returncode == ExitCode.PARTIAL, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["HOST", "GPU", "NAME"]
    rows = [line.split() for line in lines[1:8] if not line.startswith("node-down")]
    assert [(r[0], r[1]) for r in rows] == [
        ("node-a", "0"), ("node-a", "1"), ("node-a", "2"),
        ("node-b", "0"), ("node-b", "1"), ("node-b", "2"),
    ]  # fmt: skip
    assert rows[2][2] == "ERROR"
    down = next(line.split() for line in lines if line.startswith("node-down"))
    assert down[1:] == ["-", "ERROR"]
    # ssh's own words, then ours, once: the summary on stderr names the host, not the reason
    # again (each reason used to be printed three times)
    reason = "ssh: connect to host 127.0.0.1 port"
    assert f"ERROR node-down: {reason}" in result.stdout
    assert "Connection refused (nothing accepts connections on that port)" in result.stdout
    assert "ERROR node-a GPU 2: GPU has fallen off the bus (NVML: GPU is lost)" in result.stdout
    both = result.stdout + result.stderr
    assert both.count(reason) == 1 and both.count("fallen off the bus") == 2  # a and b
    assert result.stderr.splitlines()[0] == (
        "mltools: error: 1 of 3 hosts did not report (node-down); "
        "2 GPUs could not be read (node-a GPU 2, node-b GPU 2)"
    )
    assert result.stderr.splitlines()[1] == "hint: check the port and that sshd runs on the host"


def test_json_merges_hosts(run_mltools, ssh_setup):
    result = hosts_cli(run_mltools, ssh_setup, "--hosts", "node-a,node-down", "--json")
    assert result.returncode == ExitCode.PARTIAL
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1
    a, down = doc["hosts"]
    assert a["host"] == "node-a" and a["error"] is None
    assert [g["index"] for g in a["snapshot"]["gpus"]] == [0, 1, 2]
    assert a["snapshot"]["gpus"][0]["memory_used_bytes"] == GiB
    assert down["host"] == "node-down" and down["snapshot"] is None
    assert down["error"].startswith("ssh: connect to host 127.0.0.1 port")
    assert result.stderr.startswith("mltools: error: 1 of 2 hosts did not report (node-down);")


def test_every_host_reports_and_a_lost_gpu_there_is_exit_6(run_mltools, ssh_setup):
    result = hosts_cli(run_mltools, ssh_setup, "--hosts", "node-a", "--csv")
    assert result.returncode == ExitCode.PARTIAL, result.stderr
    assert result.stderr.startswith("mltools: error: 1 GPU could not be read (node-a GPU 2)\n")
    assert "hint: nvidia-smi -q shows the same" in result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].startswith("schema_version,host,index")
    assert [r.split(",")[1:3] for r in rows[1:]] == [
        ["node-a", "0"],
        ["node-a", "1"],
        ["node-a", "2"],
    ]


def test_pick_across_hosts(run_mltools, ssh_setup):
    result = hosts_cli(run_mltools, ssh_setup, "pick", "--hosts", "node-a,node-down", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["cuda_device_order"] == "PCI_BUS_ID"
    assert doc["hosts"][0] == {"host": "node-a", "cuda_visible_devices": "0", "error": None}
    assert doc["hosts"][1]["cuda_visible_devices"] is None
    result = hosts_cli(run_mltools, ssh_setup, "pick", "-n", "2", "--hosts", "node-a")
    assert result.returncode == ExitCode.UNAVAILABLE
    assert "1 of 3 GPUs qualify, 2 needed" in result.stdout


def test_mltools_missing_on_host(run_mltools, ssh_setup):
    result = run_mltools(
        "gpu", "--hosts", "node-a", "--ssh-config", ssh_setup["config"],
        "--remote-mltools", "/nonexistent/mltools",
    )  # fmt: skip
    assert result.returncode == ExitCode.PARTIAL
    assert "/nonexistent/mltools not found on the host" in result.stdout
    assert result.stdout.startswith("HOST")


def test_host_names_that_look_like_options_are_refused(cli):
    for bad in ("-oProxyCommand=touch /tmp/pwned", "node a", ","):
        with pytest.raises(UsageError):
            parse_hosts(bad)
    result = cli("gpu", "--hosts", "-oProxyCommand=x")
    usage_error(result, "not a host name: '-oProxyCommand=x'")
    result = cli("gpu", "--hosts=-oProxyCommand=x")
    assert result.exit_code == ExitCode.USAGE
    assert "not a host name" in result.stderr


def test_snapshot_from_dict_rejects_other_documents():
    with pytest.raises(ValueError):
        snapshot_from_dict({"gpus": []})
    snap = snapshot_from_dict(
        {"schema_version": 1, "host": "h", "gpus": [{"index": 0, "new_key": 1}]}
    )
    assert snap.gpus[0].index == 0 and snap.gpus[0].processes is None  # unknown, not empty


def test_ssh_argv_is_batch_mode():
    argv = ssh_argv("node", "mltools gpu --json", timeout=7, ssh_config=None)
    assert argv[:2] == ["ssh", "-n"]
    assert "BatchMode=yes" in argv and "ConnectTimeout=7" in argv
    assert argv[-3:] == ["--", "node", "mltools gpu --json"]
    assert Path(argv[0]).name == "ssh"
