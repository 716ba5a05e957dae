"""Streaming log analyser: match the failure catalogue and name the root cause first.

The analyser reads logs in fixed-size chunks (memory stays bounded whatever
the file size), finds candidate lines with one combined regular expression,
and only then parses a line's prefix (torchrun ``[rankN]:``, ``--tee``/role
``[default0]:``, Slurm ``--label`` ``N:``, NCCL ``host:pid:tid [N] NCCL``)
and matches the catalogue entries. The elastic agent's summary (``Root Cause
(first observed failure)``, ``rank : N``, ``exitcode : -15 (SIGTERM)``,
``error_file``) tells which rank failed first.

Ordering of findings: specific causes before weak (circumstantial) ones, then the
generic "a rank raised" and "a rank failed", the rank the agent saw fail first before
others, then first appearance; the symptoms that victims print (timeouts, closed
connections, SIGTERM) come last, and their ranks are listed as ``victims`` of the root
cause.

Pasted logs are messy: lines are cut, wrapped and glued to progress bars (``\r``),
wrapped in other tools' prefixes (Ray ``(Actor pid=N)``, mpirun ``[1,N]<stdout>:``,
markdown quotes). The analyser splits ``\r`` segments, strips those prefixes, reads
NCCL's ``-> N`` return-code chains and nvidia-smi process tables, and never answers
"clean" when a log shows a failure (a traceback, a non-zero exit, a signal, an NCCL
error or a watchdog abort): if nothing specific matches, it reports ``rank_failed``
with the first such line.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mltools.ddp.catalogue import CATALOGUE, FAILURE_SIGNALS, GENERIC_EXCEPTION, GENERIC_FAILURE
from mltools.errors import InputError

CHUNK_BYTES = 4 * 1024 * 1024
MAX_LINE_CHARS = 2000  # evidence lines are cut to this length
MAX_EVIDENCE = 6  # evidence lines kept per finding

_PREFIX = re.compile(
    r"^(?:\[(?:rank|[A-Za-z_][\w-]*?)(?P<torchrun>\d+)\]:\s?"
    r"|(?P<slurm>\d+): "
    r"|\S+:\d+:\d+ \[(?P<nccl>\d+)\] (?=(?:\S+ )?NCCL ))"
)
_EXCEPTION = re.compile(
    r"(?:^|(?<=[\s>*`'\"|(\[]))(?:[A-Za-z_]\w*\.)*(?P<name>[A-Z]\w*(?:Error|Exception))(?::|\s*$)"
)
# wrappers other tools put before a line: Ray actors, mpirun --tag-output, markdown quotes,
# backticks, CI timestamps, "host: " (pdsh/multi-node launchers)
_WRAPPER = re.compile(
    r"^(?:\s*(?:>+|`+|\*\*)\s?"
    r"|\(\w+ pid=\d+(?:, ip=[\d.]+)?\)\s?"
    r"|\[\d+,(?P<mpi>\d+)\]<std(?:out|err)>:"
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
    r"|\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \w+ \|\| "
    r"|[\w.-]+-\d+: (?=\S))+"
)
_CHAIN = re.compile(r"\.cc:\d+ -> (\d+)|retcode (\d+)")
# NCCL result codes in "-> N" chains: what each one means for the catalogue
_CHAIN_IDS = {1: "nccl_unhandled_cuda", 2: "nccl_system_error", 6: "peer_crashed"}
# an nvidia-smi process row: GPU, (GI, CI,) PID, type
_SMI_ROW = re.compile(r"\|\s+(\d+)\s+(?:N/A\s+N/A\s+|\d+\s+\d+\s+)?(\d+)\s+(?:C|G|C\+G)\s+\S")
# C++ reports and the NCCL watchdog wrap the real error: read it like an exception line
_WRAPPED = re.compile(
    r"what\(\):\s+.*(?:CUDA error|NCCL error|Error|error)"
    r"|watchdog thread terminated with exception: (?!\[Rank \d+\] Watchdog caught)"
)
_NOT_A_CAUSE = {"ChildFailedError"}
_CODE_KEYWORDS = ("except ", "raise ", "if ", "elif ", "assert ", "return ", "def ", "class ")

# structural lines: tracebacks, checkpoint loading frames, the elastic summary
_STRUCTURAL = {
    "traceback": r"Traceback \(most recent call last\)",
    "loading": r"serialization\.py|torch\.load\(|load_state_dict|load_checkpoint|map_location",
    "root_block": r"Root Cause \(first observed failure\)",
    "failures_block": r"^Failures:",
    "summary_rank": r"^\s*rank\s*:\s*\d+",
    "summary_field": r"^\s*(?:exitcode|error_file|traceback)\s*:",
    "agent_failed": r"failed \(exitcode: -?\d+\) local_rank: \d+",
    "exception": r"[A-Z]\w*(?:Error|Exception)\b",
}
_SUMMARY_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
_AGENT_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+)")
_LOADING = re.compile(_STRUCTURAL["loading"])

_BY_ID = {str(entry["id"]): entry for entry in CATALOGUE}
_ORDER = {str(entry["id"]): i for i, entry in enumerate(CATALOGUE)}
# needles that find the structural lines (each is a substring of every such line)
_STRUCTURAL_NEEDLES = [
    "Traceback (most recent call last)",
    'File "',
    "serialization.py",
    "torch.load(",
    "load_state_dict",
    "load_checkpoint",
    "map_location",
    "Root Cause (first observed failure)",
    "Failures:",
    "local_rank:",
    "exitcode",
    "error_file",
    "traceback",
    "Error",
    "Exception",
    "what():",
    "  C   ",
    "  G   ",
]


def _literal_runs(parsed: object) -> list[str]:
    """Maximal runs of literal characters in a parsed regex sequence (mandatory parts only)."""
    from re import _constants as c  # type: ignore[attr-defined]

    runs, current = [], []
    for op, arg in parsed:  # type: ignore[attr-defined]
        if op is c.LITERAL:
            current.append(chr(arg))
            continue
        if current:
            runs.append("".join(current))
            current = []
        if op is c.SUBPATTERN and arg[-1] is not None:
            runs.extend(_literal_runs(arg[-1]))
    if current:
        runs.append("".join(current))
    return runs


def _needles_for(pattern: str) -> list[str]:
    """Literal strings, one of which every match of ``pattern`` contains."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    parsed = _parser.parse(pattern)
    items = list(parsed)
    if len(items) == 1 and items[0][0] is c.BRANCH:
        return [n for branch in items[0][1][1] for n in _needles_for_seq(branch)]
    return _needles_for_seq(parsed)


def _needles_for_seq(seq: object) -> list[str]:
    runs = _literal_runs(seq)
    if not runs:
        raise ValueError("catalogue pattern has no literal part to search for")
    return [max(runs, key=len)]


def _minimal(needles: Iterable[str]) -> list[str]:
    """Drop every needle that contains a shorter one: the shorter one finds its lines too."""
    unique = sorted(set(needles), key=len)
    kept: list[str] = []
    for n in unique:
        if not any(k in n for k in kept):
            kept.append(n)
    return kept


def _guard(patterns: Iterable[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(needle, regex) pairs: a regex runs only on a line that holds its literal needle."""
    pairs = []
    for p in patterns:
        regex = re.compile(p)
        pairs += [(needle, regex) for needle in _needles_for(p)]
    return tuple(pairs)


def _hits(guards: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> bool:
    for needle, regex in guards:  # noqa: SIM110 (a plain loop: this is the hot path)
        if needle in text and regex.search(text):
            return True
    return False


_ENTRIES = [(entry, _guard(entry["patterns"])) for entry in CATALOGUE]  # type: ignore[arg-type]
_FRAMES = [
    (entry, _guard(entry["frames"]))  # type: ignore[arg-type]
    for entry in CATALOGUE
    if entry.get("frames")
]
_SIGNALS = _guard(FAILURE_SIGNALS)

# Short anchors that stand for every needle containing them: grep -F's time grows with the
# number of needles, and these words are rare in a healthy log.
_COARSE = (
    "CUDA error", "Connection ", "timed out", "atchdog", "exit", "Signal ", "mismatch",
    "insufficient", "illegal", "DataLoader worker ", "unhandled ", "terminat", "ECC",
)  # fmt: skip


def _coarse(needle: str) -> str:
    return next((c for c in _COARSE if c in needle), needle)


NEEDLES: list[bytes] = [
    n.encode()
    for n in _minimal(
        _coarse(n)
        for n in [n for entry in CATALOGUE for p in entry["patterns"] for n in _needles_for(p)]  # type: ignore[union-attr]
        + [n for entry in CATALOGUE for p in entry.get("frames", ()) for n in _needles_for(p)]  # type: ignore[union-attr]
        + [n for p in FAILURE_SIGNALS for n in _needles_for(p)]
        + _STRUCTURAL_NEEDLES
    )
]


@dataclass
class Evidence:
    """One log line that supports a finding."""

    file: str
    line: int
    rank: int | None
    text: str


@dataclass
class Finding:
    """A recognised failure: what, where (rank, first line), why and how to fix it."""

    id: str
    title: str
    role: str  # "cause" or "symptom"
    rank: int | None
    line: int
    file: str
    ranks: list[int]
    victims: list[int]
    count: int
    evidence: list[Evidence]
    cause: str
    fix: str
    reference: str
    root_cause: bool = False


@dataclass
class LogReport:
    """The analyser's answer: findings with the root cause first, and what was read."""

    findings: list[Finding]
    files: list[str]
    lines_scanned: int
    bytes_scanned: int
    first_failed_rank: int | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Acc:
    entry: dict[str, object]
    seq: int
    file: str
    line: int
    rank: int | None
    ranks: list[int] = field(default_factory=list)
    count: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    weak: bool = False


class LogScanner:
    """Feed lines (or whole files); ``report()`` gives the findings. Memory is bounded.

    With ``use_grep`` (the default) a regular file's candidate lines are found by
    ``grep -F`` (multi-string search in C, several times faster than Python's
    substring search); pipes, and machines without grep, use the pure-Python scan.
    Both find the same lines: grep only pre-selects, the catalogue decides.
    """

    def __init__(self, *, use_grep: bool = True) -> None:
        self._grep = shutil.which("grep") if use_grep else None
        self._acc: dict[str, _Acc] = {}
        self._generic: dict[int | None, _Acc] = {}
        self._loading: dict[int | None, bool] = {}
        self._frame: dict[int | None, tuple[int, str]] = {}
        self._ranks_with_cause: set[int | None] = set()
        self._seq = 0
        self._summary_rank: int | None = None
        self._in_root_block = False
        self._root_rank: int | None = None
        self._agent_rank: int | None = None
        self._failure: _Acc | None = None  # the first line that shows a failure
        self._smi: dict[int, set[int]] = {}  # nvidia-smi process table: pid -> GPUs
        self._smi_rows: list[Evidence] = []
        self.files: list[str] = []
        self.lines = 0
        self.bytes = 0

    # ---- input -------------------------------------------------------------

    def feed_stream(self, stream: IO[bytes], name: str) -> None:
        """Scan a binary stream chunk by chunk (never holds more than ~2 chunks)."""
        self.files.append(name)
        self._summary_rank, self._in_root_block = None, False
        if self._grep and _is_regular_file(stream) and self._feed_with_grep(stream, name):
            return
        line_no = 0
        rest = b""
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                break
            self.bytes += len(chunk)
            data = rest + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) < CHUNK_BYTES:
                    rest = data
                    continue
                cut = len(data) - 1  # a line longer than a chunk: split it
            rest = data[cut + 1 :]
            line_no = self._scan_bytes(data[: cut + 1], name, line_no)
        if rest:
            line_no = self._scan_bytes(rest + b"\n", name, line_no)
        self.lines += line_no

    def _feed_with_grep(self, stream: IO[bytes], name: str) -> bool:
        """Let grep pick the candidate lines of a regular file; False if grep failed."""
        start = stream.tell()
        args = [self._grep or "grep", "-a", "-n", "-F"]
        for needle in NEEDLES:
            args += ["-e", needle.decode()]
        proc = subprocess.Popen(
            args,
            stdin=stream,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
        )
        assert proc.stdout is not None
        with proc.stdout as out:
            while raw := out.readline(CHUNK_BYTES):
                if not raw.endswith(b"\n"):  # a huge line: keep its head, skip the rest
                    tail = raw
                    while tail and not tail.endswith(b"\n"):
                        tail = out.readline(CHUNK_BYTES)
                number, _, line = raw.partition(b":")
                text = line.rstrip(b"\n")[: MAX_LINE_CHARS * 4].decode("utf-8", "replace")
                self._line(text.rstrip("\r"), name, int(number))
        if proc.wait() not in (0, 1):
            stream.seek(start)
            return False
        stream.seek(start)
        lines = size = 0
        last = b"\n"
        while chunk := stream.read(CHUNK_BYTES):
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
        self.lines += lines + (last != b"\n")
        self.bytes += size
        return True

    def feed_text(self, text: str, name: str = "<text>") -> None:
        """Scan an in-memory string (convenience for tests and short logs)."""
        self.feed_stream(io.BytesIO(text.encode("utf-8")), name)

    def _scan_bytes(self, data: bytes, name: str, line_no: int) -> int:
        """Find candidate lines with fast substring search, then parse only those."""
        starts: set[int] = set()
        for needle in NEEDLES:
            pos = data.find(needle)
            while pos >= 0:
                start = data.rfind(b"\n", 0, pos) + 1
                starts.add(start)
                end = data.find(b"\n", pos)
                pos = data.find(needle, end)
        counted_to = 0
        for start in sorted(starts):
            line_no += data.count(b"\n", counted_to, start)
            counted_to = start
            end = data.find(b"\n", start)
            raw = data[start:end].decode("utf-8", "replace").rstrip("\r")
            self._line(raw, name, line_no + 1)
        return line_no + data.count(b"\n", counted_to)

    # ---- one candidate line ------------------------------------------------

    def _line(self, raw: str, name: str, line_no: int) -> None:
        if "\r" in raw:  # progress bars: each carriage-return segment is a line of its own
            for segment in raw.split("\r"):
                if segment.strip():
                    self._one_line(segment, name, line_no)
            return
        self._one_line(raw, name, line_no)

    def _one_line(self, raw: str, name: str, line_no: int) -> None:
        rank, body = _split_prefix(raw)
        if (
            rank is None
            and self._summary_rank is not None
            and re.match(_STRUCTURAL["summary_field"], body)
        ):
            rank = self._summary_rank
        self._structure(body, rank)
        if " NCCL INFO " in body:  # INFO lines carry no error but "-> N" return-code chains
            self._chain(body, rank, name, line_no, raw)
            return
        if self._failure is None and _hits(_SIGNALS, body):
            self._failure = self._new_acc(GENERIC_FAILURE, rank, name, line_no)
            self._push(self._failure, rank, name, line_no, raw)
        if body.lstrip().startswith("Traceback (most recent call last)"):
            self._loading[rank] = False
            self._frame.pop(rank, None)
            return
        if body.lstrip().startswith('File "'):  # a traceback frame: remember the innermost
            self._frame[rank] = (line_no, raw[:MAX_LINE_CHARS])
            if _LOADING.search(body):
                self._loading[rank] = True
            for entry, guards in _FRAMES:  # the module that raised tells something too
                if _hits(guards, body):
                    self._add(entry, rank, name, line_no, raw, weak=True)
                    break
            return
        if "|" in body and (m := _SMI_ROW.search(body)):
            self._smi.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
            if len(self._smi_rows) < MAX_EVIDENCE:
                self._smi_rows.append(Evidence(name, line_no, rank, raw[:MAX_LINE_CHARS]))
            return
        if rank in self._frame and _LOADING.search(body):  # the code line under a frame
            self._loading[rank] = True
        matched = False
        hit = None  # the first cause that matches; a symptom only if no cause does
        for entry, guards in _ENTRIES:
            if _hits(guards, body):
                if entry["role"] == "cause":
                    hit = entry
                    break
                hit = hit or entry
        if hit is not None:
            if hit["id"] == "cuda_oom" and self._loading.get(rank):
                hit = _BY_ID["oom_on_resume"]
            self._add(hit, rank, name, line_no, raw, weak=bool(hit.get("weak")))
            matched = True
        if not matched:
            matched = self._chain(body, rank, name, line_no, raw)
        if not matched:
            exc = _EXCEPTION.search(body) if "Error" in body or "Exception" in body else None
            if exc and (
                exc.group("name") in _NOT_A_CAUSE or body.lstrip().startswith(_CODE_KEYWORDS)
            ):
                exc = None
            wrapped = ("what():" in body or "watchdog thread" in body) and _WRAPPED.search(body)
            if (exc or wrapped) and rank not in self._generic:
                acc = self._generic[rank] = self._new_acc(GENERIC_EXCEPTION, rank, name, line_no)
                self._push(acc, rank, name, line_no, raw)
                if rank in self._frame:  # where it was raised
                    frame_line, frame = self._frame[rank]
                    acc.evidence.append(Evidence(name, frame_line, rank, frame))

    def _chain(self, body: str, rank: int | None, name: str, line_no: int, raw: str) -> bool:
        """NCCL's "-> 2" return-code chains (and "retcode 2"): weak evidence of the cause."""
        if not (" -> " in body or "retcode" in body) or not (m := _CHAIN.search(body)):
            return False
        if self._failure is None and int(m.group(1) or m.group(2)):
            self._failure = self._new_acc(GENERIC_FAILURE, rank, name, line_no)
            self._push(self._failure, rank, name, line_no, raw)
        entry_id = _CHAIN_IDS.get(int(m.group(1) or m.group(2)))
        if entry_id is None:
            return False
        self._add(_BY_ID[entry_id], rank, name, line_no, raw, weak=True)
        return True

    def _structure(self, body: str, rank: int | None) -> None:
        if "Root Cause (first observed failure)" in body:
            self._in_root_block = True
        elif body.startswith("Failures:"):
            self._in_root_block = False
        elif m := _SUMMARY_RANK.match(body):
            self._summary_rank = int(m.group(1))
            if self._in_root_block and self._root_rank is None:
                self._root_rank = self._summary_rank
        elif (m := _AGENT_FAILED.search(body)) and self._agent_rank is None:
            self._agent_rank = int(m.group(2))

    def _new_acc(self, entry: dict[str, object], rank: int | None, name: str, line: int) -> _Acc:
        self._seq += 1
        return _Acc(entry=entry, seq=self._seq, file=name, line=line, rank=rank)

    def _add(
        self,
        entry: dict[str, object],
        rank: int | None,
        name: str,
        line: int,
        raw: str,
        *,
        weak: bool = False,
    ) -> None:
        entry_id = str(entry["id"])
        acc = self._acc.get(entry_id)
        if acc is None:
            acc = self._acc[entry_id] = self._new_acc(entry, rank, name, line)
            acc.weak = weak
        elif acc.weak and not weak:  # strong evidence for what was circumstantial so far
            acc.weak = False
            acc.file, acc.line, acc.rank = name, line, rank
            acc.evidence.insert(0, Evidence(name, line, rank, raw[:MAX_LINE_CHARS]))
            acc.count += 1
            if rank is not None and rank not in acc.ranks:
                acc.ranks.insert(0, rank)
            if entry["role"] == "cause":
                self._ranks_with_cause.add(rank)
            return
        if entry["role"] == "cause" and not weak:
            self._ranks_with_cause.add(rank)
        self._push(acc, rank, name, line, raw)

    @staticmethod
    def _push(acc: _Acc, rank: int | None, name: str, line: int, raw: str) -> None:
        acc.count += 1
        new_rank = rank is not None and rank not in acc.ranks
        if new_rank:
            acc.ranks.append(rank)  # type: ignore[arg-type]
        if len(acc.evidence) < MAX_EVIDENCE and (new_rank or len(acc.evidence) < 3):
            acc.evidence.append(Evidence(name, line, rank, raw[:MAX_LINE_CHARS]))

    # ---- the answer --------------------------------------------------------

    def report(self) -> LogReport:
        """Findings ordered root cause first, victims attached to it."""
        first_failed = self._root_rank if self._root_rank is not None else self._agent_rank
        self._smi_evidence()
        accs = list(self._acc.values())
        accs += [a for r, a in self._generic.items() if r not in self._ranks_with_cause]
        if not accs and self._failure is not None:  # never "clean" on a failed job
            accs.append(self._failure)

        def key(acc: _Acc) -> tuple[int, int, int]:
            if acc.entry["role"] == "symptom":  # timeouts happen before closed sockets and SIGTERM
                return (4, _ORDER[str(acc.entry["id"])], acc.seq)
            if acc.entry is GENERIC_EXCEPTION:
                tier = 2
            elif acc.entry is GENERIC_FAILURE:
                tier = 3
            else:
                tier = 1 if acc.weak else 0
            on_first = 0 if first_failed is not None and first_failed in acc.ranks else 1
            return (tier, on_first, acc.seq)

        accs.sort(key=key)
        findings = [_finding(acc) for acc in accs]
        if findings:
            root = findings[0]
            root.root_cause = True
            culprits = {r for f in findings if f.role == "cause" for r in f.ranks}
            seen = {r for f in findings for r in f.ranks}
            if root.rank is not None:
                root.victims = sorted(seen - culprits - {root.rank})
        return LogReport(findings, self.files, self.lines, self.bytes, first_failed)

    def _smi_evidence(self) -> None:
        """An nvidia-smi table with several ranks' pids on GPU 0 (each also on its own GPU)."""
        on_zero = [pid for pid, gpus in self._smi.items() if 0 in gpus]
        if len(on_zero) < 2 or not any(self._smi[pid] - {0} for pid in on_zero):
            return
        entry = _BY_ID["oom_on_resume"]
        acc = self._acc.pop("cuda_oom", None)
        if acc is not None:  # the OOM it explains: same finding, better name
            acc.entry = entry
        else:
            first = self._smi_rows[0]
            acc = self._new_acc(entry, None, first.file, first.line)
        acc.evidence = (acc.evidence + self._smi_rows)[:MAX_EVIDENCE]
        self._acc["oom_on_resume"] = acc


def _finding(acc: _Acc) -> Finding:
    e = acc.entry
    return Finding(
        id=str(e["id"]),
        title=str(e["title"]),
        role=str(e["role"]),
        rank=acc.ranks[0] if acc.ranks else acc.rank,
        line=acc.line,
        file=acc.file,
        ranks=sorted(acc.ranks),
        victims=[],
        count=acc.count,
        evidence=acc.evidence,
        cause=str(e["cause"]),
        fix=str(e["fix"]),
        reference=str(e["reference"]),
    )


def _is_regular_file(stream: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode) and stream.seekable()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return False


def _split_prefix(line: str) -> tuple[int | None, str]:
    """Return (rank, line without its launcher prefix and other tools' wrappers)."""
    mpi_rank = None
    if w := _WRAPPER.match(line):
        if w.group("mpi") is not None:
            mpi_rank = int(w.group("mpi"))
        line = line[w.end() :]
    m = _PREFIX.match(line)
    if not m:
        return mpi_rank, line
    if m.group("nccl") is not None:  # [N] is the device; mpirun's tag names the rank
        return (mpi_rank if mpi_rank is not None else int(m.group("nccl"))), line
    rank = int(m.group("torchrun") or m.group("slurm"))
    body = line[m.end() :]
    return rank, body


def _open_sources(sources: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[IO[bytes], str]]:
    for source in sources:
        name = os.fspath(source)
        if name == "-":
            yield sys.stdin.buffer, "<stdin>"
            continue
        path = Path(name)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", name)
        with path.open("rb") as fh:
            yield fh, name


def analyze_log(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    use_grep: bool = True,
) -> LogReport:
    """Analyse one or more DDP logs (paths, or ``-`` for stdin) and name the root cause.

    Returns a ``LogReport`` whose ``findings`` list has the root cause at index 0
    (empty when nothing known went wrong). Memory stays bounded: files are read
    in chunks and only a few evidence lines per finding are kept.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise InputError("no log given", hint="pass one or more log files, or - for stdin")
    scanner = LogScanner(use_grep=use_grep)
    for stream, name in _open_sources(sources):
        scanner.feed_stream(stream, name)
    return scanner.report()


def analyze_text(text: str, name: str = "<text>") -> LogReport:
    """Analyse a log held in a string."""
    scanner = LogScanner()
    scanner.feed_text(text, name)
    return scanner.report()
