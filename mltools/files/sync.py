"""rsync with one progress bar, previews for deletions, and passwords kept out of argv.

``build_command`` turns ``SyncOptions`` into an rsync argument list (``-a --partial``,
``--info=progress2`` for one overall progress figure, ``--itemize-changes``
for a list of what changed). ``sync`` runs it, parses progress from rsync's
``\\r``-separated lines, and translates rsync's exit code into a message.

A password for a password-only ssh host is handed to ``sshpass -d FD``
through a pipe: it is never in any process's argument list or environment.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mltools._child_failure import rsync_failure
from mltools._signals import deferred
from mltools.errors import (
    ExitCode,
    MissingDependencyError,
    MltoolsError,
    UsageError,
)
from mltools.stopper import stop


class SyncError(MltoolsError):
    """rsync (or ssh under it) failed; ``returncode`` is rsync's own exit code."""

    def __init__(self, message: str, *, hint: str | None = None, returncode: int = 1) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode


class PartialSyncError(SyncError):
    """rsync copied what it could but some files failed or vanished (codes 23 and 24)."""

    exit_code = ExitCode.PARTIAL


_REMOTE_RE = re.compile(r"^(?:[^/:@]+@)?(?:\[[^\]]+\]|[^/:]+):")
_PROGRESS_RE = re.compile(r"^\s*([\d,.]+)\s+(\d+)%\s+([\d.]+)([kMGT]?B)/s\s+(\d+):(\d{2}):(\d{2})")
_RATE_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_ITEM_RE = re.compile(r"^([<>ch.*][fdLDS][^ ]*|\*deleting) +(.*)$")
_STATS = {
    "Number of regular files transferred": "files_transferred",
    "Total file size": "total_size_bytes",
    "Total transferred file size": "transferred_bytes",
    "Number of deleted files": "files_deleted",
}


@dataclass(frozen=True)
class SyncOptions:
    """What rsync should do: filters, deletions, dry run and how to reach the remote host.

    ``includes`` are applied before ``excludes`` (rsync takes the first rule that
    matches). ``port``, ``identity`` and ``ssh_options`` shape the ssh command and
    apply only when one side is remote; ``connect_timeout`` (seconds, default 10)
    becomes ssh's ``ConnectTimeout`` (unless ``ssh_options`` sets one) or rsync's
    ``--contimeout`` for an ``rsync://`` daemon, so an unreachable host fails
    instead of hanging. ``extra_args`` go to rsync as they are (``--bwlimit=5M``,
    ``-z``, ``--checksum``, ``--exclude-from=FILE`` ...), before the paths.
    """

    excludes: Sequence[str] = ()
    includes: Sequence[str] = ()
    delete: bool = False
    dry_run: bool = False
    port: int | None = None
    identity: str | None = None
    ssh_options: Sequence[str] = ()
    connect_timeout: float | None = 10
    extra_args: Sequence[str] = ()


# rsync options that would undo what sync promises (deletions previewed, its own ssh
# command, its own output parsing): refused among the extra arguments
_REFUSED_EXTRA = {
    "--delete": "use --delete (previewed first unless --yes)",
    "--del": "use --delete (previewed first unless --yes)",
    "--remove-source-files": "sync never removes source files",
    "-e": "use --port, --identity and --ssh-option",
    "--rsh": "use --port, --identity and --ssh-option",
    "--info": "sync sets rsync's progress output itself",
    "--out-format": "sync reads rsync's itemized output itself",
    "--log-format": "sync reads rsync's itemized output itself",
}


def check_extra_args(args: Sequence[str]) -> None:
    """Refuse extra rsync arguments that bypass sync's own safety or parsing (``UsageError``)."""
    for arg in args:
        name = arg.split("=", 1)[0]
        hint = _REFUSED_EXTRA.get(name)
        if hint is None and name.startswith("--delete"):
            hint = _REFUSED_EXTRA["--delete"]
        if hint is None and arg.startswith("-") and not arg.startswith("--") and "e" in arg[1:]:
            hint = _REFUSED_EXTRA["-e"]
        if hint is not None:
            raise UsageError(f"rsync option {arg} cannot be passed through", hint=hint)


def _has_timeout(ssh_options: Sequence[str]) -> bool:
    return any(opt.replace(" ", "").lower().startswith("connecttimeout") for opt in ssh_options)


def destination_inside_source(src: str, dst: str, excludes: Sequence[str] = ()) -> bool:
    """True when the local ``dst`` is ``src`` or lies inside it (and no exclude keeps it out).

    Every run would copy the previous copy into itself again (``a/`` -> ``a/backup``
    nests ``a/backup/backup`` ...).
    """
    if is_remote(src) or is_remote(dst):
        return False
    real_src = os.path.realpath(src.rstrip(os.sep) or os.sep)
    real_dst = os.path.realpath(dst.rstrip(os.sep) or os.sep)
    if real_dst != real_src and not real_dst.startswith(real_src.rstrip(os.sep) + os.sep):
        return False
    if real_dst == real_src:
        return True
    import fnmatch

    rel = os.path.relpath(real_dst, real_src)
    first = rel.split(os.sep, 1)[0]
    for pattern in excludes:
        pat = pattern.strip("/")
        if pat and (fnmatch.fnmatchcase(first, pat) or fnmatch.fnmatchcase(rel, pat)):
            return False
    return True


@dataclass
class SyncProgress:
    """One progress2 update: bytes so far, overall percent, rate and ETA."""

    bytes_done: int
    percent: int
    bytes_per_second: float
    eta_seconds: int


@dataclass
class Change:
    """One itemized change: ``change`` is rsync's code (``>f+++++++++``, ``*deleting`` ...)."""

    path: str
    change: str

    @property
    def is_delete(self) -> bool:
        return self.change == "*deleting"


@dataclass
class SyncResult:
    source: str
    destination: str
    dry_run: bool
    returncode: int
    changes: list[Change] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    used_password: bool = False
    remote_host: str | None = None

    @property
    def deleted(self) -> list[str]:
        return [c.path for c in self.changes if c.is_delete]


def is_remote(spec: str) -> bool:
    """``host:path`` / ``user@host:path`` / ``rsync://`` (a local path with '/' before ':' is not)."""
    return spec.startswith("rsync://") or bool(_REMOTE_RE.match(spec))


def remote_host(src: str, dst: str) -> str | None:
    """``user@host`` of the remote side, if any."""
    for spec in (src, dst):
        if spec.startswith("rsync://"):
            return spec[len("rsync://") :].split("/", 1)[0]
        if is_remote(spec):
            return spec.split(":", 1)[0]
    return None


def parse_progress(line: str) -> SyncProgress | None:
    """Parse one ``--info=progress2`` line (``  1,234,567  45%  12.34MB/s  0:00:10 ...``)."""
    m = _PROGRESS_RE.match(line)
    if not m:
        return None
    done = int(m.group(1).replace(",", "").replace(".", ""))
    rate = float(m.group(3)) * _RATE_UNITS.get(m.group(4), 1)
    eta = int(m.group(5)) * 3600 + int(m.group(6)) * 60 + int(m.group(7))
    return SyncProgress(done, int(m.group(2)), rate, eta)


def parse_change(line: str) -> Change | None:
    """Parse one ``--itemize-changes`` line into a ``Change``."""
    m = _ITEM_RE.match(line)
    if not m:
        return None
    return Change(m.group(2), m.group(1))


def ssh_command(
    port: int | None = None, identity: str | None = None, options: Sequence[str] = ()
) -> list[str]:
    """The ssh command rsync should run (``-e``)."""
    cmd = ["ssh"]
    if port is not None:
        cmd += ["-p", str(port)]
    if identity:
        cmd += ["-i", identity]
    for opt in options:
        cmd += ["-o", opt]
    return cmd


def build_command(src: str, dst: str, options: SyncOptions = SyncOptions()) -> list[str]:
    """rsync's argument list (no password ever goes in here)."""
    cmd = [
        "rsync",
        "-a",
        "--partial",
        "--info=progress2",
        "--no-inc-recursive",
        "--itemize-changes",
        "--stats",
    ]
    if options.dry_run:
        cmd.append("--dry-run")
    if options.delete:
        cmd.append("--delete")
    # rsync applies the first matching rule: includes go before excludes
    cmd += [f"--include={pattern}" for pattern in options.includes]
    cmd += [f"--exclude={pattern}" for pattern in options.excludes]
    daemon = src.startswith("rsync://") or dst.startswith("rsync://")
    timeout = options.connect_timeout
    if daemon and timeout:
        cmd.append(f"--contimeout={max(1, round(timeout))}")
    ssh_options = list(options.ssh_options)
    if timeout and not _has_timeout(ssh_options):
        ssh_options.append(f"ConnectTimeout={max(1, round(timeout))}")
    ssh_shaped = options.port is not None or options.identity or options.ssh_options
    # RSYNC_RSH set by the user is their ssh command: kept unless they shaped ours
    if (
        (is_remote(src) or is_remote(dst))
        and not daemon
        and (ssh_shaped or not os.environ.get("RSYNC_RSH"))
    ):
        ssh = ssh_command(options.port, options.identity, ssh_options)
        cmd += ["-e", shlex.join(ssh)]
    cmd += list(options.extra_args)
    cmd += ["--", src, dst]
    return cmd


def _stream_lines(stream, on_line: Callable[[str], None]) -> None:
    """Split a byte stream on both \\r and \\n and hand over decoded lines."""
    buf = b""
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for part in parts:
            if part.strip():
                on_line(part.decode("utf-8", "backslashreplace"))
    if buf.strip():
        on_line(buf.decode("utf-8", "backslashreplace"))


def _error_for(code: int, stderr: str, used_password: bool, host: str | None) -> SyncError:
    """The one-line error for rsync's exit ``code``: the child's own words, then ours."""
    failure = rsync_failure(code, stderr, used_password=used_password, host=host)
    cls = PartialSyncError if failure.tool == "rsync" and code in (23, 24) else SyncError
    return cls(f"sync failed: {failure.line()}", hint=failure.hint, returncode=code)


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop rsync and every process under it (its generator and receiver, ssh, sshpass):
    all listed before the first signal, SIGTERM, then SIGKILL after ``grace`` seconds.

    rsync stays in our process group and session (ssh may need the terminal to ask for a
    passphrase or a host key), so its children are reached through the tree, not a group.
    """
    stop([(proc.pid, None)], sig=signal.SIGTERM, grace=grace, tree=True)
    proc.wait()


def sync(
    src: str,
    dst: str,
    options: SyncOptions = SyncOptions(),
    *,
    password: str | None = None,
    on_progress: Callable[[SyncProgress], None] | None = None,
    on_change: Callable[[Change], None] | None = None,
) -> SyncResult:
    """Run rsync from ``src`` to ``dst``; raise ``SyncError`` with rsync's reason on failure.

    ``password`` (for password-only ssh hosts) goes to ``sshpass -d`` through
    a pipe, never through argv or the environment.
    """
    if shutil.which("rsync") is None:
        raise MissingDependencyError("rsync is not installed", hint="apt-get install -y rsync")
    remote = is_remote(src) or is_remote(dst)
    if not is_remote(src) and not os.path.lexists(src):
        raise FileNotFoundError(2, "No such file or directory", src)
    if options.port is not None and not remote:
        raise UsageError("--port only applies to a remote host:path", hint="write HOST:PATH")
    check_extra_args(options.extra_args)
    if destination_inside_source(src, dst, options.excludes):
        raise UsageError(
            f"the destination {dst} is inside the source {src}",
            hint="each run would copy the last copy again: pick a destination outside it, "
            "or --exclude it",
        )
    argv = build_command(src, dst, options)
    pass_fds: tuple[int, ...] = ()
    read_fd = None
    use_password = password is not None and remote
    if use_password:
        if shutil.which("sshpass") is None:
            raise MissingDependencyError(
                "sshpass is needed to give ssh a password", hint="apt-get install -y sshpass"
            )
        read_fd, write_fd = os.pipe()
        os.write(write_fd, password.encode() + b"\n")  # type: ignore[union-attr]
        os.close(write_fd)
        pass_fds = (read_fd,)
        argv = ["sshpass", "-d", str(read_fd), *argv]
    env = dict(os.environ)
    env.pop("SSHPASS", None)  # the password travels by pipe only
    result = SyncResult(
        src,
        dst,
        options.dry_run,
        0,
        used_password=use_password,
        remote_host=remote_host(src, dst),
    )
    stderr_lines: list[str] = []

    def handle(line: str) -> None:
        progress = parse_progress(line)
        if progress is not None:
            if on_progress:
                on_progress(progress)
            return
        change = parse_change(line)
        if change is not None:
            result.changes.append(change)
            if on_change:
                on_change(change)
            return
        key, _, value = line.partition(":")
        name = _STATS.get(key.strip())
        if name:
            digits = re.sub(r"[^\d]", "", value.split("(")[0])
            if digits:
                result.stats[name] = int(digits)

    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    # one try from the start of rsync to its end: an interruption anywhere in between (also
    # between starting rsync and reading its output) stops it and everything it forked
    try:
        try:
            with deferred():  # held until Popen returns: a half-started rsync nobody knows
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=pass_fds,
                    env=env,
                )
        finally:
            if read_fd is not None:
                os.close(read_fd)
        thread = threading.Thread(
            target=_stream_lines, args=(proc.stderr, stderr_lines.append), daemon=True
        )
        thread.start()
        reader = thread
        _stream_lines(proc.stdout, handle)
        proc.wait()
    except BaseException:
        if proc is not None:
            _stop(proc)
        raise
    finally:
        if reader is not None:
            reader.join(timeout=5)
    result.returncode = proc.returncode
    if proc.returncode != 0:
        raise _error_for(proc.returncode, "\n".join(stderr_lines), use_password, result.remote_host)
    return result
