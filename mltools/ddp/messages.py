"""Exception messages quoted without their class, read against the libraries' own messages.

A write-up, an issue title or a chat message often quotes only an error's message: "Expected
all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!", with
no ``RuntimeError:`` before it and no traceback around it. A sentence alone could be prose;
but one that torch, Ray, transformers, DeepSpeed, vLLM, SGLang or another training or serving
stack raises (or asserts), word for word, is that exception. ``messages.tsv`` (built by ``scripts/gen_ddp_messages.py`` from those libraries'
sources) holds the first line of every message they raise as its literal pieces; a line that
starts with one (or quotes one after a ``: ``), with the values in between and perhaps cut
before its end, is read as that exception's message.

The log analyser asks only when a log shows no failure otherwise: this is the last word
before "clean", never a cause above one the log names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

MESSAGES_FILE = Path(__file__).with_name("messages.tsv")
KEY_CHARS = 8  # a message is looked up by its first characters
LITERAL_MIN = 24  # the message's own words a line must hold (not counting the values)
CUT_MIN = 4  # a line cut inside a piece must still hold this much of it
VALUE_MAX = 40  # a line cut inside a value: what may follow the last piece found
STARTS_MAX = 4  # where a quoted message may begin: the line's start, after its first ": "s

# how each library writes its own name (the file's rows carry the package's)
LIBRARY_NAMES = {
    "colossalai": "ColossalAI",
    "deepspeed": "DeepSpeed",
    "lightning": "Lightning",
    "llamafactory": "LLaMA-Factory",
    "lmdeploy": "LMDeploy",
    "megatron": "Megatron-Core",
    "mindspore": "MindSpore",
    "nemo": "NeMo",
    "openrlhf": "OpenRLHF",
    "peft": "PEFT",
    "ray": "Ray",
    "sglang": "SGLang",
    "tgi": "Text Generation Inference",
    "trl": "TRL",
    "vllm": "vLLM",
    "vllm_ascend": "vLLM Ascend",
    "xtuner": "XTuner",
}

# a line a logger printed below error level, or a warning: what it quotes is no failure
_NOT_RAISED = re.compile(
    r"\b(?:WARN(?:ING)?|INFO|DEBUG|NOTICE|[A-Z]\w*Warning)\b|[Ww]arning:"
    r"|\[?[WIVD]\d{3,4} [\d:.]+|\[[WI] [\w.]+:\d+\]"  # glog's and c10's levels below error
)


@cache
def _messages() -> tuple[str, int]:
    """The messages file's text and where its rows begin (after the header's comments)."""
    text = MESSAGES_FILE.read_text(encoding="utf-8")
    body = 0
    while text.startswith("#", body):
        body = text.index("\n", body) + 1
    return text, body


def _rows_starting(key: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(library, pieces)`` of every message that starts with ``key``: a binary search of the
    sorted rows in the file's text (no index to build: most runs never ask)."""
    text, body = _messages()
    lo, hi = body, len(text)
    while lo < hi:  # the first row whose start is not below key
        row = text.rfind("\n", 0, (lo + hi) // 2) + 1
        if text[row : row + len(key)] < key:
            lo = text.find("\n", row) + 1 or len(text)
        else:
            hi = row
    while text.startswith(key, lo):
        end = text.find("\n", lo)
        *pieces, library = text[lo:end].split("\t")
        yield library, tuple(pieces)
        lo = end + 1


def quoted_message(line: str, record: str | None = None) -> tuple[str, int] | None:
    """``(library, column)`` when ``line`` quotes an exception message that library raises,
    starting at ``column``; None otherwise, and for any warning or lower-level record
    (``record``: the whole line with the prefixes ``line`` lost, when they differ)."""
    if _NOT_RAISED.search(record or line):
        return None
    starts = [len(line) - len(line.lstrip())]
    for m in re.finditer(r": ", line):
        if len(starts) >= STARTS_MAX:
            break
        starts.append(m.end())
    for start in starts:
        key = line[start : start + KEY_CHARS]
        if len(key) < KEY_CHARS:
            continue
        for source, pieces in _rows_starting(key):
            if _fits(line, start, pieces):
                return LIBRARY_NAMES.get(source, source), start
    return None


def _fits(line: str, start: int, pieces: tuple[str, ...]) -> bool:
    """The pieces stand in the line in order from ``start`` (a value between each two), or
    the line ends inside the message with enough of its words."""
    head = pieces[0]
    if not line.startswith(head, start):  # or the line ends inside it (wrapped, cut)
        rest = line[start:].rstrip()
        return len(rest) >= LITERAL_MIN and head.startswith(rest)
    held, pos = len(head), start + len(head)
    for piece in pieces[1:]:
        if not piece:
            continue
        found = line.find(piece, pos)
        if found >= 0:
            held, pos = held + len(piece), found + len(piece)
            continue
        rest = line[pos:].rstrip()
        cut = next(
            (
                k
                for k in range(min(len(piece), len(rest)), CUT_MIN - 1, -1)
                if rest.endswith(piece[:k])
            ),
            0,
        )
        if cut:
            return held + cut >= LITERAL_MIN
        return held >= LITERAL_MIN and len(rest) <= VALUE_MAX
    return held >= LITERAL_MIN
