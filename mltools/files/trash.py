"""Move files to the FreeDesktop.org trash (the spec that file managers and ``gio trash`` use).

Home trash: ``$XDG_DATA_HOME/Trash`` (default ``~/.local/share/Trash``) with
``files/`` and ``info/NAME.trashinfo``. For a file on another filesystem the
spec's per-volume trash ``$topdir/.Trash-$uid`` is used, so nothing is copied
across devices. https://specifications.freedesktop.org/trash-spec/latest/
"""

from __future__ import annotations

import os
import time
from urllib.parse import quote


def home_trash() -> str:
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(data_home, "Trash")


def _mount_point(path: str) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def trash_dir_for(path: str, st_dev: int | None = None) -> tuple[str, bool]:
    """(trash directory, whether it is the home trash) for ``path`` (on device ``st_dev``)."""
    home = home_trash()
    os.makedirs(home, exist_ok=True)
    dev = os.lstat(path).st_dev if st_dev is None else st_dev
    if os.stat(home).st_dev == dev:
        return home, True
    top = _mount_point(os.path.dirname(os.path.abspath(path)))
    return os.path.join(top, f".Trash-{os.getuid()}"), False


def move_to_trash(
    path: str, *, dir_fd: int | None = None, entry: str | None = None, st_dev: int | None = None
) -> str:
    """Move ``path`` into the trash; return where it went. Raises ``OSError`` on failure.

    With ``dir_fd`` and ``entry`` the entry moved is ``entry`` in that open directory
    (``renameat``), whatever ``path`` (then only recorded in the .trashinfo) resolves to now.
    """
    abspath = os.path.abspath(path)
    trash, is_home = trash_dir_for(abspath, st_dev)
    files_dir, info_dir = os.path.join(trash, "files"), os.path.join(trash, "info")
    os.makedirs(files_dir, mode=0o700, exist_ok=True)
    os.makedirs(info_dir, mode=0o700, exist_ok=True)
    # Home trash records absolute paths; a volume trash records paths relative to its top.
    recorded = abspath if is_home else os.path.relpath(abspath, os.path.dirname(trash))
    base = os.path.basename(abspath.rstrip(os.sep))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    body = f"[Trash Info]\nPath={quote(os.fsencode(recorded), safe='/')}\nDeletionDate={stamp}\n"
    for n in range(1, 10000):
        name = base if n == 1 else f"{base}.{n}"
        info_path = os.path.join(info_dir, name + ".trashinfo")
        try:
            fd = os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(body)
        target = os.path.join(files_dir, name)
        if os.path.lexists(target):
            os.unlink(info_path)
            continue
        try:
            if dir_fd is not None and entry is not None:
                os.rename(entry, target, src_dir_fd=dir_fd)
            else:
                os.rename(abspath, target)
        except OSError:
            os.unlink(info_path)
            raise
        return target
    raise FileExistsError(17, "no free name in the trash", path)
