"""A recording's files, and reading them back (no live process needed).

:func:`load_run` reads ``samples.jsonl`` (a last line cut short by a crash or SIGKILL
is skipped, as is any line that is not JSON) and ``marks.jsonl`` into a :class:`Run`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools._inputs import kind_of, show_path
from mltools.errors import InputError

SAMPLES = "samples.jsonl"
MARKS = "marks.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"
COLUMNAR = "samples.parquet"
OWN_FILES = (SAMPLES, MARKS, SUMMARY, REPORT, COLUMNAR)

MAX_LINE_BYTES = 16 << 20  # one sample line; a longer one is not ours
COLUMNAR_HINT = "pip install 'mltools-cli[frame]' (pyarrow) for samples.parquet"


@dataclass
class Run:
    """One recording: its meta line, process infos, samples, markers and end line."""

    path: Path
    meta: dict[str, Any]
    samples: list[dict[str, Any]]
    processes: dict[int, dict[str, Any]]
    markers: list[dict[str, Any]]
    end: dict[str, Any] | None
    skipped_lines: int = 0
    notes: list[str] = field(default_factory=list)


def _lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    out, bad = [], 0
    with open(path, "rb") as fh:
        while raw := fh.readline(MAX_LINE_BYTES):
            try:
                item = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if isinstance(item, dict):
                out.append(item)
            else:
                bad += 1
    return out, bad


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read the recording in folder ``path``; :class:`InputError` when it is not one."""
    folder = Path(path)
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise InputError(f"no such recording: {show_path(folder)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(
            f"{show_path(folder)} is {kind_of(st.st_mode)}, not a recording folder",
            hint="name the folder `mltools record --out DIR` wrote",
        )
    samples_path = folder / SAMPLES
    if not samples_path.is_file():
        raise InputError(
            f"{show_path(folder)} holds no {SAMPLES}: not a recording folder",
            hint="name the folder `mltools record --out DIR` wrote",
        )
    lines, bad = _lines(samples_path)
    meta = next((x for x in lines if x.get("type") == "meta"), None)
    if meta is None:
        raise InputError(f"{show_path(samples_path)} has no meta line: not a recording")
    run = Run(folder, meta, [], {}, [], None, bad)
    for item in lines:
        kind = item.get("type")
        if kind == "sample":
            run.samples.append(item)
        elif kind == "process" and isinstance(item.get("pid"), int):
            run.processes[item["pid"]] = item
        elif kind == "marker":
            run.markers.append(item)
        elif kind == "end":
            run.end = item
    _keep_best_ranks(run.processes)
    t0 = meta.get("t0_monotonic")
    marks_path = folder / MARKS
    if marks_path.is_file() and isinstance(t0, (int, float)):
        marks, bad_marks = _lines(marks_path)
        run.skipped_lines += bad_marks
        for m in marks:
            t = m.get("t_monotonic")
            if isinstance(t, (int, float)):
                run.markers.append(
                    {
                        "type": "marker",
                        "t_seconds": round(t - t0, 3),
                        "name": str(m.get("name")),
                        "value": None,
                        "source": "mark",
                        "pid": m.get("pid"),
                    }
                )
    for m in run.markers:  # a mark() from a rank names it
        m["rank"] = run.processes.get(m.get("pid"), {}).get("rank") if m.get("pid") else None
    run.markers.sort(key=lambda m: m.get("t_seconds") or 0.0)
    if run.end is None:
        run.notes.append("the recording has no end line: the recorder was killed or crashed")
    return run


def _keep_best_ranks(processes: dict[int, dict[str, Any]]) -> None:
    """Keep the ranks from the most specific variable seen in the run, drop the others.

    Under ``srun torchrun``, torchrun's agent has only ``SLURM_PROCID`` (the node's index)
    while the ranks it starts have ``RANK``: the agent is a launcher, not rank 0.
    """
    from mltools.record.procs import RANK_VARIABLES

    order = {name: i for i, (name, _) in enumerate(RANK_VARIABLES)}
    sources = [order[p["rank_source"]] for p in processes.values() if p.get("rank_source") in order]
    if not sources:
        return
    best = min(sources)
    for p in processes.values():
        if p.get("rank") is not None and order.get(p.get("rank_source"), best) != best:
            p["rank"] = None


def write_text(path: Path, text: str) -> None:
    """Write ``path`` through a temp file and a rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def rows(run: Run) -> Iterator[dict[str, Any]]:
    """The samples as one long table: a row per (sample, GPU), (sample, process) and host."""
    for s in run.samples:
        t = s.get("t_seconds")
        for g in s.get("gpus") or ():
            row = {"t_seconds": t, "kind": "gpu", "gpu_index": g.get("index")}
            for key, value in g.items():
                if key == "index":
                    continue
                row[f"gpu_{key}" if not key.startswith("gpu_") else key] = (
                    ",".join(value) if isinstance(value, list) else value
                )
            yield row
        for p in s.get("processes") or ():
            info = run.processes.get(p.get("pid"), {})
            yield {
                "t_seconds": t,
                "kind": "process",
                "pid": p.get("pid"),
                "process_name": info.get("name"),
                "rank": info.get("rank"),
                "process_cpu_percent": p.get("cpu_percent"),
                "process_cpu_seconds": p.get("cpu_seconds"),
                "process_rss_bytes": p.get("rss_bytes"),
                "process_read_bytes": p.get("read_bytes"),
                "process_write_bytes": p.get("write_bytes"),
                "process_gpu_memory_bytes": sum(
                    x.get("memory_bytes") or 0 for x in p.get("gpus") or ()
                ),
            }
        host = s.get("host")
        if host:
            yield {"t_seconds": t, "kind": "host", **{f"host_{k}": v for k, v in host.items()}}


ROWS_PER_GROUP = 50_000  # rows built in memory at once while writing samples.parquet


def _column_types(run: Run) -> dict[str, str]:
    """Each column's type over the whole run: string if any value is text, else float if
    any is a float, else int (a column that is always null: string)."""
    kinds: dict[str, str] = {}
    for row in rows(run):
        for name, value in row.items():
            seen = kinds.get(name, "null")
            if isinstance(value, str) or seen == "string":
                kinds[name] = "string"
            elif isinstance(value, float) or seen == "float":
                kinds[name] = "float"
            elif isinstance(value, (int, bool)):
                kinds[name] = "int"
            else:
                kinds.setdefault(name, "null")
    return kinds


def write_columnar(run: Run, path: Path) -> tuple[Path | None, str | None]:
    """``samples.parquet`` (one long table, ``kind`` = gpu/process/host) when pyarrow is
    installed; else ``(None, why)``. Written in row groups, so memory stays bounded on a
    long recording."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None, f"no {COLUMNAR}: pyarrow is not installed ({COLUMNAR_HINT})"
    arrow = {"string": pa.string(), "float": pa.float64(), "int": pa.int64(), "null": pa.string()}
    kinds = _column_types(run) or {"t_seconds": "float"}
    schema = pa.schema([(name, arrow[kind]) for name, kind in kinds.items()])
    tmp = path.with_name(f".{path.name}.tmp")

    def flush(batch: list[dict[str, Any]]) -> None:
        columns = [pa.array([r.get(n) for r in batch], type=schema.field(n).type) for n in kinds]
        writer.write_table(pa.Table.from_arrays(columns, schema=schema))

    with pq.ParquetWriter(tmp, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in rows(run):
            batch.append(row)
            if len(batch) >= ROWS_PER_GROUP:
                flush(batch)
                batch = []
        if batch or not run.samples:
            flush(batch)
    os.replace(tmp, path)
    return path, None
