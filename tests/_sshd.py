"""A throwaway sshd for tests: keys, server and client config in one folder (loopback only)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import IO

SSHD = "/usr/sbin/sshd"


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


class InetdSshd:
    """An sshd on a port this process holds from the first moment: each connection is
    served by ``sshd -i`` (inetd mode) on the accepted socket.

    A port picked with bind(0), closed, and handed to a daemon can be taken by anyone in
    between (8 test runs share this machine); this listener is bound once and kept.
    """

    def __init__(self, config: Path, log: IO[bytes]) -> None:
        self.config = config
        self.log = log
        self.children: list[subprocess.Popen] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True, name="sshd -i")
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the fixture is done
                return
            with conn:
                self.children.append(
                    subprocess.Popen(
                        [SSHD, "-i", "-e", "-f", str(self.config)],
                        stdin=conn.fileno(),
                        stdout=conn.fileno(),
                        stderr=self.log,
                    )
                )

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        self._thread.join(timeout=10)
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)


class RefusingPort:
    """A port bound and never listened on: a connection to it is refused while it is held
    (a closed port picked with bind(0) could be taken by another process)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()
