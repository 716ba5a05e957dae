"""`mltools ckpt scan` against picklescan on the same malicious and benign files.

Builds the corpus of tests/test_ckpt_corpus.py (public samples plus our gadgets in every
container) into a temp dir, runs both scanners on every file and prints the counts:

    PYTHONPATH=. python benchmarks/ckpt_scan_vs_picklescan.py /path/to/venv-with-picklescan/bin/picklescan

A file counts as "flagged" by picklescan when it reports dangerous globals (exit 1) or
cannot scan it (exit 2); by mltools when its verdict is anything but "safe" (or it exits 1).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(folder: Path) -> dict[str, Path]:
    import torch

    from tests import _ckpt_gadgets as gad
    from tests._ckpt_factory import build as build_ckpts
    from tests.test_ckpt_corpus import PUBLIC, PUBLIC_BENIGN, _torch_bytes, _zip_member

    ckpts = build_ckpts(folder / "base")
    files: dict[str, Path] = {}
    for p in PUBLIC:
        kind = "benign" if p.name in PUBLIC_BENIGN else "malicious"
        files[f"{kind}: public {p.parent.name}/{p.name}"] = p
    plain_pkl = _zip_member(ckpts.plain)
    legacy = ckpts.legacy.read_bytes()
    names = list(gad.gadgets(folder / "x", _torch_bytes))
    for n, name in enumerate(names):
        ops = gad.gadgets(folder / f"m{n}", _torch_bytes)[name]
        out = {
            "pkl": gad.as_pickle(ops, gad.protocol_of(name)),
            "legacy-objects": gad.legacy_with(legacy, 3, ops),
            "legacy-keys": gad.legacy_with(legacy, 4, ops),
            "legacy-sysinfo": gad.legacy_with(legacy, 2, ops),
        }
        for kind, data in out.items():
            path = folder / f"g{n}-{kind}.pt"
            path.write_bytes(data)
            files[f"malicious: {name} [{kind}]"] = path
        path = folder / f"g{n}-zip.pt"
        gad.replace_data_pkl(ckpts.plain, path, gad.inject(plain_pkl, ops))
        files[f"malicious: {name} [zip]"] = path
    for attr in ("plain", "legacy", "train", "ddp", "compiled", "tied"):
        files[f"benign: {attr}"] = getattr(ckpts, attr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nested = torch.nested.nested_tensor([torch.ones(2, 3)], layout=torch.jagged)
        torch.save({"nt": nested, "s": {1, 2}}, folder / "njt.pt")
    files["benign: njt+set"] = folder / "njt.pt"
    return files


def main() -> None:
    picklescan = sys.argv[1] if len(sys.argv) > 1 else "picklescan"
    from mltools.ckpt import CheckpointError, scan_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        files = build(Path(tmp))
        rows = []
        for label, path in files.items():
            try:
                ours = scan_checkpoint(path).verdict
            except CheckpointError:
                ours = "error"
            ps = subprocess.run([picklescan, "-p", str(path)], capture_output=True, text=True)
            theirs = {0: "clean", 1: "dangerous"}.get(ps.returncode, "error")
            rows.append((label, ours, theirs))
    stats: Counter[str] = Counter()
    for label, ours, theirs in rows:
        kind = label.split(":")[0]
        stats[f"{kind} files"] += 1
        stats[f"{kind}: mltools flags (not safe)"] += ours != "safe"
        stats[f"{kind}: mltools names dangerous"] += ours == "dangerous"
        stats[f"{kind}: picklescan flags"] += theirs != "clean"
        if kind == "malicious" and ours != "safe" and theirs == "clean":
            stats["malicious: flagged by mltools, missed by picklescan"] += 1
        if kind == "malicious" and ours == "safe" and theirs != "clean":
            stats["malicious: missed by mltools, flagged by picklescan"] += 1
    for key in sorted(stats):
        print(f"{key:55s} {stats[key]}")
    print()
    for label, ours, theirs in rows:
        if label.startswith("malicious") and theirs == "clean":
            print(f"picklescan misses: {label} (mltools: {ours})")
        if label.startswith("benign") and ours != "safe":
            print(f"mltools on benign: {label}: {ours}")


if __name__ == "__main__":
    main()
