"""What is this file really? libmagic's verdict, refined for ML formats, checked against the name.

libmagic gives the MIME type and description (through ``magicdb``: the same verdicts as
file(1), with the magic entries a file cannot match left out); ``ml_formats``
recognises what libmagic calls ``data``/``zip`` (safetensors, torch, npy, ...)
and spots truncated downloads. Directories are walked in the parent; the
files are typed in a process pool, one set of libmagic handles per worker.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mltools.files.magicdb import WHOLE_LIMIT, needs_whole
from mltools.files.ml_formats import (
    HEAD_BYTES,
    LIBMAGIC_WORDS,
    Refinement,
    is_text_mime,
    looks_like_text,
    needs_libmagic,
    refine,
    sniff_binary,
    sniff_text,
)
from mltools.files.walk import DIR_FLAGS, join, open_dir, walk_fd

# Below this many files, forking workers costs more than it saves.
_POOL_THRESHOLD = 200
_CHUNK = 128


@dataclass
class FileType:
    """One file's verdict. ``path`` is the OS path (may hold undecodable bytes as surrogates)."""

    path: str
    mime: str
    description: str
    kind: str
    extension_ok: bool | None
    size_bytes: int = 0
    problem: str | None = None  # "empty", "truncated", "corrupt", "unreadable"
    error: str | None = None
    expected: list[str] = field(default_factory=list)  # kinds the extension promises


# extension -> kinds that content may have; ``True`` in the second slot: empty is fine
_TEXT = ("text", "json", "jsonl", "html", "xml", "csv", "svg", "script")
_EXT: dict[str, tuple[tuple[str, ...], bool]] = {
    ".jpg": (("jpeg",), False),
    ".jpeg": (("jpeg",), False),
    ".png": (("png",), False),
    ".gif": (("gif",), False),
    ".webp": (("webp",), False),
    ".bmp": (("bmp",), False),
    ".tif": (("tiff",), False),
    ".tiff": (("tiff",), False),
    ".svg": (("svg", "xml"), False),
    ".avif": (("avif",), False),
    ".heic": (("heic", "heif"), False),
    ".heif": (("heif", "heic"), False),
    ".mp4": (("mp4", "mov"), False),
    ".m4v": (("mp4", "mov"), False),
    ".mov": (("mov", "mp4"), False),
    ".mkv": (("mkv", "webm"), False),
    ".webm": (("webm", "mkv"), False),
    ".avi": (("avi",), False),
    ".wav": (("wav",), False),
    ".mp3": (("mp3",), False),
    ".flac": (("flac",), False),
    ".pdf": (("pdf",), False),
    ".zip": (("zip", "torch", "npz"), False),
    ".gz": (("gzip",), False),
    ".tgz": (("gzip",), False),
    ".tar": (("tar",), False),
    ".bz2": (("bzip2",), False),
    ".xz": (("xz",), False),
    ".zst": (("zstd",), False),
    ".7z": (("7z",), False),
    ".safetensors": (("safetensors",), False),
    ".pt": (("torch", "torch-legacy", "pickle"), False),
    # a .pth is also Python's path configuration file (site-packages/*.pth): plain text
    ".pth": (("torch", "torch-legacy", "pickle", "text"), True),
    ".ckpt": (("torch", "torch-legacy", "pickle"), False),
    ".pkl": (("pickle", "torch-legacy"), False),
    ".pickle": (("pickle", "torch-legacy"), False),
    ".npy": (("npy",), False),
    ".npz": (("npz", "zip"), False),
    ".parquet": (("parquet",), False),
    ".h5": (("hdf5",), False),
    ".hdf5": (("hdf5",), False),
    ".onnx": (("onnx",), False),
    ".gguf": (("gguf",), False),
    ".tfrecord": (("tfrecord",), False),
    ".tfrecords": (("tfrecord",), False),
    ".json": (("json", "jsonl", "text"), False),
    ".jsonl": (("jsonl", "json", "text"), True),
    ".ndjson": (("jsonl", "json", "text"), True),
    ".html": (("html", "text", "xml"), False),
    ".htm": (("html", "text", "xml"), False),
    ".xml": (("xml", "text", "html"), False),
    ".csv": (("csv", "text"), True),
    ".tsv": (("csv", "text"), True),
    ".txt": (_TEXT, True),
    ".md": (_TEXT, True),
    ".py": (_TEXT, True),
    ".sh": (_TEXT, True),
    ".yaml": (_TEXT, True),
    ".yml": (_TEXT, True),
    ".toml": (_TEXT, True),
    ".cfg": (_TEXT, True),
    ".ini": (_TEXT, True),
    ".log": (_TEXT, True),
}

_MIME_KIND: dict[str, str] = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/tiff": "tiff",
    "image/svg+xml": "svg",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/heic-sequence": "heic",
    "image/heif-sequence": "heif",
    "application/javascript": "script",
    "application/x-javascript": "script",
    "text/javascript": "script",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "video/webm": "webm",
    "video/x-msvideo": "avi",
    "audio/x-wav": "wav",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-tar": "tar",
    "application/x-bzip2": "bzip2",
    "application/x-xz": "xz",
    "application/zstd": "zstd",
    "application/x-7z-compressed": "7z",
    "application/x-hdf5": "hdf5",
    "application/x-hdf": "hdf5",
    "application/vnd.apache.parquet": "parquet",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "text/html": "html",
    "text/xml": "xml",
    "application/xml": "xml",
    "text/csv": "csv",
    "text/x-script.python": "script",
    "text/x-shellscript": "script",
    "inode/x-empty": "empty",
    "inode/symlink": "symlink",
    "inode/directory": "directory",
    "inode/fifo": "special",
    "inode/socket": "special",
    "inode/blockdevice": "special",
    "inode/chardevice": "special",
}


def kind_of(mime: str) -> str:
    """A short family name for a MIME type: ``png``, ``pdf``, ``text``, ``binary`` ..."""
    if mime in _MIME_KIND:
        return _MIME_KIND[mime]
    top = mime.split("/", 1)[0]
    if top in ("text", "image", "video", "audio"):
        return top
    return "binary"


def expected_kinds(path: str) -> tuple[tuple[str, ...], bool] | None:
    """Kinds the file name promises (``None``: an extension we have no opinion on)."""
    name = os.path.basename(path).lower()
    if name.endswith(".tar.gz"):
        return _EXT[".tgz"]
    return _EXT.get(os.path.splitext(name)[1])


def _extension_ok(path: str, kind: str, problem: str | None) -> tuple[bool | None, list[str]]:
    promise = expected_kinds(path)
    if promise is None:
        return None, []
    kinds, empty_ok = promise
    if problem == "empty":
        return empty_ok, list(kinds)
    if problem is not None:
        return False, list(kinds)
    if "text" in kinds and kind == "script":
        # a name that promises text holds text: libmagic calls a page of JavaScript-heavy
        # HTML (fish's search.html) or Markdown full of code samples a script
        return True, list(kinds)
    return kind in kinds, list(kinds)


# --- libmagic, one typer per process --------------------------------------------------------

_TYPERS: dict[tuple[int, bool], Any] = {}
_TYPERS_LOCK = threading.Lock()


def _typer(describe: bool) -> Any:
    """This process's ``magicdb.Typer`` (libmagic handles are not shared across a fork)."""
    key = (os.getpid(), describe)
    typer = _TYPERS.get(key)
    if typer is None:
        from mltools.files.magicdb import Typer

        with _TYPERS_LOCK:
            typer = _TYPERS.get(key)
            if typer is None:
                for stale in [k for k in _TYPERS if k[0] != key[0]]:
                    del _TYPERS[stale]
                typer = _TYPERS[key] = Typer(describe)
    return typer


def _special(
    path: str, st: os.stat_result, dir_fd: int | None = None, name: str | None = None
) -> FileType | None:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        link = name if dir_fd is not None else path
        try:
            target = os.readlink(link, dir_fd=dir_fd)
        except OSError:
            target = "?"
        try:  # as file(1): a target that cannot be stat'ed (missing, a loop) makes it broken
            os.stat(link, dir_fd=dir_fd)
            what = "symbolic link"
        except OSError:
            what = "broken symbolic link"
        return FileType(path, "inode/symlink", f"{what} to {target}", "symlink", None, st.st_size)
    if stat.S_ISDIR(mode):
        return FileType(path, "inode/directory", "directory", "directory", None, 0)
    if not stat.S_ISREG(mode):
        what = (
            ("inode/fifo", "fifo (named pipe)")
            if stat.S_ISFIFO(mode)
            else ("inode/socket", "socket")
            if stat.S_ISSOCK(mode)
            else ("inode/blockdevice", "block special")
            if stat.S_ISBLK(mode)
            else ("inode/chardevice", "character special")
        )
        return FileType(path, what[0], what[1], "special", None, 0)
    return None


def refine_with_libmagic(
    found: Refinement | None, head: bytes, f: Any, size: int, mime: str, description: str
) -> Refinement | None:
    """The sniffers' verdict, completed for text now that libmagic has spoken.

    Text is text whatever MIME libmagic guesses from its contents (a Markdown file it
    calls ``application/javascript``, a one-byte file it calls "very short"): when
    libmagic names no known family and the bytes are text, the kind is ``text`` and
    libmagic's words are kept. JSON Lines (last line checked) and SVG are recognised.
    """
    if found is not None:
        return found
    textual = is_text_mime(mime) or mime in ("image/svg+xml", "text/xml", "application/xml")
    if textual or kind_of(mime) == "binary":
        if not textual and not looks_like_text(head, size):
            return None
        sniffed = sniff_text(head, f, size)
        if sniffed is not None:
            return sniffed
        if kind_of(mime) == "binary":
            return Refinement("text", mime, description)
    return None


def _unreadable(path: str, exc: BaseException) -> FileType:
    reason = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return FileType(
        path, "", f"cannot read: {reason}", "unreadable", None, problem="unreadable", error=reason
    )


def _detect_path(path: str, follow_symlinks: bool, describe: bool) -> FileType:
    return _detect_at(None, path, path, follow_symlinks, describe)


def _detect_at(
    dir_fd: int | None, name: str, path: str, follow_symlinks: bool, describe: bool
) -> FileType:
    """Type ``name`` in the open directory ``dir_fd`` (or the path ``name`` when None)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    except OSError as exc:
        return _unreadable(path, exc)
    special = _special(path, st, dir_fd, name)
    if special is not None:
        return special
    size = st.st_size
    if size == 0:
        ok, expected = _extension_ok(path, "empty", "empty")
        return FileType(path, "inode/x-empty", "empty", "empty", ok, 0, "empty", None, expected)
    # One open per file: the ML sniffers and libmagic read the same descriptor. O_NOFOLLOW
    # and O_NONBLOCK: a file swapped for a symlink or a FIFO since the stat is not opened
    # through / blocked on.
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        return _unreadable(path, exc)
    try:
        with io.FileIO(fd, "rb", closefd=False) as f:
            head = os.pread(fd, HEAD_BYTES, 0)
            # the whole file, for libmagic's filter, unless its head already rules it out
            whole = _read_whole(fd, head) if size <= WHOLE_LIMIT and needs_whole(head) else None
            found = sniff_binary(head, f, size)
            mime = description = ""
            if needs_libmagic(found):
                mime, description = _typer(describe).identify(fd, whole)
                found = refine_with_libmagic(found, head, f, size, mime, description)
    except Exception as exc:  # OSError, or MagicError for what libmagic cannot read
        return _unreadable(path, exc)
    finally:
        os.close(fd)
    return _verdict(path, mime, description, found, size)


def _read_whole(fd: int, head: bytes) -> bytes | None:
    """The whole file (``head`` is its start), to its end, or None past ``WHOLE_LIMIT``."""
    parts, total = [head], len(head)
    while total <= WHOLE_LIMIT:
        part = os.pread(fd, WHOLE_LIMIT + 1 - total, total)
        if not part:
            return b"".join(parts)
        parts.append(part)
        total += len(part)
    return None


def _verdict(path: str, mime: str, description: str, found: Any, size: int) -> FileType:
    kind, problem = kind_of(mime), None
    if found is not None:
        # libmagic knows the video containers, gzip, HEIF: keep its words unless the
        # sniffer found damage
        keep_libmagic = (
            found.kind in LIBMAGIC_WORDS and found.problem is None and kind == found.kind
        )
        if not keep_libmagic:
            mime, kind, problem = found.mime, found.kind, found.problem
            description = found.description
    ok, expected = _extension_ok(path, kind, problem)
    return FileType(path, mime, description, kind, ok, size, problem, None, expected)


def detect_type(
    path_or_bytes: str | os.PathLike[str] | bytes, *, follow_symlinks: bool = False
) -> FileType:
    """Type one file (a path) or an in-memory buffer (bytes).

    For bytes, ``path`` is ``"<bytes>"`` and the extension check is ``None``.
    Unreadable files come back with ``kind == "unreadable"`` rather than raising,
    except a path that does not exist at all (``FileNotFoundError``).
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        if not data:
            return FileType("<bytes>", "inode/x-empty", "empty", "empty", None, 0, "empty")
        mime, description = _typer(True).buffer(data)
        head, buf = data[:HEAD_BYTES], io.BytesIO(data)
        found = refine_with_libmagic(
            refine(head, buf, len(data), mime), head, buf, len(data), mime, description
        )
        result = _verdict("<bytes>", mime, description, found, len(data))
        result.extension_ok, result.expected = None, []
        return result
    path = os.fspath(path_or_bytes)
    if not os.path.lexists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    return _detect_path(path, follow_symlinks, True)


_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(FileType)))

# --- walking and the pool -----------------------------------------------------------------

# (root, names from the root to the directory, directory path, file names); root is None
# for files named on the command line (typed by their path)
Group = tuple[str | None, tuple[str, ...], str, list[str]]
_SHORT_PATH = 3000  # bytes: a directory path this short is opened in one go


def iter_groups(
    roots: Iterable[str], *, follow_symlinks: bool = False, errors: list[FileType] | None = None
) -> Iterator[Group]:
    """Every non-directory under ``roots``, one group per directory, in walk order.

    The walk is ``walk.walk_fd`` (by directory fd: no PATH_MAX limit). Symlinks
    are yielded, not followed, unless ``follow_symlinks``; then directory loops
    are cut by (st_dev, st_ino). Unreadable directories are appended to ``errors``.
    """

    def unreadable(path: str, exc: OSError) -> None:
        if errors is not None:
            errors.append(_unreadable(path, exc))

    for root in roots:
        try:
            st = os.stat(root) if follow_symlinks else os.lstat(root)
        except OSError as exc:
            unreadable(root, exc)
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield None, (), "", [root]
            continue
        for visit in walk_fd(root, unreadable, follow_symlinks=follow_symlinks):
            names = []
            for entry in visit.entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=follow_symlinks)
                except OSError:
                    is_dir = False
                (visit.descend if is_dir else names).append(entry.name)
            if names:
                yield root, visit.parts, visit.path, names


def iter_files(
    roots: Iterable[str], *, follow_symlinks: bool = False, errors: list[FileType] | None = None
) -> Iterator[str]:
    """Every non-directory path under ``roots`` (roots that are files are yielded as is)."""
    for root, _parts, dirpath, names in iter_groups(
        roots, follow_symlinks=follow_symlinks, errors=errors
    ):
        for name in names:
            yield name if root is None else join(dirpath, name)


def _open_group_dir(root: str, parts: tuple[str, ...], dirpath: str, follow: bool) -> int:
    if len(os.fsencode(dirpath)) < _SHORT_PATH:
        return os.open(dirpath, DIR_FLAGS & ~os.O_NOFOLLOW)
    # deeper than a path can say: one name at a time from the root
    fd = open_dir(root, None, follow=True)
    for name in parts:
        try:
            child = open_dir(name, fd, follow=follow)
        finally:
            os.close(fd)
        fd = child
    return fd


def _worker_chunk(args: tuple[list[Group], bool, bool]) -> list[FileType]:
    groups, follow, describe = args
    out: list[FileType] = []
    for root, parts, dirpath, names in groups:
        if root is None:
            out.extend(_detect_path(n, follow, describe) for n in names)
            continue
        try:
            dfd = _open_group_dir(root, parts, dirpath, follow)
        except OSError as exc:
            out.extend(_unreadable(join(dirpath, n), exc) for n in names)
            continue
        try:
            out.extend(_detect_at(dfd, n, join(dirpath, n), follow, describe) for n in names)
        finally:
            os.close(dfd)
    return out


def _as_tuples(results: list[FileType]) -> list[tuple[Any, ...]]:
    """The verdicts as tuples of their fields, in order (``FileType(*row)`` rebuilds one)."""
    return [_FIELDS(r) for r in results]


def _chunks(groups: Iterable[Group], size: int) -> Iterator[list[Group]]:
    """Jobs of about ``size`` files (a big directory is split, small ones are merged)."""
    job: list[Group] = []
    count = 0
    for root, parts, dirpath, names in groups:
        for i in range(0, len(names), size):
            piece = names[i : i + size]
            job.append((root, parts, dirpath, piece))
            count += len(piece)
            if count >= size:
                yield job
                job, count = [], 0
    if job:
        yield job


def scan_types(
    roots: Iterable[str | os.PathLike[str]],
    *,
    follow_symlinks: bool = False,
    describe: bool = True,
    workers: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[FileType]:
    """Type every file under ``roots`` in parallel; results in walk order.

    ``describe=False`` skips libmagic's description when only MIME types, kinds
    and the extension check are needed. ``workers`` defaults to the CPUs this
    process may use. Missing roots raise ``FileNotFoundError``.
    """
    root_list = [os.fspath(r) for r in roots]
    for root in root_list:
        if not os.path.lexists(root):
            raise FileNotFoundError(2, "No such file or directory", root)
    errors: list[FileType] = []
    groups = list(iter_groups(root_list, follow_symlinks=follow_symlinks, errors=errors))
    total = sum(len(g[3]) for g in groups)
    if on_total:
        on_total(total)
    if workers is None:
        workers = len(os.sched_getaffinity(0))
    results: list[FileType] = []
    if workers <= 1 or total < _POOL_THRESHOLD:
        for job in _chunks(groups, _CHUNK):
            part = _worker_chunk((job, follow_symlinks, describe))
            results.extend(part)
            if on_progress:
                on_progress(len(part))
    else:
        from mltools._forkpool import ForkPool

        chunk_size = max(16, min(_CHUNK, total // (workers * 8) or 16))
        jobs = [(c, follow_symlinks, describe) for c in _chunks(groups, chunk_size)]
        # the workers inherit ``jobs`` by fork: only a job's number goes to them, and the
        # verdicts come back as tuples (a third of a dataclass's pickling)
        with ForkPool(
            lambda i: _as_tuples(_worker_chunk(jobs[i])), min(workers, len(jobs))
        ) as pool:
            for part in pool.imap(len(jobs)):
                results.extend(FileType(*row) for row in part)
                if on_progress:
                    on_progress(len(part))
    return errors + results


def summarize(results: Iterable[FileType]) -> list[dict[str, Any]]:
    """Counts and bytes per (kind, mime), biggest first."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        g = groups.setdefault(
            (r.kind, r.mime), {"kind": r.kind, "mime": r.mime, "files": 0, "size_bytes": 0}
        )
        g["files"] += 1
        g["size_bytes"] += r.size_bytes
    return sorted(groups.values(), key=lambda g: (-g["size_bytes"], -g["files"], g["kind"]))


def mismatches(results: Iterable[FileType]) -> list[FileType]:
    """Files whose content disagrees with their extension, or that are damaged/unreadable."""
    return [r for r in results if r.extension_ok is False or r.problem in ("truncated", "corrupt")]
