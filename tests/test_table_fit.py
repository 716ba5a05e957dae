"""Every table-printing command fits a real terminal of 80, 100, 120 and 200 columns.

Each command runs twice: with stdout piped (every cell whole: the reference) and on a
pty of the given width. On the pty no line may be wider than the terminal and no token
may be a piece of a word, number or path that the reference has whole (``A100-S`` /
``XM4-80GB``, ``71.0/8`` / ``0.0`` as rich's folding printed them), except where an
ellipsis marks an abbreviation. GPU commands run over the NVML double.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mltools.cli._tables import Column, fit, shorten
from tests._fake_nvml import GiB, gpu
from tests._nvml_double import compiler_available
from tests._pty import age_files, broken_cells, mltools_argv, run_piped, run_tty

WIDTHS = [80, 100, 120, 200]
LONG_RUN = "2026-12-06_resnet50_imagenet_lr0.1_bs256_warmup5_cosine"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files with long paths, a checkpoint with long tensor names, a pickle with globals."""
    root = tmp_path_factory.mktemp("fit")
    ckpts = root / "experiments" / LONG_RUN / "checkpoints"
    ckpts.mkdir(parents=True)
    for i in range(3):
        (ckpts / f"epoch={i:04d}-step={i * 12345:09d}-val_loss=0.{i}123.tmp").write_bytes(
            bytes(1000 * (i + 1))
        )
    (ckpts / "notes_about_this_run_and_its_hyperparameters.mp4").write_text("<html>oops</html>")
    (ckpts / "config.json").write_text(json.dumps({"lr": 0.1}))
    (root / "mirror").mkdir()
    import torch

    torch.manual_seed(0)
    names = [
        "model.encoder.layers.11.self_attention.query_key_value.weight",
        "model.encoder.layers.11.mlp.dense_4h_to_h.bias",
        "model.embeddings.word_embeddings.weight",
    ]
    sd = {n: torch.zeros(4, 8) for n in names}
    torch.save(sd, root / "a.pt")
    torch.save({**sd, names[0]: torch.zeros(8, 8)}, root / "b.pt")
    # a pickle with a global torch would need an allowlist for: scan lists it
    (root / "downloaded.bin").write_bytes(
        pickle.dumps({"opt": __import__("collections").OrderedDict(lr=0.1)}, protocol=2)
    )
    age_files(root)
    return root


def _gpu_spec(child_pid: int) -> dict:
    mig = [{"name": "MIG 1g.10gb", "uuid": "MIG-0001", "gi": 1, "ci": 0,
            "mem_total": 10 * GiB, "mem_used": GiB}]  # fmt: skip
    return {
        "gpus": [
            gpu(0, util_gpu=97, throttle=0x4, mem_used=71 * GiB,
                compute=[{"pid": child_pid, "mem": 70 * GiB}, {"pid": 4_000_000, "mem": GiB}]),
            gpu(1, lost=True),
            gpu(2, not_supported=["fan", "power", "ecc"], mig=[1, 1], mig_devices=mig,
                mem_used=GiB, compute_mode=2),
            gpu(3, name="NVIDIA H100 80GB HBM3", mem_used=40 * GiB, util_gpu=45, util_mem=30,
                power_mw=350_000, temp=71, fan=55, clock_sm=1980, throttle=0x44),
        ]
    }  # fmt: skip


@pytest.fixture(scope="module")
def gpu_child() -> int:
    """A real process with a long command line, holding GPU 0 in the double."""
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "--config",
         f"configs/{LONG_RUN}.yaml", "--nproc-per-node", "8"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    yield proc.pid
    proc.kill()
    proc.wait()


# name -> (argv builder from the tree folder, runs over the NVML double)
Case = tuple[Callable[[Path], list[str]], bool]
CASES: dict[str, Case] = {
    "gpu": (lambda t: ["gpu"], True),
    "gpu --compact": (lambda t: ["gpu", "--compact"], True),
    "gpu topo": (lambda t: ["gpu", "topo"], True),
    "gpu kill preview": (lambda t: ["gpu", "kill", "--gpu", "0"], True),
    "cpu": (lambda t: ["cpu", "--interval", "0.2"], False),
    "ddp-doctor env --list": (lambda t: ["ddp-doctor", "env", "--list"], False),
    "ckpt inspect": (lambda t: ["ckpt", "inspect", str(t / "a.pt")], False),
    "ckpt inspect --depth": (lambda t: ["ckpt", "inspect", str(t / "a.pt"), "--depth", "3"], False),
    "ckpt diff": (lambda t: ["ckpt", "diff", str(t / "a.pt"), str(t / "b.pt")], False),
    "ckpt scan": (lambda t: ["ckpt", "scan", str(t / "downloaded.bin")], False),
    "filetype": (lambda t: ["filetype", str(t / "experiments")], False),
    "filetype --mismatch": (lambda t: ["filetype", str(t / "experiments"), "--mismatch"], False),
    "filetype --summary": (lambda t: ["filetype", str(t / "experiments"), "--summary"], False),
    "clean preview": (lambda t: ["clean", str(t / "experiments"), "--name", "*.tmp"], False),
    "du": (lambda t: ["du", str(t), "--files", "--top", "10", "--depth", "4"], False),
    "sync --dry-run": (
        lambda t: ["sync", str(t / "experiments") + "/", str(t / "mirror") + "/", "--dry-run"],
        False,
    ),
    "kill preview": (lambda t: ["kill", f"configs/{LONG_RUN}"], False),
}


@pytest.mark.parametrize("name", CASES)
def test_tables_fit_the_terminal(name: str, tree: Path, gpu_child: int) -> None:
    build, on_gpu = CASES[name]
    if on_gpu and not compiler_available():
        pytest.skip("the NVML double needs a C compiler")
    env = {"MLTOOLS_TEST_FAKE_NVML": json.dumps(_gpu_spec(gpu_child))} if on_gpu else {}
    argv = mltools_argv(*build(tree), gpu_spec=on_gpu)
    reference = run_piped(argv, cwd=tree, env=env)
    assert reference.stdout.strip(), reference.stderr
    for width in WIDTHS:
        shown = run_tty(argv, columns=width, cwd=tree, env=env)
        assert shown.rc == reference.returncode, (width, shown.stderr)
        problems = broken_cells(shown.stdout, reference.stdout, width)
        assert not problems, f"at {width} columns:\n" + "\n".join(problems) + "\n" + shown.stdout


def test_gpu_table_hides_the_least_useful_columns_first_and_says_so(gpu_child: int) -> None:
    if not compiler_available():
        pytest.skip("the NVML double needs a C compiler")
    env = {"MLTOOLS_TEST_FAKE_NVML": json.dumps(_gpu_spec(gpu_child))}
    narrow = run_tty(mltools_argv("gpu", gpu_spec=True), columns=80, env=env).stdout
    wide = run_tty(mltools_argv("gpu", gpu_spec=True), columns=200, env=env).stdout
    header = next(line for line in narrow.splitlines() if line.lstrip().startswith("GPU  NAME"))
    assert "MEMORY" in header and "PERSIST" not in header
    assert "hidden to fit 80 columns: " in narrow and "PERSIST" in narrow
    assert "hidden to fit" not in wide and "PERSIST" in wide
    assert "A100-SXM4-80GB" in wide and "H100 80GB HBM3" in wide


def test_paths_keep_their_end_and_numbers_never_shrink() -> None:
    cols = [
        Column("size", justify="right", kind="fixed"),
        Column("path", kind="path"),
        Column("mime", priority=1),
    ]
    rows = [["123.4 MiB", "/data/experiments/run-7/checkpoints/last.ckpt", "application/zip"]]
    layout = fit(cols, rows, 40)  # room for all three at their minimum: mime is cut, not hidden
    assert layout.hidden == [] and layout.widths == [9, 19, 8]
    layout = fit(cols, rows, 30)
    assert layout.hidden == ["mime"] and layout.widths == [9, 30 - 9 - 2]
    assert shorten(rows[0][1], 29, "path") == "…" + rows[0][1][-28:]  # the file name stays
    assert shorten("A100-SXM4-80GB", 9, "text") == "A100-SXM…"
    assert shorten("123.4 MiB", 3, "fixed") == "123.4 MiB"
    # prose wraps between words: only a word longer than the column is cut
    assert shorten("use /dev/shm or --shm-size=16g", 12, "prose") == "use /dev/shm or --shm-size=…"


def test_fit_keeps_everything_when_there_is_room_and_priority_zero_always() -> None:
    cols = [Column("a", kind="fixed"), Column("b", priority=2), Column("c", priority=1)]
    rows = [["x" * 10, "y" * 30, "z" * 30]]
    assert fit(cols, rows, 200).hidden == []
    assert fit(cols, rows, 200).widths == [10, 30, 30]
    assert fit(cols, rows, 30).widths == [10, 8, 8]  # both shrink to their minimum first
    assert fit(cols, rows, 25).hidden == ["b"]  # then b goes before c: its number is higher
    assert fit(cols, rows, 25).widths == [10, 13]
    assert fit(cols, rows, 12).kept == [0]
    assert fit(cols, rows, 5).widths == [10]  # a fixed column overflows rather than lie


@pytest.mark.skipif(not os.path.exists("/dev/ptmx"), reason="needs a pty")
def test_piped_output_is_never_abbreviated(tree: Path) -> None:
    argv = mltools_argv("filetype", str(tree / "experiments"))
    piped = run_piped(argv)
    assert "notes_about_this_run_and_its_hyperparameters.mp4" in piped.stdout
    assert "…" not in piped.stdout
