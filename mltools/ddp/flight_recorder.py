"""Read PyTorch flight-recorder dumps and find where the ranks' collectives diverge.

torch writes one file per rank when a collective times out (NCCL) or when asked
(``torch._C._distributed_c10d._dump_fr_trace``): a pickled dict with ``entries``
(one per collective: ``collective_seq_id``, ``profiling_name``, ``state``...) and
``pg_status`` (last enqueued/started/completed sequence number per group). The
file name is ``$TORCH_FR_DUMP_TEMP_FILE<rank>`` (older torch:
``$TORCH_NCCL_DEBUG_INFO_TEMP_FILE<rank>``; default ``/tmp/nccl_trace_rank_``).

Reading is tolerant: a partial set of ranks, missing keys, older key names
(``seq_id``, ``pg_name``) and JSON dumps all work. Pickles are loaded with an
unpickler that refuses every global, so a dump cannot run code.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools.errors import InputError

ENV_NAMES = ("TORCH_FR_DUMP_TEMP_FILE", "TORCH_NCCL_DEBUG_INFO_TEMP_FILE")
DEFAULT_PREFIX = "/tmp/nccl_trace_rank_"
_RANK_SUFFIX = re.compile(r"(\d+)(?:\.\w+)?$")
# A dump holds TORCH_FR_BUFFER_SIZE entries (2000 by default: a few MB). Files are
# checked against this before anything is read, so a stray 2 GB file (or a 100 GB
# sparse one) is one line of error, not a MemoryError.
MAX_DUMP_BYTES = 256 << 20
# Dumps of one incident are written within seconds of each other.
_SPREAD_WARN_SECONDS = 3600.0


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a trace dump")


@dataclass
class RankTrace:
    """What one rank's dump says about its default process group."""

    rank: int
    path: str
    last_enqueued: int | None
    last_completed: int | None
    last_enqueued_op: str | None
    last_completed_op: str | None
    ops: dict[int, str] = field(default_factory=dict)  # collective seq -> op name
    frame: str | None = None  # user frame of the last enqueued collective
    world_size: int | None = None  # ranks of the default process group (pg_config)
    version: str | None = None
    last_time_ns: int | None = None  # creation time of the newest entry


@dataclass
class FlightRecorderReport:
    """Per-rank last collectives and the sequence number where the ranks diverge."""

    ranks: list[RankTrace]
    missing_ranks: list[int]
    divergence_seq: int | None
    divergence: str | None  # one sentence
    behind_ranks: list[int]
    world_size: int | None = None
    warnings: list[str] = field(default_factory=list)  # dumps that may not belong together


def default_prefix(env: Mapping[str, str] | None = None) -> str:
    """The dump prefix torch would use, from the current or the old variable name."""
    env = os.environ if env is None else env
    for name in ENV_NAMES:
        if env.get(name):
            return env[name]
    return DEFAULT_PREFIX


def find_dumps(
    paths: Iterable[str | Path] = (), env: Mapping[str, str] | None = None
) -> list[Path]:
    """Dump files named by ``paths`` (files, directories or prefixes), else at the env prefix."""
    found: list[Path] = []
    targets = [str(p) for p in paths] or [default_prefix(env)]
    for target in targets:
        p = Path(target)
        if p.is_file() or (p.exists() and not p.is_dir()):
            found.append(p)  # a named non-regular file is refused when read
        elif p.is_dir():
            found.extend(sorted(c for c in p.iterdir() if c.is_file() and _rank_of(c) is not None))
        elif p.parent.is_dir():
            found.extend(
                sorted(
                    c
                    for c in p.parent.iterdir()
                    if c.name.startswith(p.name) and _RANK_SUFFIX.fullmatch(c.name[len(p.name) :])
                )
            )
    return found


def _rank_of(path: Path) -> int | None:
    m = _RANK_SUFFIX.search(path.name)
    return int(m.group(1)) if m else None


def _read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, after checking it is a regular file of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: not a regular file, not a flight-recorder dump")
        if st.st_size > limit:
            raise InputError(
                f"{path}: {st.st_size:,} bytes is too large for a flight-recorder dump "
                f"(limit {limit:,} bytes)",
                hint="pass the dump files themselves (TORCH_FR_DUMP_TEMP_FILE<rank>)",
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # grew while being read
                raise InputError(f"{path}: larger than {limit:,} bytes while being read")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _load(path: Path, limit: int = MAX_DUMP_BYTES) -> dict[str, Any]:
    data = _read_bounded(path, limit)
    if data[:1] in (b"{", b"["):
        obj = json.loads(data)
    else:
        try:
            obj = _DataOnlyUnpickler(io.BytesIO(data)).load()
        except (
            pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            MemoryError, RecursionError, OverflowError, AttributeError,
        ) as exc:  # fmt: skip
            raise InputError(
                f"{path}: not a flight-recorder dump ({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(obj, dict):
        raise InputError(f"{path}: not a flight-recorder dump (top level is not a dict)")
    return obj


def _seq(entry: Mapping[str, Any]) -> int | None:
    for key in ("collective_seq_id", "seq_id"):
        value = entry.get(key)
        if isinstance(value, int):
            return value
    return None


def _is_default_pg(entry: Mapping[str, Any]) -> bool:
    pg = entry.get("process_group", entry.get("pg_name"))
    if isinstance(pg, (list, tuple)) and pg:
        pg = pg[0]
    pg_id = entry.get("pg_id")
    return pg in (None, "0", 0, "default_pg") or pg_id in (0, "0")


def _user_frame(entry: Mapping[str, Any]) -> str | None:
    for f in entry.get("frames") or []:
        filename = str(f.get("filename", ""))
        if "site-packages" in filename or "dist-packages" in filename or "/torch/" in filename:
            continue
        return f"{Path(filename).name}:{f.get('line')} ({f.get('name')})"
    return None


def _world_size(obj: Mapping[str, Any]) -> int | None:
    config = obj.get("pg_config")
    if not isinstance(config, dict):
        return None
    default = config.get("", config.get("0", config.get("default_pg")))
    if not isinstance(default, dict):
        return None
    ranks = default.get("ranks")
    if isinstance(ranks, str):
        try:
            ranks = json.loads(ranks)
        except ValueError:
            return None
    return len(ranks) if isinstance(ranks, list) and ranks else None


def load_trace(path: str | Path, *, max_bytes: int = MAX_DUMP_BYTES) -> RankTrace:
    """Read one rank's dump (pickle or JSON); files over ``max_bytes`` are refused unread."""
    path = Path(path)
    obj = _load(path, max_bytes)
    rank = obj.get("rank") if isinstance(obj.get("rank"), int) else _rank_of(path)
    if rank is None:
        raise InputError(f"{path}: cannot tell the rank (no 'rank' key, no number at the end)")
    entries = [
        e for e in obj.get("entries") or [] if isinstance(e, dict) and not e.get("is_p2p", False)
    ]
    entries = [e for e in entries if _is_default_pg(e) and _seq(e) is not None]
    ops: dict[int, str] = {}
    frames: dict[int, str | None] = {}
    completed: list[int] = []
    times = [
        e["time_created_ns"] for e in obj.get("entries") or []
        if isinstance(e, dict) and isinstance(e.get("time_created_ns"), int)
    ]  # fmt: skip
    for e in entries:
        seq = _seq(e)
        assert seq is not None
        name = str(e.get("profiling_name") or e.get("name") or "?")
        ops[seq] = name.split(":", 1)[-1]
        frames[seq] = _user_frame(e)
        if e.get("state") == "completed":
            completed.append(seq)
    last_enq = max(ops) if ops else None
    last_done = max(completed) if completed else None
    status = obj.get("pg_status")
    if isinstance(status, dict) and status:
        default = status.get("0", status.get(0, next(iter(status.values()))))
        if isinstance(default, dict):
            enq = default.get("last_enqueued_collective")
            done = default.get("last_completed_collective")
            if isinstance(enq, int) and enq >= 0:
                last_enq = max(enq, last_enq or enq)
            if isinstance(done, int) and done >= 0:
                last_done = max(done, last_done or done)
    return RankTrace(
        rank=rank,
        path=str(path),
        last_enqueued=last_enq,
        last_completed=last_done,
        last_enqueued_op=ops.get(last_enq) if last_enq is not None else None,
        last_completed_op=ops.get(last_done) if last_done is not None else None,
        ops=ops,
        frame=frames.get(last_enq) if last_enq is not None else None,
        world_size=_world_size(obj),
        version=str(obj["version"]) if obj.get("version") is not None else None,
        last_time_ns=max(times) if times else None,
    )


def consistency(traces: list[RankTrace]) -> tuple[list[str], list[str]]:
    """(errors, warnings): do these dumps come from one job and one incident?

    Errors: two dumps for one rank, different world sizes, a rank outside the world.
    Warnings: different torch dump versions, dumps written far apart in time.
    """
    errors: list[str] = []
    warnings: list[str] = []
    by_rank: dict[int, list[str]] = {}
    for t in traces:
        by_rank.setdefault(t.rank, []).append(t.path)
    for rank, files in sorted(by_rank.items()):
        if len(files) > 1:
            errors.append(f"two dumps claim rank {rank} ({', '.join(files)})")
    worlds = {t.world_size for t in traces if t.world_size}
    if len(worlds) > 1:
        detail = ", ".join(f"rank {t.rank}: {t.world_size}" for t in traces if t.world_size)
        errors.append(f"the dumps come from jobs of different sizes ({detail})")
    elif worlds:
        world = worlds.pop()
        outside = [t.rank for t in traces if t.rank >= world]
        if outside:
            errors.append(f"rank(s) {outside} are outside the dumps' world of {world} ranks")
    versions = {t.version for t in traces if t.version}
    if len(versions) > 1:
        warnings.append(f"dump format versions differ ({', '.join(sorted(versions))})")
    stamps = [t.last_time_ns for t in traces if t.last_time_ns]
    if len(stamps) > 1 and (max(stamps) - min(stamps)) / 1e9 > _SPREAD_WARN_SECONDS:
        hours = (max(stamps) - min(stamps)) / 3.6e12
        warnings.append(
            f"the dumps' last collectives are {hours:.1f} h apart: they may come from different runs"
        )
    return errors, warnings


def analyze(traces: list[RankTrace], world_size: int | None = None) -> FlightRecorderReport:
    """Compare the ranks' collective sequences; name the first seq where they disagree."""
    traces = sorted(traces, key=lambda t: t.rank)
    known = {t.rank for t in traces}
    sizes = {t.world_size for t in traces if t.world_size}
    world = (
        world_size or (sizes.pop() if len(sizes) == 1 else 0) or (max(known) + 1 if known else 0)
    )
    missing = [r for r in range(world) if r not in known]
    divergence_seq: int | None = None
    sentence: str | None = None
    behind: list[int] = []
    if traces:
        common = set.intersection(*(set(t.ops) for t in traces)) if len(traces) > 1 else set()
        for seq in sorted(common):
            names = {t.rank: t.ops[seq] for t in traces}
            if len(set(names.values())) > 1:
                divergence_seq = seq
                sentence = f"collective #{seq} differs: " + ", ".join(
                    f"rank {r} {op}" for r, op in names.items()
                )
                break
        lasts = {t.rank: t.last_enqueued for t in traces if t.last_enqueued is not None}
        if divergence_seq is None and lasts and len(set(lasts.values())) > 1:
            low = min(lasts.values())
            behind = [r for r, v in lasts.items() if v == low]
            ahead = max(lasts.values())
            divergence_seq = low + 1
            ahead_op = next(t.ops.get(low + 1) for t in traces if lasts.get(t.rank) == ahead)
            sentence = (
                f"rank(s) {', '.join(map(str, behind))} never enqueued collective #{low + 1}"
                f" ({ahead_op}) that the others did"
            )
    return FlightRecorderReport(
        ranks=traces,
        missing_ranks=missing,
        divergence_seq=divergence_seq,
        divergence=sentence,
        behind_ranks=behind,
        world_size=world or None,
    )


def read_flight_recorder(
    paths: Iterable[str | Path] = (),
    env: Mapping[str, str] | None = None,
    *,
    newer_than: float | None = None,
    require_consistent: bool = False,
    max_bytes: int = MAX_DUMP_BYTES,
) -> FlightRecorderReport | None:
    """Find, load and analyse dumps; None when there are none.

    Unreadable files are skipped unless the user named them (then the first
    error is raised). ``newer_than`` (epoch seconds) skips stale dumps left by an
    earlier run at the default path. Dumps that cannot belong together (two for
    one rank, different world sizes) raise ``InputError`` with ``require_consistent``
    (else the report carries them as warnings), as do files over ``max_bytes``.
    """
    paths = list(paths)
    files = find_dumps(paths, env)
    if newer_than is not None:
        files = [f for f in files if f.stat().st_mtime >= newer_than]
    traces = []
    errors = []
    for f in files:
        try:
            traces.append(load_trace(f, max_bytes=max_bytes))
        except InputError as exc:
            errors.append(exc)
        except OSError as exc:
            errors.append(InputError(f"{f}: {exc.strerror or exc}"))
    if errors and paths and (require_consistent or not traces):
        raise errors[0]
    if not traces:
        return None
    problems, warnings = consistency(traces)
    if problems and require_consistent:
        raise InputError(
            "the flight-recorder dumps do not belong together: " + "; ".join(problems),
            hint="pass the dumps of one job (one folder or prefix per run)",
        )
    report = analyze(traces)
    report.warnings = problems + warnings
    return report
