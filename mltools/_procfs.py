"""Reading other processes' ``/proc`` entries (Linux)."""

from __future__ import annotations


def read_environ(pid: int, proc_root: str = "/proc") -> dict[str, str] | None:
    """The environment ``pid`` was started with.

    ``None`` where ``/proc/PID/environ`` cannot be read: another user's process
    (without ptrace rights), or one that has exited.
    """
    try:
        with open(f"{proc_root}/{pid}/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env
