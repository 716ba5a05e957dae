"""One place that turns a child tool's failure (ssh, sshpass, rsync) into its words plus ours.

The child's own line is quoted verbatim: it is what the user, a colleague or a search engine
recognises ("Host key verification failed."). Our words follow it: what it means here and
what to do. An exit code alone is never the message when the child said more, and one
tool's code is never read as another's: sshpass returns its own 5 and 6 where rsync has
codes 5 and 6 that mean something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildFailure:
    """Why a child tool failed: its own ``words`` (verbatim), our ``meaning`` and a ``hint``."""

    tool: str
    words: str | None
    meaning: str
    hint: str | None = None

    def line(self) -> str:
        """``words (meaning)``, or the meaning alone when the child said nothing."""
        return f"{self.words} ({self.meaning})" if self.words else self.meaning


# (pattern on one line of ssh's stderr, meaning, hint); the first rule that matches a line
# wins, so the specific ones come first. {host} is the host as the user wrote it.
_SSH_RULES: tuple[tuple[str, str, str | None], ...] = (
    (
        r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed",
        "the host's key differs from the one recorded in known_hosts",
        "if the host was reinstalled, drop the old key ({remove}) and connect once with plain "
        "ssh; otherwise treat it as a possible man-in-the-middle",
    ),
    (
        r"Host key verification failed",
        "the host's key is not in known_hosts and ssh may not ask here",
        "connect once with plain `ssh {host}` to check and accept its key",
    ),
    (
        r"banner exchange",
        "the host took the connection but no ssh server answered in time "
        "(an overloaded sshd, its MaxStartups limit, or not sshd on that port)",
        "check the port, and retry when the host is less busy",
    ),
    (
        r"Too many authentication failures",
        "ssh offered more keys than the server accepts",
        "name the key with -i and add -o IdentitiesOnly=yes",
    ),
    (
        r"Permission denied \(",
        "the login was refused",
        "check the user name and the key (-i) with plain `ssh {host}`",
    ),
    (
        r"UNPROTECTED PRIVATE KEY FILE|bad permissions",
        "ssh ignores a private key that others can read",
        "chmod 600 the key file",
    ),
    (
        r"Bad owner or permissions on",
        "ssh refuses a config file that others can write",
        "chmod 600 the file it names",
    ),
    (
        r"Could not resolve hostname",
        "the host name does not resolve",
        "check the name, or give it a HostName in ~/.ssh/config",
    ),
    (
        r"Connection refused",
        "nothing accepts connections on that port",
        "check the port and that sshd runs on the host",
    ),
    (
        r"No route to host|Network is unreachable",
        "there is no network route to the host",
        "check the address and your VPN or network",
    ),
    (
        r"timed out|Operation timed out",
        "the host did not answer within the connect timeout",
        "check that the host is up and reachable (VPN, firewall), or raise --connect-timeout",
    ),
    (
        r"kex_exchange_identification|Connection closed by|Connection reset by",
        "the host closed the connection during the handshake",
        "check the port, and whether the host limits connections (MaxStartups, fail2ban)",
    ),
)
_SSH_COMPILED = tuple((re.compile(p), m, h) for p, m, h in _SSH_RULES)
_REMOVE_KEY = re.compile(r"^\s*(ssh-keygen\s.*-R\s.*)$")


def ssh_failure(
    stderr: str, *, host: str | None = None, used_password: bool = False
) -> ChildFailure | None:
    """ssh's own reason for a failed connection in ``stderr``, or None when ssh said nothing.

    ``used_password``: the login went through sshpass, so "Permission denied" means the
    password was refused; without it, a server offering ``password`` wants one.
    """
    lines = [ln.strip().strip("@").strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    for pattern, meaning, hint in _SSH_COMPILED:
        line = next((ln for ln in lines if pattern.search(ln)), None)
        if line is None:
            continue
        words = line if line.startswith("ssh:") else f"ssh: {line}"
        if pattern.pattern.startswith("Permission denied"):
            methods = re.search(r"Permission denied \(([^)]*)\)", line)
            offered = methods.group(1).split(",") if methods else []
            if used_password:
                meaning, hint = "the password was refused", "check the password"
            elif "password" in offered or "keyboard-interactive" in offered:
                hint = "the host wants a password: use --password-file, SSHPASS or --ask-password"
        remove = next(
            (m.group(1) for ln in stderr.splitlines() if (m := _REMOVE_KEY.match(ln))), None
        )
        text = hint.format(host=host or "HOST", remove=remove or f"ssh-keygen -R {host or 'HOST'}")
        return ChildFailure("ssh", words, meaning, text if hint else None)
    return None


# sshpass' own exit codes (sshpass(1)); it prints nothing for them without -v
SSHPASS_EXIT: dict[int, tuple[str, str | None]] = {
    1: ("sshpass was given invalid arguments", None),
    2: ("sshpass was given conflicting arguments", None),
    3: ("sshpass failed to run ssh", None),
    4: ("sshpass did not recognise what ssh asked", "check the ssh command with plain ssh"),
    5: ("the ssh password was refused", "check the password (file, SSHPASS or prompt)"),
    6: (
        "the host's key is not known yet (first connection), and sshpass cannot accept it",
        "connect once with plain `ssh {host}` to check and accept its key",
    ),
}

_RSYNC_CODE = re.compile(r"^rsync error: .*\(code (\d+)\)")


def sshpass_failure(code: int, stderr: str, host: str | None = None) -> ChildFailure | None:
    """sshpass' own failure when ``code`` is its code, not the wrapped tool's; else None.

    sshpass passes the wrapped program's exit code through, except for its own 1-6. rsync
    prints its code on its last line (``rsync error: ... (code 255)``); an exit code that
    differs from it, or a 5 or 6 with no such line, came from sshpass.
    """
    if code not in SSHPASS_EXIT:
        return None
    printed = [
        int(m.group(1)) for ln in stderr.splitlines() if (m := _RSYNC_CODE.match(ln.strip()))
    ]
    if printed and printed[-1] == code:
        return None
    if not printed and code not in (5, 6):
        return None
    meaning, hint = SSHPASS_EXIT[code]
    return ChildFailure(
        "sshpass", None, meaning, hint.format(host=host or "HOST") if hint else None
    )


RSYNC_EXIT: dict[int, str] = {
    1: "rsync syntax or usage error",
    2: "rsync protocol incompatibility (different rsync versions?)",
    3: "errors selecting input/output files or directories",
    4: "requested action not supported by the remote rsync",
    5: "error starting the client-server protocol",
    6: "the rsync daemon could not write its log",
    10: "socket I/O error",
    11: "file I/O error (disk full, or a file could not be written)",
    12: "error in the rsync data stream (connection dropped?)",
    13: "rsync program diagnostics error",
    14: "error in rsync's inter-process communication",
    20: "rsync was interrupted by a signal",
    21: "error in rsync's waitpid()",
    22: "rsync could not allocate memory",
    23: "partial transfer: some files could not be copied",
    24: "partial transfer: some source files vanished during the copy",
    25: "--max-delete stopped deletions",
    30: "timeout in data send/receive",
    35: "timeout waiting for the rsync daemon",
    255: "ssh failed: host unreachable, authentication refused, or the connection dropped",
}


def rsync_failure(
    code: int, stderr: str, *, used_password: bool = False, host: str | None = None
) -> ChildFailure:
    """Why ``rsync`` (maybe under sshpass, over ssh) exited with ``code``.

    The innermost tool that explains itself wins: sshpass' own codes, then ssh's words (a
    connection problem is reported by rsync only as "connection unexpectedly closed"),
    then rsync's own first complaint with the meaning of its code.
    """
    if used_password and (own := sshpass_failure(code, stderr, host)) is not None:
        return own
    ssh = ssh_failure(stderr, host=host, used_password=used_password)
    if ssh is not None and (code in (255, 12, 5) or used_password):
        return ssh
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    ours = [ln for ln in lines if ln.startswith("rsync") and "unexpectedly closed" not in ln]
    words = (ours or lines or [None])[0]
    meaning = RSYNC_EXIT.get(code, f"rsync exited with code {code}")
    hint = "check the host, port and login with plain ssh first" if code == 255 else None
    return ChildFailure("rsync", words, meaning, hint)
