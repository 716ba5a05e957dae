"""A throwaway sshd for tests: keys, server and client config in one folder (loopback only)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> str | None:
    """None when an sshd can be set up here, else why not."""
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        return "openssh server/client not installed"
    return None


def prepare(d: Path, ports: dict[str, int]) -> tuple[dict[str, Path], Path]:
    """Keys, one sshd config per host alias (listening on its port), and one ssh client config.

    Returns ({alias: sshd_config}, ssh_config).
    """
    for name in ("host_key", "client_key"):
        if not (d / name).exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True
            )
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    servers = {}
    client = []
    for alias, port in ports.items():
        cfg = d / f"sshd_config_{alias}"
        cfg.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
            f"PidFile {d / f'sshd_{alias}.pid'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nLogLevel ERROR\n"
        )
        servers[alias] = cfg
        client.append(
            f"Host {alias}\n  Port {port}\n  HostName 127.0.0.1\n  User {getpass.getuser()}\n"
            f"  IdentityFile {d / 'client_key'}\n  IdentitiesOnly yes\n"
            "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n"
        )
    ssh_config = d / "ssh_config"
    ssh_config.write_text("".join(client))
    return servers, ssh_config
