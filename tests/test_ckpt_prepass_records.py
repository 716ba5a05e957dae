"""The pre-pass's one-step tensor records against its opcode-by-opcode loop.

``pickle_fast`` applies a whole ``torch.save`` tensor record (32 opcodes) in one step when
it matches ``_RECORD``. With the records on and off, the pre-pass must end in the same
state (abstract stack, memo, calls, entries moved) and give the same plan, or refuse both
times: on real checkpoints (memo indices below and above 256, every rank of shape, shared
storages), on the hostile pickles, and on thousands of byte mutations of them.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltools.ckpt import pickle_fast
from tests.test_ckpt_fast import HOSTILE, _real_objects

torch = pytest.importorskip("torch")


def data_pkl(obj: Any, protocol: int = 2) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


def run(data: bytes, *, records: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(pickle_fast, "_TEMPLATES", records)
        state: dict[str, Any] = {}
        plan = pickle_fast.prepass(data, state)
    if plan is None:
        return None
    return (plan.proto, plan.work, plan.limit, plan.globals, sorted(plan.built), state)


def same(data: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    one_step = run(data, records=True, monkeypatch=monkeypatch)
    loop = run(data, records=False, monkeypatch=monkeypatch)
    assert one_step == loop
    return one_step


def _shapes() -> dict[str, Any]:
    base = torch.arange(24.0)
    many = {f"l.{i}.w": torch.zeros([2] * (i % 5)) for i in range(400)}  # ranks 0-4
    many.update({f"v.{i}": base[i : i + 3] for i in range(20)})  # shared storage: memo GET keys
    many["big"] = torch.zeros(300, 2)  # BININT2 sizes
    many["huge"] = torch.zeros(70000, 1)  # BININT
    many["grad"] = torch.zeros(2, requires_grad=True)  # NEWTRUE
    return {"many": many, **_real_objects()}


SEEDS = [data_pkl(obj, protocol=2) for obj in _shapes().values()]


def test_records_take_the_bulk_of_a_real_file(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = pickle_fast._record

    def counting(*args: Any) -> bool:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(pickle_fast, "_record", counting)
    data = data_pkl({f"layers.{i}.weight": torch.zeros(4, 3) for i in range(1000)})
    assert pickle_fast.prepass(data) is not None
    assert len(calls) == 999  # every tensor but the first (its globals are GLOBAL opcodes)


def test_real_files_end_in_the_same_state(monkeypatch: pytest.MonkeyPatch) -> None:
    for obj in _shapes().values():
        for protocol in (2, 4):
            assert same(data_pkl(obj, protocol), monkeypatch) is not None


def test_hostile_pickles_end_in_the_same_state(monkeypatch: pytest.MonkeyPatch) -> None:
    for data in HOSTILE.values():
        same(data, monkeypatch)


def test_a_record_with_a_missing_memo_entry_or_a_far_put_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = SEEDS[0]
    ops = [(op.name, pos) for op, _, pos in pickletools.genops(data)]
    # the last record: a BINGET of the rebuild function, then MARK MARK
    at = max(p for i, (n, p) in enumerate(ops[:-2]) if n == "BINGET" and ops[i + 1][0] == "MARK")
    assert pickle_fast._RECORD.match(data, at)
    put = next(p for n, p in ops if n == "LONG_BINPUT" and p > at)
    missing = data[:at] + b"j\xff\xff\x00\x00" + data[at + 2 :]
    far = data[:put] + b"r\xff\xff\xff\x7f" + data[put + 5 :]
    for bad in (missing, far):
        assert pickle_fast._RECORD.match(bad, at)  # still a record, refused inside it
        assert same(bad, monkeypatch) is None


@settings(
    max_examples=1500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(
        st.tuples(st.integers(0, 10**7), st.integers(0, 255), st.sampled_from("sid")),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_records_end_in_the_same_state(
    seed: int, edits: list[tuple[int, int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytearray(SEEDS[seed])
    for pos, byte, how in edits:
        pos %= len(data) + 1
        if how == "s" and pos < len(data):
            data[pos] = byte
        elif how == "i":
            data[pos:pos] = bytes([byte])
        elif pos < len(data):
            del data[pos]
    same(bytes(data), monkeypatch)
