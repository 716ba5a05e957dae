"""`ddp-doctor log` on real logs people pasted into public issue threads (not written by us).

The corpus (tests/fixtures/ddp_logs_real, sources and labels in INDEX.tsv) is labelled from
what each thread settled on. A third of it (sha1 of the URL mod 3 == 0) was held out while
the catalogue was tuned; the "fresh" and "fresh2" parts were collected after the catalogue
was frozen (their first, blind scores are in the issue-15 note; the remaining misses are
pastes cut before the line that names the cause). These tests pin the rates reached so they
cannot slip back: top-1 accuracy on each part, no failing log called clean, no finding on a
clean log.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from mltools.ddp.catalogue import catalogue_ids
from mltools.ddp.logscan import analyze_log
from tests.ddp_corpus import judge, load, score

ENTRIES = load()
# rates reached (see the issue-15 note); a change that lowers them fails here
MIN_TOP1 = {"tuned": 0.98, "held_out": 1.0, "fresh": 0.83, "fresh2": 1.0}


def _ids(path):
    return [f.id for f in analyze_log(path).findings]


def test_corpus_index_is_complete_and_labels_are_known():
    assert len(ENTRIES) >= 120
    names = {e.path.name for e in ENTRIES}
    on_disk = {p.name for p in ENTRIES[0].path.parent.glob("*.log")}
    assert names == on_disk
    known = set(catalogue_ids()) | {"generic", "unsettled", "clean"}
    for e in ENTRIES:
        assert e.expected in known, e.path.name
        assert e.url.startswith("https://"), e.path.name
        assert e.path.name.startswith(e.expected + "__")
    assert sum(e.expected == "clean" for e in ENTRIES) >= 8
    assert 0.2 < sum(e.held_out for e in ENTRIES) / len(ENTRIES) < 0.45
    assert sum(e.fresh for e in ENTRIES) >= 50


@pytest.mark.parametrize("part", ["tuned", "held_out", "fresh", "fresh2"])
def test_corpus_top1_accuracy_and_never_silent(part):
    entries = [e for e in ENTRIES if e.part == part]
    result = score(entries, _ids)
    silent = [d[0].path.name for d in result["details"] if d[2] == "silent"]
    alarms = [d[0].path.name for d in result["details"] if d[2] == "alarm"]
    assert silent == [], "failing logs called clean"
    assert alarms == [], "findings on clean logs"
    floor = MIN_TOP1[part]
    wrong = [(d[0].path.name, d[1][:2]) for d in result["details"] if d[2] == "wrong"]
    assert result["top1"] >= floor, wrong


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.path.name)
def test_corpus_log_is_never_silent_or_a_false_alarm(entry):
    assert judge(entry, _ids(entry.path)) in ("ok", "wrong")


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.path.name)
def test_corpus_grep_prefilter_and_pure_python_scan_agree(entry):
    assert asdict(analyze_log(entry.path)) == asdict(analyze_log(entry.path, use_grep=False))
