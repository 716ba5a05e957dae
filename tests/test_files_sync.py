"""`mltools sync` with real rsync locally and over a real sshd on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mltools.errors import ExitCode
from mltools.files.sync import (
    PartialSyncError,
    SyncOptions,
    _error_for,
    build_command,
    is_remote,
    parse_change,
    parse_progress,
)
from tests import _sshd
from tests.ci_provides import require
from tests.conftest import mltools_env, usage_error

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    (root / "-dash & space.txt").write_text("odd\n")
    (root / "new\nline.txt").write_text("nl\n")
    (root / "scratch.tmp").write_text("tmp\n")
    return root


def tree_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_parse_progress_and_changes():
    p = parse_progress("     32,768,000  45%   12.34MB/s    0:00:10 (xfr#3, to-chk=10/20)")
    assert (p.bytes_done, p.percent, p.eta_seconds) == (32_768_000, 45, 10)
    assert p.bytes_per_second == pytest.approx(12.34 * 1024**2)
    assert parse_progress("sending incremental file list") is None
    assert parse_change(">f+++++++++ sub/b.bin").path == "sub/b.bin"
    deleting = parse_change("*deleting   old file.txt")
    assert deleting.is_delete and deleting.path == "old file.txt"


def test_remote_detection_and_command():
    assert is_remote("host:/data") and is_remote("me@host:x") and is_remote("rsync://h/m")
    assert not is_remote("./a:b") and not is_remote("/abs/path") and not is_remote("plain")
    options = SyncOptions(port=2222, excludes=["*.tmp"], includes=["*.keep"])
    cmd = build_command("src/", "me@h:/d", options)
    assert cmd[-3:] == ["--", "src/", "me@h:/d"]
    assert cmd.index("--include=*.keep") < cmd.index("--exclude=*.tmp")
    assert cmd[cmd.index("-e") + 1] == "ssh -p 2222 -o ConnectTimeout=10"
    assert {"-a", "--partial", "--info=progress2"} <= set(cmd)
    # a default connect timeout, unless the user set one; --contimeout for a daemon
    plain = build_command("src/", "h:/d")
    assert plain[plain.index("-e") + 1] == "ssh -o ConnectTimeout=10"
    own = build_command("src/", "h:/d", SyncOptions(ssh_options=["ConnectTimeout=3"]))
    assert own[own.index("-e") + 1] == "ssh -o ConnectTimeout=3"
    assert "--contimeout=10" in build_command("src/", "rsync://h/mod/")
    assert "-e" not in build_command("src/", "dst/")
    extra = build_command("src/", "dst/", SyncOptions(extra_args=["--bwlimit=5M", "-z"]))
    assert extra[-5:] == ["--bwlimit=5M", "-z", "--", "src/", "dst/"]


def test_exit_code_translation():
    err = _error_for(23, "rsync error: some files could not be transferred (code 23)", False, None)
    assert isinstance(err, PartialSyncError) and err.exit_code == ExitCode.PARTIAL
    refused = _error_for(5, "Permission denied, please try again.", True, "me@h")
    assert "password was refused" in refused.message
    unknown = _error_for(6, "rsync error: unexplained error (code 255) at rsync.c(874)", True, "h")
    assert "key is not known" in unknown.message and "daemon" not in unknown.message
    ssh = _error_for(255, "root@h: Permission denied (publickey,password).", False, "root@h")
    assert "password" in ssh.hint


def test_local_sync_json(cli, src, tmp_path):
    dst = tmp_path / "dst"
    result = cli("sync", f"{src}/", f"{dst}/", "--exclude", "*.tmp", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["returncode"] == 0 and out["stats"]["files_transferred"] == 4
    expected = tree_files(src)
    del expected["scratch.tmp"]
    assert tree_files(dst) == expected
    assert {c["path"] for c in out["changes"]} >= {"a.txt", "sub/b.bin", "-dash & space.txt"}
    again = json.loads(cli("sync", f"{src}/", f"{dst}/", "--exclude", "*.tmp", "--json").stdout)
    assert again["stats"]["files_transferred"] == 0


def test_dry_run_changes_nothing(cli, src, tmp_path):
    dst = tmp_path / "dst"
    result = cli("sync", f"{src}/", f"{dst}/", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert not dst.exists()
    assert "a.txt" in result.stdout and "dry run" in result.stderr


def test_delete_is_previewed_unless_yes(cli, src, tmp_path):
    dst = tmp_path / "dst"
    assert cli("sync", f"{src}/", f"{dst}/").exit_code == 0
    (dst / "stale.ckpt").write_text("old")
    (src / "a.txt").write_text("changed\n")
    preview = cli("sync", f"{src}/", f"{dst}/", "--delete")
    assert preview.exit_code == ExitCode.ERROR  # stopped for want of --yes: not a success
    assert "stale.ckpt" in preview.stdout and "--yes" in preview.stderr
    assert (dst / "stale.ckpt").exists() and (dst / "a.txt").read_text() == "alpha\n"
    done = cli("sync", f"{src}/", f"{dst}/", "--delete", "--yes", "--json")
    assert json.loads(done.stdout)["deleted"] == ["stale.ckpt"]
    assert tree_files(dst) == tree_files(src)


def test_unreachable_host_times_out_instead_of_hanging(cli, src):
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, so the connect can only time out
    result = cli("sync", f"{src}/", "me@192.0.2.1:/tmp/x/", "--connect-timeout", "1")
    assert result.exit_code == ExitCode.ERROR
    # ssh's own words (timed out, or refused where the sandbox's network answers at once)
    assert "sync failed: ssh: connect to host 192.0.2.1 port 22: Connection" in result.stderr


def test_destination_inside_source_is_refused(cli, src):
    for dst in (f"{src}/backup", f"{src}/", f"{src}/sub/deeper/"):
        result = cli("sync", f"{src}/", dst)
        assert result.exit_code == ExitCode.USAGE, dst
        assert "inside the source" in result.stderr
    assert not (src / "backup").exists()
    ok = cli("sync", f"{src}/", f"{src}/backup/", "--exclude", "backup")
    assert ok.exit_code == 0, ok.stderr  # excluded: no nesting


def test_extra_rsync_args_after_double_dash(cli, src, tmp_path):
    dst = tmp_path / "dst"
    out = cli("sync", f"{src}/", f"{dst}/", "--json", "--", "--checksum", "--exclude=*.bin")
    assert out.exit_code == 0, out.stderr
    assert not (dst / "sub" / "b.bin").exists() and (dst / "a.txt").exists()
    for bad in (["--delete"], ["--remove-source-files"], ["-e", "ssh"], ["--rsh=x"], ["-ave"]):
        result = cli("sync", f"{src}/", f"{dst}/", "--", *bad)
        assert result.exit_code == ExitCode.USAGE, bad
    stray = cli("sync", f"{src}/", f"{dst}/", "third")
    assert stray.exit_code == ExitCode.USAGE and "after --" in stray.stderr


def test_errors_are_one_line(cli, src, tmp_path):
    missing = cli("sync", str(tmp_path / "nope"), str(tmp_path / "d"))
    assert missing.exit_code == ExitCode.ERROR
    assert missing.stderr.startswith("mltools: error: no such file or directory")
    (tmp_path / "afile").write_text("x")
    bad = cli("sync", f"{src}/", str(tmp_path / "afile" / "sub") + "/")
    assert bad.exit_code == ExitCode.ERROR
    assert bad.stderr.startswith("mltools: error: sync failed: ")
    assert len(bad.stderr.strip().splitlines()) == 1
    port = cli("sync", f"{src}/", str(tmp_path / "d"), "--port", "22")
    usage_error(port, "--port only applies to a remote host:path")


# --- a real sshd on loopback --------------------------------------------------------------


@dataclass
class Sshd:
    port: int
    key: Path
    options: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Iterator[Sshd]:
    """A real sshd (password and key logins) on a port held here from the start."""
    require("sshd", "sshpass")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True
        )
    shutil.copy(d / "client.pub", d / "authorized_keys")
    (d / "sshd_config").write_text(
        f"HostKey {d / 'host'}\nPidFile {d / 'pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPermitRootLogin yes\n"
    )
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    check = subprocess.run(
        ["/usr/sbin/sshd", "-t", "-f", str(d / "sshd_config")], capture_output=True, text=True
    )
    if check.returncode != 0:
        pytest.skip(f"sshd could not start: {check.stderr.strip()[-300:]}")
    with (d / "log").open("wb") as log:
        server = _sshd.InetdSshd(d / "sshd_config", log)
        options = [
            "StrictHostKeyChecking=no",
            f"UserKnownHostsFile={d / 'known_hosts'}",
            "ConnectTimeout=10",
        ]
        try:
            yield Sshd(server.port, d / "client", options)
        finally:
            server.close()


def _ssh_args(sshd: Sshd, *extra: str) -> list[str]:
    args = ["--port", str(sshd.port)]
    for opt in [*sshd.options, *extra]:
        args += ["-o", opt]
    return args


def test_sync_over_real_sshd_with_key(cli, sshd, src, tmp_path):
    dst = tmp_path / "remote-dst"
    result = cli(
        "sync",
        f"{src}/",
        f"root@127.0.0.1:{dst}/",
        "-i",
        str(sshd.key),
        *_ssh_args(sshd),
        "--json",
        env={"SSHPASS": ""},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["stats"]["files_transferred"] == 5
    assert tree_files(dst) == tree_files(src)


class ProcWatch:
    """Scan every /proc/*/cmdline (and the environ of sshpass/rsync/ssh) while a run lasts."""

    def __init__(self, secret: str, exclude_pid: int | None = None) -> None:
        self.secret = secret.encode()
        self.exclude = exclude_pid
        self.leaks: list[str] = []
        self.seen: set[str] = set()
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) == self.exclude:
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                name = os.path.basename(cmdline.split(b"\0", 1)[0]).decode(errors="replace")
                if self.secret in cmdline:
                    self.leaks.append(f"cmdline of {pid}: {cmdline!r}")
                if name in ("sshpass", "rsync", "ssh"):
                    self.seen.add(name)
                    try:
                        with open(f"/proc/{pid}/environ", "rb") as f:
                            if self.secret in f.read():
                                self.leaks.append(f"environ of {pid} ({name})")
                    except OSError:
                        pass
            self.scans += 1

    def __enter__(self) -> ProcWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("how", ["env", "file", "prompt"])
def test_password_never_in_any_cmdline(sshd, src, tmp_path, how):
    """The real sshd refuses the password (no test user can have one), so the password really
    travels sshpass -> ssh -> sshd while every process's argv is scanned."""
    secret = f"S3cret-{os.getpid()}-{how}-pw"
    args = [
        sys.executable,
        "-m",
        "mltools",
        "sync",
        f"{src}/",
        f"root@127.0.0.1:{tmp_path}/never/",
        *_ssh_args(sshd, "PubkeyAuthentication=no", "PreferredAuthentications=password"),
    ]
    env = mltools_env()
    env.pop("SSHPASS", None)
    stdin = subprocess.DEVNULL
    if how == "env":
        env["SSHPASS"] = secret
    elif how == "file":
        pw = tmp_path / "pw"
        pw.write_text(secret + "\n")
        pw.chmod(0o600)
        args += ["--password-file", str(pw)]
    with ProcWatch(secret) as watch:
        if how == "prompt":
            # typer.prompt reads stdin when it is not a terminal
            proc = subprocess.Popen(
                [*args, "--ask-password"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            watch.exclude = proc.pid
            out, err = proc.communicate(secret + "\n", timeout=60)
        else:
            proc = subprocess.Popen(
                args,
                env=env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            watch.exclude = proc.pid  # the mltools process itself was handed SSHPASS by us
            out, err = proc.communicate(timeout=60)
    assert watch.leaks == []
    assert watch.scans > 0 and "sshpass" in watch.seen
    assert proc.returncode == ExitCode.ERROR, err
    assert "password was refused" in err
    assert secret not in out + err


# --- ssh's own words reach the user (mltools._child_failure), against the real sshd -------


def _sync_err(cli, src, tmp_path, *args, env=None):
    result = cli("sync", f"{src}/", f"root@127.0.0.1:{tmp_path / 'dst'}/", *args, env=env or {})
    assert result.exit_code == ExitCode.ERROR, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("mltools: error: sync failed: ")
    return lines


def test_unknown_host_key_with_a_key_says_sshs_words(cli, sshd, src, tmp_path):
    args = ["-i", str(sshd.key), "--port", str(sshd.port), "-o", "StrictHostKeyChecking=yes"]
    args += ["-o", f"UserKnownHostsFile={tmp_path / 'empty_known_hosts'}"]
    lines = _sync_err(cli, src, tmp_path, *args, env={"SSHPASS": ""})
    assert "ssh: Host key verification failed." in lines[0]
    assert "not in known_hosts" in lines[0]
    assert "ssh root@127.0.0.1" in lines[1]


def test_unknown_host_key_with_a_password_is_not_an_rsync_daemon_log(cli, sshd, src, tmp_path):
    """sshpass exits 6 at ssh's host-key question; that used to read as rsync's code 6."""
    args = ["--port", str(sshd.port), "-o", f"UserKnownHostsFile={tmp_path / 'kh'}"]
    args += ["-o", "PubkeyAuthentication=no"]
    lines = _sync_err(cli, src, tmp_path, *args, env={"SSHPASS": "not-the-password"})
    assert "daemon" not in lines[0]
    assert "host's key is not known yet" in lines[0]


def test_banner_timeout_says_sshs_words(cli, src, tmp_path):
    """A port that accepts TCP but never speaks ssh (an overloaded or wrong server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        args = ["--port", str(listener.getsockname()[1]), "--connect-timeout", "1"]
        args += ["-o", f"UserKnownHostsFile={tmp_path / 'kh'}", "-o", "BatchMode=yes"]
        lines = _sync_err(cli, src, tmp_path, *args)
    finally:
        listener.close()
    assert "Connection timed out during banner exchange" in lines[0]
    assert "no ssh server answered" in lines[0]


@pytest.mark.parametrize("where", ["after-start", "while-reading"])
def test_an_interruption_anywhere_stops_rsync_and_what_it_forked(src, tmp_path, monkeypatch, where):
    """A SIGTERM landing between rsync's start and the reading of its output used to escape
    every cleanup: mltools exited 143 and rsync's three processes went on copying."""
    import psutil

    from mltools.errors import Interrupted
    from mltools.files import sync as sync_mod

    (src / "big.bin").write_bytes(os.urandom(1 << 20))
    started: list[int] = []

    class Thread(threading.Thread):
        def start(self) -> None:
            # rsync is running now (and has forked its generator and receiver, or will)
            started.extend(p.pid for p in psutil.Process().children(recursive=True))
            if where == "after-start":
                raise Interrupted(15)
            super().start()

    real_stream_lines = sync_mod._stream_lines

    def interrupted(stream, on_line):
        if threading.current_thread() is threading.main_thread():
            raise Interrupted(15)  # as the signal handler raises it, in the main thread
        real_stream_lines(stream, on_line)  # the stderr reader goes on

    monkeypatch.setattr(sync_mod.threading, "Thread", Thread)
    if where == "while-reading":
        monkeypatch.setattr(sync_mod, "_stream_lines", interrupted)
    with pytest.raises(Interrupted):
        sync_mod.sync(f"{src}/", str(tmp_path / "dst"), SyncOptions(extra_args=["--bwlimit=1"]))
    assert started, "rsync was not running"
    assert _running_rsyncs(psutil) == []


def _running_rsyncs(psutil) -> list[int]:
    """This process's rsync descendants that still run (not zombies). Only rsync's: another
    child of the test run (an ``sshd -i`` still exiting after an earlier test's connection)
    is not this test's business; and one that ends while it is looked at has ended."""
    left = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.name() == "rsync" and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return left
