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

import copy
import html
import io
import os
import re
import shutil
import stat
import subprocess
import sys
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from typing import IO

from mltools._inputs import check_stream, open_input
from mltools.ddp.catalogue import (
    BENIGN_CHAIN_SOURCES,
    CATALOGUE,
    FAILURE_SIGNALS,
    FAMILY_WORDS,
    GENERIC_EXCEPTION,
    GENERIC_FAILURE,
    QUOTED_EXCEPTION,
)
from mltools.ddp.messages import quoted_message
from mltools.errors import InputError

CHUNK_BYTES = 4 * 1024 * 1024
QUIET_STACK_GAP = 8  # lines from an info-level record, or a frame of its stack, to the next
MAX_LINE_CHARS = 2000  # evidence lines are cut to this length
MAX_EVIDENCE = 6  # evidence lines kept per finding
# where a quoted exception message is looked for, when a log shows no failure otherwise: a
# paste whole, a long log's start and end (a run's error is its last words)
QUOTE_HEAD_BYTES = 64 << 10
QUOTE_TAIL_BYTES = 192 << 10

_PREFIX = re.compile(
    r"^(?:\[(?:rank|[A-Za-z_][\w-]*?)(?P<torchrun>\d+)\]:\s?"
    r"|(?P<slurm>\d+): "
    r"|\S+:\d+:\d+ \[(?P<nccl>\d+)\] (?=(?:\S+ )?NCCL ))"
)
_EXCEPTION = re.compile(
    r"(?:^|(?<=[\s>*`'\"|(\[]|[^\x00-\x7f]))(?:[A-Za-z_]\w*\.)*"  # (after CJK text too)
    r"(?P<name>[A-Z]\w*(?:Error|Exception)|Exception)"
    r"(?:\([\w.]+\))?(?::|\s*$)"  # Ray's "RayTaskError(RuntimeError): ..."
    r"|(?:^|(?<=[\s>*`'\"|(\[]))(?:[A-Za-z_]\w*\.)*(?P<repr>[A-Z]\w*(?:Error|Exception))\(['\"]"
)  # (and an exception's repr, "got RuntimeError('a and b must have same reduction dim')")
# wrappers other tools put before a line: Ray/vLLM actors (``(Worker rank=N pid=M, ip=H)``),
# mpirun --tag-output, markdown quotes, backticks, ANSI remnants, CI and log-shipper
# timestamps (``[2025-05-10 00:18:21]``, ``  | 2024-08-23T22:22:51.873Z | ``), glog and
# logging-module headers, pasted line or pid numbers (``[1763] ``), "host: " and
# "host [stderr] " (pdsh and multi-node launchers), "stdout: " (test runners)
_WRAPPER = re.compile(
    r"^(?:\s*(?:>+|`+|\*\*)\s?"
    r"|\x1b?\[0?m\s?"
    r"|\((?:[\w-]+,? )?(?:rank=(?P<ray>\d+),? )?pid=\d+(?:, ip=[^)]*)?\)\s?"
    r"|\[\d+,(?P<mpi>\d+)\]<std(?:out|err)>:"
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?:[\w.-]+ [\w./-]+(?:\[\d+\])?: )?"
    r"|[\w.-]+ [\w./-]+\[\d+\]: "  # (syslog's host and program after an ISO time)
    r"|\| "  # (a log viewer's column separator after its time)
    r"|\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \w+ \|\| "
    r"|\s*\|?\s*\d{4}-\d\d-\d\dT[\d:.]+Z \| "
    r"|\[?\d{4}-\d\d-\d\d[ T][\d:,.]+(?:Z|[+-]\d\d:?\d\d)?\]?\s+"
    r"|\d\d:\d\d:\d\d\.\d+ (?=\S)"
    r"|[IWEF]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "
    r"|(?:ERROR|WARNING|INFO):[\w.]+:"
    r"|\[\d+\] (?=\S)"
    r"|stdout: |stderr: "
    r"|\d+\.\d+\.\d+\.\d+: (?=\S)"
    r"|[\w.-]+ \[std(?:out|err)\] "
    r"|[\w.-]+-\d+: "
    # loguru's record below error level ("INFO     | __main__:main:42 - "); then docker
    # compose's service column: "trainer-1  | " (not loguru's "ERROR    | ", a level)
    r"|(?:TRACE|DEBUG|INFO|SUCCESS|WARNING) +\| [\w.<>-]+:[\w.<>-]+:\d+ - "
    r"|(?!(?:ERROR|CRITICAL|FATAL)\b)[\w.-]+ +\| "
    r"|\[pod/[\w.-]+/[\w.-]+\] "  # kubectl logs --prefix
    # logging's levels below error, as transformers/accelerate scripts and bracketed loggers
    # print them ("05/01/2024 10:11:12 - INFO - __main__ - ", "[INFO] "); an error level stays
    r"|\d\d/\d\d/\d{4} \d\d:\d\d:\d\d - (?:INFO|WARNING|DEBUG) - [\w.]+ - "
    r"|\[(?:INFO|DEBUG|WARNING)\] |(?:INFO|DEBUG|WARNING) (?=\S)"
    r"|\[\d\d:\d\d:\d\d(?:[.,]\d+)?\] "  # a time of day alone
    r"|\s*\d+ \| "  # a log viewer's line numbers ("  12 | ")
    r"|std(?:out|err) [FP] )+"  # a container runtime's log file: "<time> stdout F <line>"
)
# colour codes (SGR and other CSI sequences) anywhere in a line
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# the same colour codes with their escape character lost in a copy ("[0;31mValueError[0m:",
# a notebook's traceback pasted from a web page)
_BARE_SGR = re.compile(r"\[(?:\d{1,2};)*\d{1,2}m")
# what a line is when a prefix nobody strips stands before it (a frame, a traceback's head,
# a C++ frame): cut the line there, if what comes before looks like a prefix (no quotes,
# ends with a space or a separator)
# (the elastic agent's summary block and IPython's frames too)
_ANCHOR = re.compile(
    r'Traceback \(most recent call last\)|File "[^"]+", line \d+|frame #\d+: '
    r"|Root Cause \(first observed failure\)|Failures:$|(?:exitcode|error_file|traceback) +: "
    r"|rank +: \d+ \(local_rank: |File [~/][^\s:,]*\.py:\d+, in \w"
)
_STACK_WORDS = ("Traceback (", 'File "', "frame #")  # (a quiet logger's stack is no failure)
_ANCHOR_WORDS = (
    *_STACK_WORDS, "Root Cause", "Failures:", "exitcode ", "error_file ", "traceback ",
    "local_rank: ", "File ~", "File /",
)  # fmt: skip
# NCCL's, torchrun's and vLLM's record starts ("host:pid:tid [0] NCCL ", "[rank3]:",
# "ERROR 11-04 18:02:56 [file.py:N]")
_RECORD_STARTS = (
    r"\S+:\d+:\d+ \[\d+\] (?:\S+ )?NCCL |\[rank\d+\]:"
    r"|(?:ERROR|WARNING|INFO|DEBUG|CRITICAL) \d\d-\d\d \d\d:\d\d:\d\d \["
)
# an exception's line ("torch.OutOfMemoryError: ...", "RayTaskError(RuntimeError): ...")
_RAISED = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)(?:\([\w.]+\))?: ")
# a log whose newlines a paste lost (a web page, a chat message): where its lines began (a
# traceback's, NCCL's, torchrun's and vLLM's line starts)
_UNJOIN = re.compile(
    r"\s+(?=Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|frame #\d+: "
    r"|During handling of the above exception|The above exception was the direct cause"
    rf"|{_RAISED.pattern}"
    rf"|{_RECORD_STARTS}"
    # the elastic agent's summary block
    r"|Root Cause \(first observed failure\)|Failures:|\[\d+\]:(?=\s)"
    r"|(?:time|host|rank|exitcode|error_file|traceback) +: |(?:exitcode|error_file): )"
)
# two of these in a long line: its newlines were lost
_LINE_STARTS = re.compile(
    _RECORD_STARTS + r"|\b(?:exitcode|error_file) *: "  # (the elastic agent's summary fields)
)
_UNJOIN_MIN = 200  # a line shorter than this holds no lost traceback worth splitting
# a tqdm bar ("desc:  41%|####  | 205/500 [01:02<01:29, 3.30it/s, loss=0.4]") that a line was
# printed after, with no newline between
_BAR = re.compile(r"^[^|]{0,200}?\|[^|]{0,200}\| *[\d.]+[kMG]?/[\d.?]+[kMG]? \[[^\]]{0,300}\]")
# grep -n -A1 output: "N:line" for a candidate, "N-line" for the line after it
_GREP_LINE = re.compile(rb"(\d+)([:-])")
_WRAP_MIN = 30  # a line shorter than this was not wrapped by a terminal
# A log copied from a terminal that hard-wrapped it: its longest lines all have the
# terminal's width. A needle cut by such a break is in neither line, so the lines of that
# width are searched across the break too. Pastes are small: a wrapped log up to
# WRAP_PYTHON_BYTES takes the Python scan, which can do that; grep cannot.
_WRAP_WIDTH_MIN = 60
# A log re-flowed at the last space that fits a width (a forum, a mail, fold -s, textwrap)
# breaks its long lines where the next word would not fit: those breaks are read across too.
_SOFT_WRAP_MAX = 240  # wider than this, a "wrap" is only the longest lines of a log
_SOFT_WORD_MAX = 20  # a longer first word on the next line was cut, not moved down
_SOFT_BREAKS_MIN = 2
_WRAP_SNIFF_BYTES = 1 << 20
WRAP_PYTHON_BYTES = 16 << 20
# a torchrun rank prefix glued to the end of a progress bar, before a log header or a space
_GLUED = re.compile(r"\[rank(\d+)\]:(?=\[[EWIF]\d|\s)")
_CHAIN = re.compile(r"\.c[cu]:\d+ -> (\d+)|retcode (\d+)")  # (.cu: NCCL up to 2.8)
_BENIGN_CHAIN = re.compile(rf"(?:{'|'.join(map(re.escape, BENIGN_CHAIN_SOURCES))})\.cc:\d+ -> 3$")
# NCCL result codes in "-> N" chains: what each one means for the catalogue
_CHAIN_IDS = {1: "nccl_unhandled_cuda", 2: "nccl_system_error", 6: "peer_crashed"}
# an nvidia-smi process row: GPU, (GI, CI,) PID, type
_SMI_ROW = re.compile(r"\|\s+(\d+)\s+(?:N/A\s+N/A\s+|\d+\s+\d+\s+)?(\d+)\s+(?:C|G|C\+G)\s+\S")
# C++ reports and the NCCL watchdog wrap the real error: read it like an exception line
_WRAPPED = re.compile(
    r"what\(\):\s+.*(?:CUDA error|NCCL error|Error|error)"
    r"|watchdog thread terminated with exception: (?!\[Rank \d+\] Watchdog caught)"
)
# typographic quotes, read as the straight ones a program printed
_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"'}
    | {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'"}
)
# a CUDA/NCCL/MPI check macro's head whose message is printed on the next line (llm.c:
# "[CUDA ERROR] at file train_gpt2.cu:1234:")
_CHECK_HEAD = re.compile(r"\[(?:CUDA|NCCL|MPI|cuBLAS|cuDNN) ERROR\] at file \S+:\d+:$")
# a markdown link a renderer made of a path or a location ("[/x.so](https://...)",
# "[common.cu:334](https://...)"): read as its text, so the message around it is whole
_MD_LINK = re.compile(r"\[([^\[\]\n]{1,500})\]\((?:https?|vscode|file)[^()\s]{0,2000}\)")
# a paste that went through HTML (a web page, an e-mail reply): entities for quotes and
# brackets, no-break spaces; read as the text they stand for
_ENTITY = re.compile(r"&(?:quot|gt|lt|amp|apos|nbsp|#39|#34|#x27);")
# an IPython/Jupyter traceback frame: "File ~/x.py:42, in f(args)"
_IPY_FRAME = re.compile(r"^\s*File [~/][^\s:,]*\.py:\d+, in \w")
# a Python logging record at error level ("ERROR:root:...", "CRITICAL:app.x:..."): the level
# goes with the wrapper that is stripped, so it is read before
_LOG_ERROR = re.compile(r"(?:^|[\s>\]|:])(?:ERROR|CRITICAL):(?P<logger>[\w.]+):\S")
# the same logger's record at info level on the next line: the program went on after the error
# it logged ("ERROR:models:emb_g.weight is not in the checkpoint", "INFO:models:Loaded ...")
_LOG_INFO = re.compile(r"(?:^|[\s>\]|:])INFO:(?P<logger>[\w.]+):\S")
# the frame of a library's check for an optional dependency, which it logs with its traceback
# and goes on without (xformers' triton check)
_OPTIONAL_IMPORT = re.compile(
    r'^\s*File "[^"]*xformers[/\\]__init__\.py", line \d+, in _is_triton_available'
)
# a glog-style record and its level (glog's "I0628 20:15:42.000370 1234 file.cc:12] ", torch's
# c10 logger's "[I628 20:15:42.000370615 ProcessGroupNCCL.cpp:1501] "); at verbose, debug or info
# level it is quiet: TORCH_LOGS=+dynamo prints where a compile began as a stack of frames, in
# every healthy run
_GLOG_RECORD = re.compile(
    r"(?:^|[\]:\s\[])(?P<level>[VDIWEF])\d{3,4} [\d:.]+ +(?:\d+ +)?[\w./-]+:\d+\] "
)
# the digits of a time or a date ("2024-05-01 10:11:12,345", "10.0.0.5"), that change from one
# line's prefix to the next; a host's or a process's number stays
_TIME_DIGITS = re.compile(r"\d+(?=[-:.,T/]\d)|(?<=\d[-:.,T/])\d+")
# torch's c10 logger's record head, old and new ("[E ProcessGroupNCCL.cpp:537] ", "[W117
# 11:40:54.2 socket.cpp:601] "): a record of its own, never the rest of the line above
_BRACKETED_RECORD = re.compile(r"\[[VDIWEF](?:\d{3,4} [\d:.]+)? *(?:\d+ +)?[\w./-]+:\d+\] ")
# a library's note that an optional extension would not load and it goes on without it
# (lightning-thunder: "xentropy_cuda failed to import with exception ...so: undefined symbol")
_OPTIONAL_NOTE = re.compile(r"(?:^|[\s:\]])[\w.]+ failed to import with exception ")
_SHM_SEGMENT = re.compile(r"shared memory segment|/dev/shm")
# CUDA errors NCCL reports as "unhandled cuda error" ("Last error: Cuda failure '...'")
_CARRIED_BY_NCCL = (
    "cuda_oom",
    "illegal_memory_access",
    "gpu_hardware",
    "device_side_assert",
    "version_mismatch",
)
_NOT_A_CAUSE = {"ChildFailedError"}
# an exception that only wraps a collective library's failed call, its reason printed on the
# lines after it (torch_npu: "RuntimeError: ... OPS function error: HcclAllreduce, error code
# is 6", then HCCL's "EI0006: ... Remote Rank did not send the data in time")
_ENVELOPE = re.compile(r"function error: [Hh]ccl\w+")
# the shell's own "Killed" for a child SIGKILL ended: after a rank's exception, the launcher
# tearing down the job that exception ended (SGLang's kill_process_tree, a wrapper's cleanup),
# not the kernel's OOM killer
_SHELL_KILLED = re.compile(r"\s*(?:\[\d+\]\+?\s+)?Killed\s*(?:\S.*)?$")
_AFTER_A_CRASH = {"peer_crashed", "rank_terminated"}  # (a timeout is the story of a hang)
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
# a watchdog timeout: which collective (process group, sequence number, op) and which rank
_WORK = re.compile(
    r"WorkNCCL\(SeqNum=(?P<seq>\d+), OpType=(?P<op>\w+)"
    r"(?:, NumelIn=(?P<nin>\d+), NumelOut=(?P<nout>\d+))?"
)
_GROUP_RANK = re.compile(r"\[Rank (\d+)\]")
# NCCL's bootstrap retrying a connection; RETRIES_FAILED of them in one log is a failure sign
# (a refused connect is a peer not listening yet, normal at start; one that timed out is a
# packet nobody answered, a firewall or the wrong interface, and counts as that many at once)
_RETRY = re.compile(r"Call to connect returned ([\w ]+), retrying")
RETRIES_FAILED = 3
# c10d's store-based barrier at init (torch < 2.2) logs every 10 s while ranks are missing;
# BARRIER_WAITS_FAILED such lines from one rank, and no "Completed", is a rendezvous that
# never filled (a healthy start logs one or two, then completes)
_BARRIER_WAIT = re.compile(
    r"Waiting in store based barrier to initialize process group for rank: (?P<rank>\d+).*?"
    r"\(world_size=(?P<world>\d+), (?:worker_count|num_workers_joined)=(?P<joined>\d+)"
)
BARRIER_WAITS_FAILED = 3
_PG = re.compile(r"\[PG (?:ID )?(\d+)")
# the world size, where a log states it
_WORLD = re.compile(
    r"\b(?:WORLD_SIZE|world_size|dist_world_size)\b\W{1,3}(\d+)|\bnranks (\d+)\b"
    r"|\bMEMBER: \d+/(\d+)"  # Lightning's "initializing ddp: GLOBAL_RANK: 1, MEMBER: 2/4"
    r"|_world_sizes=\[(\d+)"  # torchrun's rendezvous result: "global_world_sizes=[8, 8, ...]"
    r"|store_based_barrier_key:\d+ with (\d+) nodes"  # c10d's store barrier completed
    r"|processes registered\. Starting with (\d+) processes"  # Lightning
    r"|\bNum processes: (\d+)"  # accelerate's state
)
# a launcher's command line: processes per node, times the nodes (one, unless it says more)
_NPROC = re.compile(r"nproc[_-]per[_-]node[= ](\d+)\b")
_NNODES = re.compile(r"nnodes[= ](\d+)\b(?!:)")
_WORLD_WORDS = (
    "nranks ", "orld_size", "WORLD_SIZE", "MEMBER: ", "store_based_barrier_key:",
    "processes registered", "Num processes", "nproc",
)  # fmt: skip
# collectives whose output is the input times the group size
_GATHERS = ("ALLGATHER", "_ALLGATHER_BASE", "ALLGATHER_COALESCED", "GATHER")
_AGENT_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+)")
_LOADING = re.compile(_STRUCTURAL["loading"])
# a log line that says the run resumes from a checkpoint: a resume OOM's own evidence
# the rank(s) a report names as the one(s) that did not join: torch's desync report
# ("[1] finished collective #2, but didn't join collective #3"), monitored_barrier
# ("Ranks 1, 3 failed to pass monitoredBarrier in 2000 ms")
_NAMED_RANKS = re.compile(
    r"(?:^|[\s:])\[(\d+)\] (?:finished|joined)\b|\bRanks? (\d+(?:, \d+)*) failed to pass"
)
# faulthandler's dump of every thread ('File "...", line 987 in unshard', no comma): where each
# thread was (a watchdog timeout's stuck all-gather), not a module that raised
_THREAD_FRAME = re.compile(r'\s*File "[^"]*", line \d+ in ')
# a worker died while the main process took a tensor from it through a shared-memory
# handle: the main process sees only its socket reset, in these frames
_HANDOVER_FRAME = re.compile(r"\bin (?:rebuild_storage_fd|rebuild_storage_filename)\b")
_RESUMING = re.compile(r"\b[Rr]esum(?:e|ing) (?:training )?from\b")
# the device an out-of-memory message names ("(GPU 2; 79.15 GiB total capacity", "NPU 2 has a
# total capacity"): a resume OOM piles every rank's copy onto device 0, so another is not one
_OOM_DEVICE = re.compile(r"\((?:GPU|NPU|XPU|HPU) (\d+);|\b(?:GPU|NPU|XPU|HPU) (\d+) has a total c")

_BY_ID = {str(entry["id"]): entry for entry in CATALOGUE}
_FAMILIES = tuple((_BY_ID[i], re.compile(words, re.IGNORECASE)) for i, words in FAMILY_WORDS)
# where a failure line goes on to guess ("There are some potential root causes. (1) ... OOM
# killer ..."): the words after it are no evidence of the family
_GUESSES = re.compile(
    r"(?:potential|possible|common|likely) (?:root )?causes?|causes? include|may be (?:caused|due)"
    r"|might be|could be",
    re.IGNORECASE,
)
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
    "esum",
    "Call to connect returned ",
    "store based barrier",
    "If your script expects `--local-rank`",
    "[--local_rank",
    "Completed store-based barrier",
    "failed to import with",  # (a library's optional extension: a note, see _OPTIONAL_NOTE)
    # a no-break space: a paste from a rendered page or a chat app may hold one for every
    # space, which no needle spelled with spaces finds (the line is read with spaces, _plain)
    "\xa0",
    *_WORLD_WORDS,  # the lines that state the world size: the scan must see them
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


def _by_needle(
    entries: Iterable[dict[str, object]],
) -> tuple[tuple[str, tuple[tuple[int, re.Pattern[str]], ...]], ...]:
    """Each needle with the (entry's place, regex) pairs it guards: a line is tested for each
    needle once, not once for every pattern that shares it (the hot path of the scan)."""
    table: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
    for place, entry in enumerate(entries):
        for needle, regex in _guard(entry["patterns"]):  # type: ignore[arg-type]
            table.setdefault(needle, []).append((place, regex))
    return tuple((needle, tuple(pairs)) for needle, pairs in table.items())


_ENTRY_NEEDLES = _by_needle(CATALOGUE)
_FRAMES = [
    (entry, _guard(entry["frames"]))  # type: ignore[arg-type]
    for entry in CATALOGUE
    if entry.get("frames")
]
_WEAK = [
    (entry, _guard(entry["weak_patterns"]))  # type: ignore[arg-type]
    for entry in CATALOGUE
    if entry.get("weak_patterns")
]
_SIGNALS = _guard(FAILURE_SIGNALS)

# Short anchors that stand for every needle containing them: grep -F's time grows with the
# number of needles, and these words are rare in a healthy log.
_COARSE = (
    "CUDA error", "Connection ", "timed out", "atchdog", "exit", "Signal ", "mismatch",
    "insufficient", "illegal", "DataLoader worker ", "unhandled ", "terminat", "ECC",
    "MPI_", "***", "Assertion", "collective #", "monitoredBarrier", "dump signal",
)  # fmt: skip


def _coarse(needle: str) -> str:
    return next((c for c in _COARSE if c in needle), needle)


def _quote_free(needle: str) -> str:
    """The needle's longest part without a quote: a line whose quotes a forum or an editor
    made typographic (read as straight ones later) must still be a candidate."""
    if '"' not in needle and "'" not in needle:
        return needle
    longest = max(re.split("[\"']", needle), key=len)
    return longest if len(longest) >= 3 else needle


NEEDLES: list[bytes] = [
    n.encode()
    for n in _minimal(
        _quote_free(_coarse(n))
        for n in [n for entry in CATALOGUE for p in entry["patterns"] for n in _needles_for(p)]  # type: ignore[union-attr]
        + [n for entry in CATALOGUE for p in entry.get("frames", ()) for n in _needles_for(p)]  # type: ignore[union-attr]
        + [
            n
            for entry in CATALOGUE
            for p in entry.get("weak_patterns", ())
            for n in _needles_for(p)
        ]  # type: ignore[union-attr]
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
    suspects: list[int] = field(default_factory=list)  # ranks that never reached the collective


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
    late: bool = False  # evidence of what followed a rank's exception (ranks after it)


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
        self._handover: set[int | None] = set()  # ranks in a shared-memory hand-over's frames
        self._ranks_with_cause: set[int | None] = set()
        self._seq = 0
        self._summary_rank: int | None = None
        self._in_root_block = False
        self._root_rank: int | None = None
        self._agent_rank: int | None = None
        self._launcher_word: Evidence | None = None  # the line that named the first failure
        self._failure: _Acc | None = None  # the first line that shows a failure
        self._traceback_at: dict[int | None, int] = {}  # line of each rank's last traceback
        self._optional: set[int | None] = set()  # ranks inside a logged optional import
        self._note_end = -1  # the last line of an optional extension's note
        self._smi: dict[int, set[int]] = {}  # nvidia-smi process table: pid -> GPUs
        self._smi_rows: list[Evidence] = []
        # watchdog timeouts: (process group, SeqNum, op) -> ranks that reported it, group size
        self._timeouts: dict[tuple[int | None, int, str], set[int]] = {}
        # what each rank timed out in, by (process group, SeqNum): (op, NumelIn) -> ranks
        self._timed_ops: dict[tuple[int | None, int], dict[tuple[str, int | None], set[int]]] = {}
        self._group_size: dict[tuple[int | None, int, str], int] = {}
        self._world: int | None = None  # the world size, when the log states it
        self._top_rank = -1  # the highest rank any line names
        self._retries = 0
        self._barrier_waits: dict[int, int] = {}  # rank -> store-barrier waits it logged
        self._barrier_stall: tuple[int, str, int, str] | None = None  # (rank, file, line, raw)
        self._barrier_done = False
        self._hyphen_launch = False  # torch >= 2.0's launch passes --local-rank (its warning)
        self._wrap: _Wrap | None = None  # how the log's long lines were broken, if they were
        self._quoted: _Acc | None = None  # a quoted exception message (see _quote)
        # rank -> the last line a stack under an info-level record may still reach
        self._quiet_until: dict[int | None, int] = {}
        self.files: list[str] = []
        self.lines = 0
        self.bytes = 0

    # ---- input -------------------------------------------------------------

    def feed_stream(self, stream: IO[bytes], name: str) -> None:
        """Scan a binary stream chunk by chunk (never holds more than ~2 chunks)."""
        self.files.append(name)
        self._summary_rank, self._in_root_block = None, False
        self._wrap = None
        if self._grep and _is_regular_file(stream):
            start = stream.tell()
            self._wrap = _wrap_of(stream.read(_WRAP_SNIFF_BYTES))
            stream.seek(start)
            too_big = os.fstat(stream.fileno()).st_size - start > WRAP_PYTHON_BYTES
            if (self._wrap is None or too_big) and self._feed_with_grep(stream, name):
                return
        line_no = 0
        rest = b""
        first = True
        ends = _Ends()
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                break
            ends.feed(chunk)
            if first:
                self._wrap = self._wrap or _wrap_of(chunk[:_WRAP_SNIFF_BYTES])
                first = False
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
        self._quote(ends, name, line_no)

    def _feed_with_grep(self, stream: IO[bytes], name: str) -> bool:
        """Let grep pick the candidate lines of a regular file; False if grep failed."""
        start = stream.tell()
        saved = copy.deepcopy(self.__dict__)  # to undo grep's lines if it fails half-way
        args = [self._grep or "grep", "-a", "-n", "-F", "-A", "1"]  # the next line: a wrap
        for needle in NEEDLES:
            args += ["-e", needle.decode()]
        proc = subprocess.Popen(
            args,
            stdin=stream,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
            preexec_fn=_limit_grep_memory,
        )
        assert proc.stdout is not None
        pending: tuple[int, str] | None = None  # a candidate line waiting for its next line
        with proc.stdout as out:
            while raw := out.readline(CHUNK_BYTES):
                if not raw.endswith(b"\n"):  # a huge line: keep its head, skip the rest
                    tail = raw
                    while tail and not tail.endswith(b"\n"):
                        tail = out.readline(CHUNK_BYTES)
                if raw == b"--\n":  # grep's separator between groups of lines
                    continue
                m = _GREP_LINE.match(raw)
                if m is None:
                    continue
                number, kind = int(m.group(1)), m.group(2)
                text = raw[m.end() :].rstrip(b"\n")[: MAX_LINE_CHARS * 4]
                line = text.decode("utf-8", "replace").rstrip("\r")
                if pending is not None:
                    following = line if number == pending[0] + 1 else None
                    self._line(pending[1], name, pending[0], following)
                    pending = None
                if kind == b":":  # a candidate ("-" is a context line: only a following one)
                    pending = (number, line)
            if pending is not None:
                self._line(pending[1], name, pending[0], None)
        if proc.wait() not in (0, 1):  # e.g. "memory exhausted" on a huge line
            self.__dict__.update(saved)
            stream.seek(start)
            return False
        stream.seek(start)
        lines = size = 0
        last = b"\n"
        ends = _Ends()
        while chunk := stream.read(CHUNK_BYTES):
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
            ends.feed(chunk)
        self.lines += lines + (last != b"\n")
        self.bytes += size
        self._quote(ends, name, lines + (last != b"\n"))
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
        if self._wrap:
            starts.update(_cut_needle_starts(data, self._wrap))
        counted_to = 0
        for start in sorted(starts):
            line_no += data.count(b"\n", counted_to, start)
            counted_to = start
            end = data.find(b"\n", start)
            raw = data[start:end].decode("utf-8", "replace").rstrip("\r")
            after = data.find(b"\n", end + 1)
            following = (
                data[end + 1 : after][: MAX_LINE_CHARS * 4].decode("utf-8", "replace").rstrip("\r")
                if after > end
                else None
            )
            self._line(raw, name, line_no + 1, following)
        return line_no + data.count(b"\n", counted_to)

    def _quote(self, ends: _Ends, name: str, total: int) -> None:
        """Remember the first line of a file's start or end that quotes an exception's message
        without its class, while the log shows no failure otherwise (see mltools.ddp.messages)."""
        if self._quoted is not None or self._failure is not None or self._generic:
            return
        if any(not acc.entry.get("advisory") for acc in self._acc.values()):
            return
        for line_no, raw in ends.lines(total):
            line = _visible(_plain(raw).rsplit("\r", 1)[-1])  # (a progress bar's last state)
            rank, body = _split_prefix(line)
            if (found := quoted_message(body, line)) is not None:
                entry = {
                    **QUOTED_EXCEPTION,
                    "cause": str(QUOTED_EXCEPTION["cause"]).format(library=found[0]),
                }
                self._quoted = self._new_acc(entry, rank, name, line_no)
                self._push(self._quoted, rank, name, line_no, raw)
                return

    # ---- one candidate line ------------------------------------------------

    def _line(self, raw: str, name: str, line_no: int, following: str | None = None) -> None:
        # (a terminal broke the line as it was written, colour codes and entities included)
        broke = bool(following and self._wrap and self._wrap.broke(raw, following))
        raw, following = _plain(raw), following and _plain(following)
        if "\r" in raw:  # progress bars: each carriage-return segment is a line of its own
            segments = [segment for segment in raw.split("\r") if segment.strip()]
        else:
            segments = _unjoined(raw)
        for i, segment in enumerate(segments):
            last = i == len(segments) - 1
            self._one_line(segment, name, line_no, following if last else None, broke)

    def _one_line(
        self, raw: str, name: str, line_no: int, following: str | None = None, broke: bool = False
    ) -> None:
        if (
            following
            and broke
            and self._wrap
            and len(following) < len(raw)  # the message ends on the next line
            and (joined := _continued(raw, raw, following))
        ):
            # wrapped here: read it whole (a re-flow dropped a space, a terminal none)
            raw, following = joined[-1 if self._wrap.soft else 0], None
        line = _visible(raw)
        rank, body = _split_prefix(line)
        if any(word in body for word in _ANCHOR_WORDS):
            body = _cut_unknown_prefix(body)
        if (
            rank is None
            and self._summary_rank is not None
            and re.match(_STRUCTURAL["summary_field"], body)
        ):
            rank = self._summary_rank
        if self._structure(body, rank) and self._launcher_word is None:
            self._launcher_word = Evidence(name, line_no, rank, raw[:MAX_LINE_CHARS])
        if rank is not None and self._top_rank < rank < 1 << 20:
            self._top_rank = rank  # the world has at least this many ranks
        if any(word in body for word in _WORLD_WORDS):
            self._world_size(body)
        went_on = bool(following) and _went_on(line[: len(line) - len(body) + 80], following)
        if (
            self._failure is None
            and ("ERROR:" in line or "CRITICAL:" in line)
            and _LOG_ERROR.search(line[: len(line) - len(body) + 12])
            and not went_on
        ):
            self._failure = self._new_acc(GENERIC_FAILURE, rank, name, line_no)
            self._push(self._failure, rank, name, line_no, raw)
        record = _GLOG_RECORD.search(line)
        quiet = record is not None and record["level"] in "VDI"
        if quiet and body.lstrip().startswith(_STACK_WORDS):
            return  # a stack a logger printed at verbose, debug or info level: no failure
        # a C++ stack printed on the lines after an info-level record is that record's (torch
        # at exit: "main process destroyed cuda before watchdog loop exited ... Watchdog
        # caught exception: ..."), no failure; an exception or error record between ends it
        if body.lstrip().startswith(("frame #", "Exception raised from")) and (
            line_no <= self._quiet_until.get(rank, -1)
        ):
            self._quiet_until[rank] = line_no + QUIET_STACK_GAP
            return
        if quiet:
            self._quiet_until[rank] = line_no + QUIET_STACK_GAP
        elif rank in self._quiet_until and (
            "what():" in body or record is not None or _EXCEPTION.search(body)
        ):
            del self._quiet_until[rank]
        if (
            rank in self._optional or ("File" in body and _OPTIONAL_IMPORT.search(body))
        ) and self._optional_import(body, rank):
            return  # a logged optional import's traceback
        if "failed to import with" in body and _OPTIONAL_NOTE.search(body):
            self._note_end = line_no
            return  # a library's note that an optional extension is missing; it goes on
        if self._note_end == line_no - 1 and not _starts_a_line(body):
            self._note_end = line_no
            return  # the rest of that note, which a terminal wrapped
        # the line, then the line joined with the next one where a terminal may have wrapped it
        texts = (body, *(_continued(raw, body, following) if following else ()))
        if self._wrap is not None and not self._wrap.soft:
            texts = texts[:2]  # a terminal's hard wrap loses no space: the join as it is
        if following and body.endswith(":") and _CHECK_HEAD.search(body):
            texts += (body + " " + _split_prefix(following)[1],)  # the message it prints next
        if "store" in body and "barrier" in body:
            self._barrier(body, rank, name, line_no, raw)
        if "--local" in body:  # the launcher's --local-rank=N, the script's --local_rank only
            if "If your script expects `--local-rank`" in body:
                self._hyphen_launch = True
            elif self._hyphen_launch and "[--local_rank" in body and "--local-rank" not in body:
                self._add(_BY_ID["local_rank_arg"], rank, name, line_no, raw, weak=True)
        # INFO lines: "-> N" return-code chains, connect retries (a WARN record joined on the
        # same line, newlines lost in a paste, is read as the WARN it is)
        if " NCCL INFO " in body and " NCCL WARN " not in body:
            if not any(
                self._chain(text, rank, name, line_no, raw)
                or self._weak(text, rank, name, line_no, raw)
                for text in texts
            ) and (retry := next(filter(None, map(_RETRY.search, texts)), None)):
                before = self._retries  # a few retries are normal; a run of them is not
                self._retries += RETRIES_FAILED if retry[1] == "Connection timed out" else 1
                if before < RETRIES_FAILED <= self._retries:
                    self._add(_BY_ID["nccl_system_error"], rank, name, line_no, raw, weak=True)
            return
        if self._failure is None and not went_on and any(_hits(_SIGNALS, text) for text in texts):
            self._failure = self._new_acc(GENERIC_FAILURE, rank, name, line_no)
            self._push(self._failure, rank, name, line_no, raw)
        if body.lstrip().startswith("Traceback (most recent call last)"):
            self._traceback_at[rank] = line_no
            self._loading[rank] = False
            self._frame.pop(rank, None)
            self._handover.discard(rank)
            return
        if body.lstrip().startswith('File "'):  # a traceback frame: remember the innermost
            self._frame[rank] = (line_no, raw[:MAX_LINE_CHARS])
            if _HANDOVER_FRAME.search(body):
                self._handover.add(rank)
            if any(_LOADING.search(text) for text in texts):
                self._loading[rank] = True
            if not _THREAD_FRAME.match(body):  # (a thread dump's frames say where, not why)
                self._frame_hit(texts, rank, name, line_no, raw)  # the module that raised tells
            return
        if body.lstrip().startswith("File ") and _IPY_FRAME.match(body):  # IPython's frames
            self._frame[rank] = (line_no, raw[:MAX_LINE_CHARS])
            self._frame_hit((body,), rank, name, line_no, raw)
            return
        if body.lstrip().startswith("frame #"):  # a C++ backtrace frame (c10d, NCCL)
            self._frame_hit(texts, rank, name, line_no, raw)
            return
        if "|" in line and (m := _SMI_ROW.search(line)):  # (its "|" may read as a wrapper)
            self._smi.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
            if len(self._smi_rows) < MAX_EVIDENCE:
                self._smi_rows.append(Evidence(name, line_no, rank, raw[:MAX_LINE_CHARS]))
            return
        if (rank in self._frame and _LOADING.search(body)) or _RESUMING.search(body):
            self._loading[rank] = True  # the code line under a frame, or a "resuming" line
        matched = False
        hit, hit_text = _catalogue_hit(body), body
        if hit is None and len(texts) > 1:  # wrapped by a terminal
            hit, hit_text = next(
                ((h, t) for t in texts[1:] if (h := _catalogue_hit(t))), (None, body)
            )
        if hit is not None:
            if hit["id"] == "cuda_oom" and self._loading.get(rank) and _on_device_zero(hit_text):
                hit = _BY_ID["oom_on_resume"]
            if hit["id"] == "nccl_timeout":
                self._timeout(body, rank)
            late = hit["id"] == "killed_by_signal" and self._generic and _SHELL_KILLED.match(body)
            self._add(hit, rank, name, line_no, raw, weak=bool(hit.get("weak") or late))
            if late and (acc := self._acc[str(hit["id"])]).weak:
                acc.late = True
            matched = True
        if rank in self._handover and body.lstrip().startswith("ConnectionResetError"):
            self._handover.discard(rank)
            self._add(_BY_ID["dataloader_killed"], rank, name, line_no, raw, weak=True)
            matched = True
        if not matched:
            matched = self._chain(body, rank, name, line_no, raw)
        if not matched:
            matched = any(self._weak(text, rank, name, line_no, raw) for text in texts)
        if not matched:
            exc = _EXCEPTION.search(body) if "Error" in body or "Exception" in body else None
            if exc and (
                (exc["name"] or exc["repr"]) in _NOT_A_CAUSE
                or body.lstrip().startswith(_CODE_KEYWORDS)
            ):
                exc = None
            wrapped = ("what():" in body or "watchdog thread" in body) and _WRAPPED.search(body)
            if (exc or wrapped) and rank not in self._generic:
                acc = self._generic[rank] = self._new_acc(GENERIC_EXCEPTION, rank, name, line_no)
                self._push(acc, rank, name, line_no, raw)
                if rank in self._frame:  # where it was raised
                    frame_line, frame = self._frame[rank]
                    acc.evidence.append(Evidence(name, frame_line, rank, frame))

    def _optional_import(self, body: str, rank: int | None) -> bool:
        """A library that logs, with its traceback, an optional import it went on without
        (xformers' 'A matching Triton is not available'): that traceback is no failure.
        True for its lines (its frames and its exception)."""
        stripped = body.lstrip()
        if rank not in self._optional:
            if not stripped.startswith('File "'):
                return False
            self._optional.add(rank)
            failure = self._failure
            if failure is not None and failure.line == self._traceback_at.get(rank):
                self._failure = None  # the traceback's head was read as a failure
            return True
        if stripped.startswith(('File "', "Traceback (")):
            return True
        if ("Error" in body or "Exception" in body) and _EXCEPTION.search(body):
            self._optional.discard(rank)  # its end: what it could not import
            return True
        if not stripped or stripped.startswith("^") or body.startswith((" ", "\t")):
            return True  # its code lines
        self._optional.discard(rank)
        return False

    def _frame_hit(
        self, texts: tuple[str, ...], rank: int | None, name: str, line_no: int, raw: str
    ) -> None:
        """A frame of a module that tells the cause (weak evidence); ``texts`` is the line,
        then the line joined with the next one, for a long path a terminal wrapped."""
        for entry, guards in _FRAMES:
            if any(_hits(guards, text) for text in texts):
                self._add(entry, rank, name, line_no, raw, weak=True)
                return

    def _chain(self, body: str, rank: int | None, name: str, line_no: int, raw: str) -> bool:
        """NCCL's "-> 2" return-code chains (and "retcode 2"): weak evidence of the cause."""
        if not (" -> " in body or "retcode" in body) or not (m := _CHAIN.search(body)):
            return False
        if m.group(1) == "3" and _BENIGN_CHAIN.search(body):
            return False  # an IB probe or a socket closing at shutdown (no failure by itself)
        if self._failure is None and int(m.group(1) or m.group(2)):
            self._failure = self._new_acc(GENERIC_FAILURE, rank, name, line_no)
            self._push(self._failure, rank, name, line_no, raw)
        entry_id = _CHAIN_IDS.get(int(m.group(1) or m.group(2)))
        if entry_id is None:
            return False
        self._add(_BY_ID[entry_id], rank, name, line_no, raw, weak=True)
        return True

    def _weak(self, body: str, rank: int | None, name: str, line_no: int, raw: str) -> bool:
        """Lines that point at a cause but are also what a victim prints: weak evidence."""
        for entry, guards in _WEAK:
            if _hits(guards, body):
                if self._failure is None:
                    self._failure = self._new_acc(GENERIC_FAILURE, rank, name, line_no)
                    self._push(self._failure, rank, name, line_no, raw)
                named = _NAMED_RANKS.search(raw)  # (a "[1] " start reads as a wrapper)
                for subject in _named_ranks(named) if named else [rank]:
                    self._add(entry, subject, name, line_no, raw, weak=True)
                return True
        return False

    def _timeout(self, body: str, rank: int | None) -> None:
        """Remember which rank timed out in which collective (for the rank that never did)."""
        if not (work := _WORK.search(body)):
            return
        group = _GROUP_RANK.search(body)
        who = int(group.group(1)) if group else rank
        if who is None:
            return
        pg = _PG.search(body)
        key = (int(pg.group(1)) if pg else None, int(work.group("seq")), work.group("op"))
        self._timeouts.setdefault(key, set()).add(who)
        op = (work.group("op"), int(work.group("nin")) if work.group("nin") else None)
        self._timed_ops.setdefault(key[:2], {}).setdefault(op, set()).add(who)
        nin, nout = work.group("nin"), work.group("nout")
        if nin and nout and int(nin) > 0 and work.group("op") in _GATHERS:
            self._group_size[key] = int(nout) // int(nin)

    def _world_size(self, body: str) -> None:
        sizes = [int(next(filter(None, m.groups()))) for m in _WORLD.finditer(body)]
        if nproc := _NPROC.search(body):
            nodes = _NNODES.search(body)
            sizes.append(int(nproc.group(1)) * (int(nodes.group(1)) if nodes else 1))
        for size in sizes:
            if 1 < size <= 1 << 20:
                self._world = max(self._world or 0, size)

    def _suspects(self) -> tuple[list[int], list[int], str]:
        """The rank(s) missing from a collective the others timed out in: (suspects,
        ranks that timed out, the collective). With the group size known (the log states
        the world size, an all-gather's sizes give it), fewer ranks must be missing than
        reported (of two ranks, the other one): a paste of two ranks' lines out of sixteen
        names nobody. Without it, the ranks the log shows bound the world from below, and one
        gap among three or more ranks that timed out (ranks 0-2 and 4-7 did, rank 5 printed
        something else) is the only one a paste can name."""
        best: tuple[list[int], list[int], str] = ([], [], "")
        for key, ranks in self._timeouts.items():
            pg, seq, op = key
            size = self._group_size.get(key)
            if size is None and pg in (None, 0):
                size = self._world
            if size is not None:
                missing = sorted(set(range(size)) - ranks)
                # (in a job of two ranks, the one that timed out waited for the other: that one
                # is named even when the paste holds only the first one's lines)
                pair = size == 2 and pg in (None, 0)
                named = max(ranks) < size and 0 < len(missing) < (2 if pair else len(ranks))
            else:
                missing = sorted(set(range(max(self._top_rank, *ranks) + 1)) - ranks)
                named = pg in (None, 0) and len(missing) == 1 and len(ranks) >= 3
            if named and len(ranks) > len(best[1]):
                best = (missing, sorted(ranks), f"{op} SeqNum={seq}")
        return best

    def _out_of_step(self) -> str:
        """Ranks that timed out at the same SeqNum of one process group in different
        collectives (another op, or the same op on another element count): they had left the
        same code path before the hang, so the sentence that says so."""
        for (_pg, seq), ops in self._timed_ops.items():
            # (a paste cut inside the op's name gives a prefix of it: not another op)
            names = {name for name, _ in ops}
            if len(ops) < 2 or any(a != b and b.startswith(a) for a in names for b in names):
                continue
            parts = [
                f"rank{'s' if len(ranks) > 1 else ''} {_ranks(sorted(ranks))} in {name}"
                + (f" of {numel} elements" if numel is not None else "")
                for (name, numel), ranks in sorted(ops.items(), key=lambda kv: min(kv[1]))
            ]
            return (
                f"At SeqNum={seq} the ranks were not in the same collective ("
                + "; ".join(parts)
                + "): they left the same code path (a rank-dependent branch, uneven data, "
                "parameters gathered in a different order) before the hang. "
            )
        return ""

    def _structure(self, body: str, rank: int | None) -> bool:
        """Follow the elastic agent's summary; True on the line that names the first failure."""
        if "Root Cause (first observed failure)" in body:
            self._in_root_block = True
        elif body.startswith("Failures:"):
            self._in_root_block = False
        elif m := _SUMMARY_RANK.match(body):
            self._summary_rank = int(m.group(1))
            if self._in_root_block and self._root_rank is None:
                self._root_rank = self._summary_rank
                return True
        elif (m := _AGENT_FAILED.search(body)) and self._agent_rank is None:
            self._agent_rank = int(m.group(2))
            return True
        return False

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
            acc.weak = acc.late = False
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

    def report(self, exit_code: int | None = None) -> LogReport:
        """Findings ordered root cause first, victims attached to it.

        ``exit_code`` is the command's exit status as a shell reports it (``ddp-doctor run``
        knows it): 137 (128+SIGKILL) or 139 (SIGSEGV) is evidence of its own, and any other
        non-zero status makes sure a failed command never reads as clean.
        """
        first_failed = self._root_rank if self._root_rank is not None else self._agent_rank
        self._smi_evidence()
        if self._barrier_stall is not None and not self._barrier_done:
            self._add(_BY_ID["rendezvous_timeout"], *self._barrier_stall, weak=True)
            self._barrier_stall = None
        if exit_code:
            self._exit_evidence(exit_code)
        accs = list(self._acc.values())
        told_ranks = {r for a in accs for r in (a.rank, *a.ranks)}
        accs += [
            a
            for r, a in self._generic.items()
            if r not in self._ranks_with_cause
            and not (r in told_ranks and _ENVELOPE.search(a.evidence[0].text))
        ]
        told = [a for a in accs if not a.entry.get("advisory")]  # (a warning says no failure)
        # never "clean" on a failed job, and never only a warning: the failure line says more
        if self._failure is not None and (not told or _before_its_victims(self._failure, told)):
            accs.append(self._failure)
        elif self._quoted is not None and not told:  # a message quoted alone: the last word
            accs.append(self._quoted)
        elif (
            first_failed is not None
            and self._launcher_word is not None
            and all(a.entry["id"] in _AFTER_A_CRASH for a in told)
            and not any(first_failed in a.ranks for a in told)
        ):  # only crash symptoms, and the launcher names the rank that failed first, silent
            word = self._launcher_word
            acc = self._new_acc(GENERIC_FAILURE, first_failed, word.file, word.line)
            acc.ranks, acc.evidence, acc.count = [first_failed], [word], 1
            accs.append(acc)

        # NCCL's "unhandled cuda error" is the envelope of a CUDA error: the CUDA error it
        # carries ("Last error: Cuda failure 'out of memory'") is the cause when it is known
        carried = {i for i in _CARRIED_BY_NCCL if i in self._acc and not self._acc[i].weak}
        # NCCL's shared-memory transport registers its /dev/shm segment with CUDA: a segment
        # it could not create surfaces first as a "Cuda failure", and the segment is the cause
        system = self._acc.get("nccl_system_error")
        if system is not None and any(_SHM_SEGMENT.search(e.text) for e in system.evidence):
            carried.add("nccl_system_error")

        def key(acc: _Acc) -> tuple[int, int, int]:
            if acc.entry["role"] == "symptom":  # timeouts happen before closed sockets and SIGTERM
                return (5, _ORDER[str(acc.entry["id"])], acc.seq)
            if acc.entry.get("advisory"):  # a warning: after whatever failed
                return (6, 0, acc.seq)
            if acc.late:
                return (4, 0, acc.seq)
            if acc.entry is GENERIC_EXCEPTION:
                tier = 2
            elif acc.entry is GENERIC_FAILURE:
                tier = 3
            else:
                tier = (
                    1 if acc.weak or (acc.entry["id"] == "nccl_unhandled_cuda" and carried) else 0
                )
            on_first = 0 if first_failed is not None and first_failed in acc.ranks else 1
            return (tier, on_first, acc.seq)

        accs.sort(key=key)
        findings = [_finding(acc) for acc in accs]
        suspects, waited, collective = self._suspects()
        out_of_step = self._out_of_step()
        for f in findings:
            if f.id == "nccl_timeout" and out_of_step:
                f.cause = out_of_step + f.cause
            if f.id == "nccl_timeout" and suspects:
                f.suspects = suspects
                f.cause = (
                    f"Ranks {_ranks(waited)} timed out in {collective}; "
                    f"rank {_ranks(suspects)} never reported it: "
                    f"{'it is' if len(suspects) == 1 else 'they are'} the suspect "
                    "(stuck, crashed or in another collective). " + f.cause
                )
        if findings:
            root = findings[0]
            root.root_cause = True
            generic = root.id in (GENERIC_FAILURE["id"], GENERIC_EXCEPTION["id"])
            if generic and root.rank is None and first_failed is not None:
                root.rank, root.ranks = first_failed, [first_failed]  # the launcher's word
            if generic:
                _by_its_words(root)
            if root.id == "nccl_timeout" and root.suspects:  # the silent rank comes first
                root.rank = root.suspects[0]
                root.victims = waited
                return LogReport(findings, self.files, self.lines, self.bytes, first_failed)
            culprits = {
                r
                for f in findings
                if f.role == "cause" and not _BY_ID.get(f.id, {}).get("advisory")
                for r in f.ranks
            }
            seen = {r for f in findings for r in f.ranks}
            if root.rank is not None:
                root.victims = sorted(seen - culprits - {root.rank})
        return LogReport(findings, self.files, self.lines, self.bytes, first_failed)

    def _exit_evidence(self, exit_code: int) -> None:
        """The command's exit status as evidence: SIGKILL and SIGSEGV name a cause."""
        name = self.files[-1] if self.files else "<command>"
        signum = exit_code - 128 if exit_code > 128 else None
        entry_id = {9: "killed_by_signal", 11: "segfault"}.get(signum or 0)
        if signum is not None:
            import signal as _signal

            try:
                how = f"killed by {_signal.Signals(signum).name}"
            except ValueError:
                how = f"killed by signal {signum}"
            text = f"the command exited with status {exit_code} (128+{signum}: {how})"
        else:
            text = f"the command exited with status {exit_code}"
        if entry_id is not None and entry_id not in self._acc:
            acc = self._acc[entry_id] = self._new_acc(_BY_ID[entry_id], None, name, 0)
            acc.weak = True
            self._push(acc, None, name, 0, text)
        elif self._failure is None:
            self._failure = self._new_acc(GENERIC_FAILURE, None, name, 0)
            self._push(self._failure, None, name, 0, text)

    def _barrier(self, body: str, rank: int | None, name: str, line_no: int, raw: str) -> None:
        """c10d's store-based barrier: a rank still waiting after several of its 10 s
        reports, and no report that the barrier completed, is a rendezvous that never filled;
        one report that more workers joined than the world holds is one that never can (another
        job's ranks, or a second launch, use the same store)."""
        if "Completed store-based barrier" in body:
            self._barrier_done = True
        elif (m := _BARRIER_WAIT.search(body)) and int(m["joined"]) != int(m["world"]):
            waiter = int(m["rank"])
            self._barrier_waits[waiter] = waits = self._barrier_waits.get(waiter, 0) + 1
            over = int(m["joined"]) > int(m["world"])
            if (over or waits == BARRIER_WAITS_FAILED) and self._barrier_stall is None:
                self._barrier_stall = (waiter if rank is None else rank, name, line_no, raw)

    def _smi_evidence(self) -> None:
        """An nvidia-smi table with several ranks' pids on GPU 0 (each also on its own GPU):
        evidence for an out-of-memory the log shows, never a finding by itself (a table is
        what people paste with a question, too). It names the OOM a resume OOM only when
        the log also shows a checkpoint being loaded; otherwise it stays ``cuda_oom``."""
        on_zero = [pid for pid, gpus in self._smi.items() if 0 in gpus]
        if len(on_zero) < 2 or not any(self._smi[pid] - {0} for pid in on_zero):
            return
        acc = self._acc.get("oom_on_resume") or self._acc.get("cuda_oom")
        if acc is None:
            return
        if acc.entry["id"] == "cuda_oom" and any(self._loading.values()):
            acc = self._acc["oom_on_resume"] = self._acc.pop("cuda_oom")
            acc.entry = _BY_ID["oom_on_resume"]
        acc.evidence = (acc.evidence + self._smi_rows)[:MAX_EVIDENCE]


def _on_device_zero(oom: str) -> bool:
    """Whether an out-of-memory line may be a resume OOM: it names device 0, or no device."""
    m = _OOM_DEVICE.search(oom)
    return m is None or (m.group(1) or m.group(2)) == "0"


def _named_ranks(m: re.Match[str]) -> list[int | None]:
    """The ranks a desync or monitored-barrier report names (the subject, not the printer)."""
    return [int(r) for r in (m.group(1) or m.group(2)).split(", ")]


def _before_its_victims(failure: _Acc, told: list[_Acc]) -> bool:
    """Whether a failure line the catalogue has no id for came before the only findings, a
    victim's lost peer or its stop by the launcher: the failure chain starts there (glibc's
    loader aborting a server, then its clients' "Connection reset by peer"). Not a frame or a
    traceback's head (the victim's own exception on its way) nor the launcher closing the
    other ranks, and only where the line shows the failure by itself."""
    text = failure.evidence[0].text if failure.evidence else ""
    return (
        all(
            a.entry["id"] in _AFTER_A_CRASH and a.file == failure.file and a.line > failure.line
            for a in told
        )
        and not any(word in text for word in (*_STACK_WORDS, "Exception raised from", "closing"))
        and _hits(_SIGNALS, text)  # (the line itself, not its join with the next one)
    )


def _ranks(ranks: list[int]) -> str:
    return ", ".join(map(str, ranks))


class _Ends:
    """A stream's first and last bytes: where a quoted exception message stands."""

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < QUOTE_HEAD_BYTES:
            self.head += chunk[: QUOTE_HEAD_BYTES - len(self.head)]
        if len(chunk) >= QUOTE_TAIL_BYTES:
            self.tail = chunk[-QUOTE_TAIL_BYTES:]
        else:
            self.tail = (self.tail + chunk)[-QUOTE_TAIL_BYTES:]
        self.size += len(chunk)

    def lines(self, total: int) -> Iterator[tuple[int, str]]:
        """(line number, text) of the whole lines in the head, then in the tail, of a stream
        of ``total`` lines."""
        whole = self.size == len(self.head)
        head = self.head.split(b"\n")
        if not whole or self.head.endswith(b"\n"):
            head.pop()  # cut at the window's end, or the empty rest after the last newline
        for i, raw in enumerate(head, 1):
            yield i, _text(raw)
        if whole:
            return
        tail = self.tail.split(b"\n")
        if self.tail.endswith(b"\n"):
            tail.pop()
        for i, raw in enumerate(tail[1:] if len(self.tail) < self.size else tail):
            yield total - (len(tail) - 1) + i + (len(self.tail) < self.size), _text(raw)


def _text(raw: bytes) -> str:
    return raw[: MAX_LINE_CHARS * 4].decode("utf-8", "replace").rstrip("\r")


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


def _by_its_words(finding: Finding) -> None:
    """A generic root cause whose failure line says, in words no pattern knows, which family
    of failure it is (``FAMILY_WORDS``) becomes that family's finding, saying so."""
    text = _visible(finding.evidence[0].text)  # the exception, or the failure line
    text = text[: m.start()] if (m := _GUESSES.search(text)) else text
    for entry, words in _FAMILIES:
        if m := words.search(text):
            finding.id, finding.title = str(entry["id"]), str(entry["title"])
            finding.cause = (
                f"No known message, but the failure line's words ({m[0]!r}) are this "
                f"family's. {entry['cause']}"
            )
            finding.fix, finding.reference = str(entry["fix"]), str(entry["reference"])
            return


GREP_MEMORY_BYTES = 128 << 20  # grep holds a whole line: past this, the Python scan takes over


def _limit_grep_memory() -> None:
    """In the grep child: cap its address space, so a 300 MB line without a newline
    makes grep fail ("memory exhausted") instead of growing to 600 MB."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (GREP_MEMORY_BYTES, GREP_MEMORY_BYTES))


def _is_regular_file(stream: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode) and stream.seekable()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return False


def _plain(raw: str) -> str:
    """The line as text: HTML entities and typographic quotes undone, colour codes gone."""
    raw = _unhtml(raw)
    return _ANSI.sub("", raw) if "\x1b" in raw else raw


def _visible(line: str) -> str:
    """What a reader sees of the line: colour codes that lost their escape character, markdown
    links and a progress bar printed before it (without a newline) taken away."""
    if "m" in line and "[" in line:
        line = _BARE_SGR.sub("", line)
    if "](" in line:
        line = _MD_LINK.sub(r"\1", line)
    if "|" in line and "]" in line and (bar := _BAR.match(line)) and line[bar.end() :].strip():
        line = line[bar.end() :]  # what was printed right after a progress bar
    return line


def _unhtml(line: str) -> str:
    """The text an HTML rendering stands for: entities decoded, no-break spaces as spaces,
    typographic quotes a forum or an editor put in as the straight ones printed."""
    if "&" in line and _ENTITY.search(line):
        line = html.unescape(line)
    if line.isascii():
        return line
    return line.replace("\xa0", " ").translate(_QUOTES)


def _went_on(head: str, following: str) -> bool:
    """A logger's error record (in ``head``, the line's start) whose next line is the same
    logger's info record: the program logged the error and went on, so it is no failure."""
    if ("ERROR:" not in head and "CRITICAL:" not in head) or "INFO:" not in following[:200]:
        return False
    logged, next_record = _LOG_ERROR.search(head), _LOG_INFO.search(following[:200])
    return bool(logged and next_record and logged["logger"] == next_record["logger"])


def _split_prefix(line: str) -> tuple[int | None, str]:
    """Return (rank, line without its launcher prefix and other tools' wrappers)."""
    mpi_rank = None
    if w := _WRAPPER.match(line):
        for group in ("mpi", "ray"):
            if w.group(group) is not None:
                mpi_rank = int(w.group(group))
        line = line[w.end() :]
    m = _PREFIX.match(line)
    if not m:
        if mpi_rank is None and "[rank" in line and (g := _GLUED.search(line)):
            return int(g.group(1)), line[g.end() :]  # glued to a progress bar: "...s/it][rank5]:"
        return mpi_rank, line
    if m.group("nccl") is not None:  # [N] is the device; mpirun's tag names the rank
        return (mpi_rank if mpi_rank is not None else int(m.group("nccl"))), line
    rank = int(m.group("torchrun") or m.group("slurm"))
    body = line[m.end() :]
    # nested launchers stack their prefixes ("[default0]:[rank4]:", "[rank0]:[rank0]:"):
    # the innermost one is the process's own rank
    while (inner := _PREFIX.match(body)) and inner.group("torchrun") is not None:
        rank, body = int(inner.group("torchrun")), body[inner.end() :]
    return rank, body


def _catalogue_hit(body: str) -> dict[str, object] | None:
    """The first cause (in the catalogue's order) whose pattern matches the line; a symptom
    only if no cause does."""
    matched: set[int] = set()
    for needle, pairs in _ENTRY_NEEDLES:
        if needle in body:
            for place, regex in pairs:
                if place not in matched and regex.search(body):
                    matched.add(place)
    if not matched:
        return None
    entries = [CATALOGUE[place] for place in sorted(matched)]
    return next((entry for entry in entries if entry["role"] == "cause"), entries[0])


@dataclass(frozen=True)
class _Wrap:
    """How a log's long lines were broken: by a terminal at its width (hard: every broken
    line has exactly that width) or re-flowed at the last space that fits it (soft: the next
    line's first word would not have fit)."""

    width: int
    soft: bool = False

    def broke(self, line: str, following: str) -> bool:
        """Whether ``line`` goes on in ``following`` (the break is this wrap's)."""
        if not self.soft:
            return len(line) == self.width
        return _soft_break(line, following, self.width)

    def break_lines(self, data: bytes) -> Iterator[re.Match[bytes]]:
        """The lines of ``data`` that go on in the next line."""
        if not self.soft:
            yield from re.finditer(rb"(?m)^[^\r\n]{%d}\r?$" % self.width, data)
            return
        low = max(self.width - _SOFT_WORD_MAX, 1)
        for m in re.finditer(rb"(?m)^[^\r\n]{%d,%d}\r?$" % (low, self.width), data):
            end = data.find(b"\n", m.end() + 1)
            following = data[m.end() + 1 : end if end >= 0 else None][: self.width]
            if _soft_break(
                m.group().decode("utf-8", "replace").rstrip("\r"),
                following.decode("utf-8", "replace").rstrip("\r"),
                self.width,
            ):
                yield m


def _soft_break(line: str, following: str, width: int) -> bool:
    """A break at the last space that fits ``width``: the next line, no line of its own and
    not indented, opens with a word that would not have fit after this one."""
    if not following or len(line) > width:
        return False
    if (rest := _rest_of(line, following)) is None or not rest or rest[0].isspace():
        return False
    word = rest.find(" ")
    word = len(rest) if word < 0 else word
    return word <= _SOFT_WORD_MAX and len(line.rstrip()) + 1 + word > width


def _wrap_of(sample: bytes) -> _Wrap | None:
    """How a log was wrapped, from its first bytes. Hard: the length of its longest lines,
    when at least two of them go on in a line with no prefix of its own (a log whose longest
    lines merely tie is not wrapped) and it is a plausible terminal width. Soft: at least two
    lines break where the next word would not fit the longest line's width, over three times
    as many of them shorter than that width as have it, past the first (a re-flow's lines end
    where words do; a terminal's all have its width, and a log's own short lines followed by
    a long first word would read as breaks too)."""
    raw = [line.rstrip(b"\r") for line in sample.split(b"\n")[:-1]]
    if not raw or max(map(len, raw)) < _WRAP_WIDTH_MIN:
        return None
    lines = sample.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")[:-1]
    width = max(map(len, lines))
    low = width - _SOFT_WORD_MAX  # (a shorter line had room for any next word)
    ends = [(line, after) for line, after in pairwise(lines) if len(line) >= low]
    full = sum(
        1 for line, after in ends if len(line) == width and _rest_of(line, after) is not None
    )
    short = 0
    if width <= _SOFT_WRAP_MAX:
        short = sum(len(line) < width and _soft_break(line, after, width) for line, after in ends)
    if short > 3 * (full - 1) and short + full >= _SOFT_BREAKS_MIN:
        return _Wrap(width, soft=True)
    byte_width = max(map(len, raw))  # (a terminal's width, as the pre-filter counts it)
    continued = sum(
        1
        for line, after in pairwise(raw)
        if len(line) == byte_width
        and _rest_of(line.decode("utf-8", "replace"), after.decode("utf-8", "replace")) is not None
    )
    return _Wrap(byte_width) if continued >= 2 else None


_NEEDLE_REACH = max(map(len, NEEDLES)) - 1


def _cut_needle_starts(data: bytes, wrap: _Wrap) -> set[int]:
    """Where the lines start that ``wrap`` cut a needle at the end of: the line joined with
    the next one (as it is, and with the space a trimmed break lost) holds it. The windows
    around the breaks are searched as one buffer, each needle with C's find."""
    starts: list[int] = []
    windows: list[bytes] = []
    for m in wrap.break_lines(data):
        tail = data[max(m.start(), m.end() - _NEEDLE_REACH) : m.end()].rstrip(b"\r")
        head_end = data.find(b"\n", m.end() + 1)
        head = data[m.end() + 1 : head_end if head_end >= 0 else None]
        line, following = m.group().decode("utf-8", "replace"), head.decode("utf-8", "replace")
        if (rest := _past_a_shared_prefix(line, following)) is not None:
            head = rest.encode()  # (the prefix the next line shares with this one is no part)
        head = head[:_NEEDLE_REACH]
        starts.append(m.start())
        windows.append(tail + head + b"\n" + tail + b" " + head)
    offsets = list(accumulate((len(w) + 1 for w in windows), initial=0))
    buffer = b"\n".join(windows)
    found: set[int] = set()
    for needle in NEEDLES:
        pos = buffer.find(needle)
        while pos >= 0:
            k = bisect_right(offsets, pos) - 1
            found.add(starts[k])
            pos = buffer.find(needle, offsets[k + 1])  # on to the next break's windows
    return found


def _continued(raw: str, body: str, following: str) -> tuple[str, ...]:
    """The line joined with the next one, when that may be the rest of a message a terminal
    wrapped: the line is long and the next one carries no prefix of its own (a launcher's,
    a frame's) but the one this line has too. Two joins: as it is, and with the space a
    trimmed break lost."""
    if len(raw) < _WRAP_MIN or (rest := _rest_of(raw, following)) is None:
        return ()
    rest = rest[:MAX_LINE_CHARS]
    if body.endswith(" ") or rest.startswith(" "):
        return (body + rest,)
    return (body + rest, body + " " + rest)


def _rest_of(line: str, following: str) -> str | None:
    """The next line as the rest of this one, or None where it opens a line of its own: itself
    when no prefix opens it, what follows the prefix when it is the one this line has."""
    if (rest := _past_a_shared_prefix(line, following)) is not None:
        return None if _starts_a_line(rest) else rest
    return None if _starts_a_line(following) else following


def _past_a_shared_prefix(line: str, following: str) -> str | None:
    """The next line after the prefix it shares with this one, or None: a tool that prefixes
    every line (a launcher's rank, a collector's timestamp, a journal's host and unit) puts the
    same prefix, its time aside, before each piece of a message a terminal wrapped."""
    rank, rest = _split_prefix(following)
    if rest == following:  # no tool's prefix; an indent both lines have is one
        indent = following[: len(following) - len(following.lstrip())]
        shared = indent and line.startswith(indent) and not line[len(indent) :][:1].isspace()
        return following[len(indent) :] if shared else None
    line_rank, line_rest = _split_prefix(line)
    head, line_head = following[: len(following) - len(rest)], line[: len(line) - len(line_rest)]
    if rank != line_rank or (
        _TIME_DIGITS.sub("0", head.rstrip()) != _TIME_DIGITS.sub("0", line_head.rstrip())
    ):
        return None
    return rest


def _unjoined(raw: str) -> list[str]:
    """A traceback (or NCCL's and torchrun's lines) pasted without its newlines ('Traceback
    (most recent call last): File "x.py", line 3, in f  loss.backward() RuntimeError: ...'),
    split where its lines began; each piece keeps the line's launcher prefix. Any other line
    is one piece."""
    if (
        len(raw) < _UNJOIN_MIN
        or "\\n" in raw  # an escaped string (JSON, a repr): read whole, as it was printed
        or (
            raw.count('File "') < 2
            and raw.count("frame #") < 2  # a C++ record with its backtrace on one line
            and "Traceback (most recent call last)" not in raw[20:]
            and "Root Cause (first observed failure)" not in raw[20:]
            and len(_LINE_STARTS.findall(raw, 0, 4 * _UNJOIN_MIN)) < 2
        )
        or len(pieces := _UNJOIN.split(raw)) < 2
    ):
        return [raw]
    prefix = raw[: len(raw) - len(_split_prefix(raw)[1])]
    return [pieces[0], *(prefix + piece for piece in pieces[1:])]


def _starts_a_line(text: str) -> bool:
    """Whether a line is one of its own (empty, or opened by a launcher's or another tool's
    prefix, a c10 record's head, an exception, a frame, a traceback's head, a progress bar),
    not the rest of the line above."""
    start = text.lstrip()
    return (
        not start
        or any(p.match(start) for p in (_PREFIX, _WRAPPER, _BRACKETED_RECORD, _RAISED))
        or start.startswith(_ANCHOR_WORDS)
        or ("|" in start and _BAR.match(start) is not None)
    )


def _cut_unknown_prefix(body: str) -> str:
    """A frame or a traceback's head behind a prefix nobody strips ("worker7 >> ", a node
    name before indented frames): start the line at it, so what reads tracebacks sees it."""
    stripped = body.lstrip()
    if stripped.startswith(_ANCHOR_WORDS) or not (m := _ANCHOR.search(body)):
        return body
    before = body[: m.start()]
    if len(before) > 120 or '"' in before or not (before[-1:].isspace() or before[-1:] in ":|>]"):
        return body
    return body[m.start() :]


def _open_sources(sources: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[IO[bytes], str]]:
    for source in sources:
        name = os.fspath(source)
        if name == "-":
            check_stream(sys.stdin.buffer, what="stdin")  # a pipe or a file; not /dev/zero
            yield sys.stdin.buffer, "<stdin>"
            continue
        # a regular file only: a FIFO or /dev/zero is refused (pipe it in with - instead)
        with open_input(
            name, what="log", hint="pipe a stream in: ... | mltools ddp-doctor log -"
        ) as fh:
            yield fh, name


def analyze_log(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    use_grep: bool = True,
    exit_code: int | None = None,
) -> LogReport:
    """Analyse one or more DDP logs (paths, or ``-`` for stdin) and name the root cause.

    Returns a ``LogReport`` whose ``findings`` list has the root cause at index 0
    (empty when nothing known went wrong). Memory stays bounded: files are read
    in chunks and only a few evidence lines per finding are kept. ``exit_code`` is the
    command's exit status when known (``ddp-doctor run``): a signal or failure it shows
    counts as evidence. Raises ``InputError`` when there is nothing to read (every log
    empty and no exit status): an empty log is not a clean one.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise InputError("no log given", hint="pass one or more log files, or - for stdin")
    scanner = LogScanner(use_grep=use_grep)
    for stream, name in _open_sources(sources):
        scanner.feed_stream(stream, name)
    if scanner.bytes == 0 and exit_code is None:
        from mltools._inputs import show_path

        names = ", ".join(show_path(n) for n in scanner.files)
        raise InputError(
            f"the log is empty: {names}", hint="nothing to diagnose; check the file you meant"
        )
    return scanner.report(exit_code)


def analyze_text(text: str, name: str = "<text>") -> LogReport:
    """Analyse a log held in a string."""
    scanner = LogScanner()
    scanner.feed_text(text, name)
    return scanner.report()
