"""The real-log corpus (tests/fixtures/ddp_logs_real): loading, the held-out split, scoring.

Each log was pasted by a user into a public issue thread; INDEX.tsv names the root cause the
thread settled on (a catalogue id), ``generic`` (a failure the catalogue has no id for),
``unsettled`` (a failure whose cause the thread never found: only "not clean" is scored) or
``clean`` (no failure in the paste). The held-out third is chosen by a fixed rule (sha1 of the
source URL mod 3 == 0), so logs from one thread always fall on the same side. More parts
were collected after the catalogue was frozen, each scored blind before any change: ``fresh``
to ``fresh11`` (notes start with "[fresh]", "[fresh2]" ... "[fresh11]").
The ``fresh24`` part comes from outside issue threads (pastebin, gists, Hugging Face Hub pages,
a vendor page, committed run logs, notes and blog posts); its label is what that page, README or
post says, or the paste's own error where nobody discussed it.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent / "fixtures" / "ddp_logs_real"
GENERIC_IDS = {"rank_exception", "rank_failed"}
FRESH_PARTS = (
    "[fresh]",
    "[fresh2]",
    "[fresh3]",
    "[fresh4]",
    "[fresh5]",
    "[fresh6]",
    "[fresh7]",
    "[fresh8]",
    "[fresh9]",
    "[fresh10]",
    "[fresh12]",
    "[fresh11]",
    "[fresh13]",
    "[fresh14]",
    "[fresh16]",
    "[fresh15]",
    "[fresh20]",
    "[fresh19]",
    "[fresh17]",
    "[fresh18]",
    "[fresh25]",
    "[fresh23]",
    "[fresh27]",
    "[fresh22]",
    "[fresh21]",
    "[fresh24]",
    "[fresh26]",
    "[fresh30]",
    "[fresh30b]",
    "[fresh29]",
    "[fresh29b]",
    "[fresh28]",
    "[fresh28b]",
    "[fresh31]",
    "[fresh35]",
    "[fresh38]",
    "[fresh37]",
    "[fresh37c]",
    "[fresh36]",
    "[fresh39]",
    "[fresh36c]",
    "[fresh43]",
    "[fresh42]",
    "[fresh41]",
    "[fresh40]",
    "[fresh44]",
    "[fresh48]",
    "[fresh45]",
    "[fresh46]",
    "[fresh47]",
    "[fresh50]",
    "[fresh51]",
    "[fresh53]",
    "[fresh52]",
    "[fresh49]",
    "[fresh58]",
    "[fresh56]",
    "[fresh54]",
    "[fresh57]",
    "[fresh55]",
    "[fresh59]",
    "[fresh62]",
    "[fresh61]",
    "[fresh63]",
    "[fresh60]",
    "[fresh71]",
    "[fresh65]",
    "[fresh64]",
    "[fresh67]",
    "[fresh68]",
    "[fresh69]",
    "[fresh66]",
    "[fresh70]",
    "[fresh75]",
    "[fresh74]",
    "[fresh72]",
    "[fresh73]",
    "[fresh77]",
    "[fresh76]",
)


@dataclass
class Entry:
    path: Path
    expected: str
    url: str
    notes: str

    @property
    def fresh(self) -> bool:
        """Collected after the catalogue was frozen (notes start with "[fresh]", "[fresh2]"...)."""
        return self.notes.startswith(FRESH_PARTS)

    @property
    def held_out(self) -> bool:
        return not self.fresh and int(hashlib.sha1(self.url.encode()).hexdigest(), 16) % 3 == 0

    @property
    def part(self) -> str:
        for part in FRESH_PARTS:
            if self.notes.startswith(part):
                return part.strip("[]")
        return "held_out" if self.held_out else "tuned"


def load() -> list[Entry]:
    with (CORPUS / "INDEX.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [Entry(CORPUS / r["file"], r["expected"], r["url"], r["notes"]) for r in rows]


def judge(entry: Entry, ids: list[str]) -> str:
    """'ok', 'wrong' (another id first), 'silent' (a failing log called clean) or 'alarm'."""
    if entry.expected == "clean":
        return "ok" if not ids else "alarm"
    if not ids:
        return "silent"
    if entry.expected == "unsettled":
        return "ok"
    if entry.expected == "generic":
        return "ok" if ids[0] in GENERIC_IDS else "wrong"
    return "ok" if ids[0] == entry.expected else "wrong"


def score(entries, analyse) -> dict:
    """Top-1 accuracy over labelled failures, silent failures and false alarms, per category."""
    per = defaultdict(Counter)
    details = []
    for e in entries:
        ids = analyse(e.path)
        verdict = judge(e, ids)
        per[e.expected][verdict] += 1
        details.append((e, ids, verdict))
    labelled = [d for d in details if d[0].expected not in ("clean", "unsettled")]
    correct = sum(1 for d in labelled if d[2] == "ok")
    return {
        "n": len(entries),
        "labelled": len(labelled),
        "top1": correct / len(labelled) if labelled else 1.0,
        "silent": sum(1 for d in details if d[2] == "silent"),
        "alarms": sum(1 for d in details if d[2] == "alarm"),
        "per": per,
        "details": details,
    }
