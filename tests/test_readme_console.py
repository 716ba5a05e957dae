"""Every README command example runs as written on a 100-column terminal, with no wrapped cell.

Each `mltools` line of the README's ```console and ```bash blocks runs twice in a fresh
folder holding the files it names: once with stdout on a 100-column pty, once piped (the
reference, every cell whole). The terminal view may have no line wider than 100 columns
and no piece of a word, number or path that the reference has whole (tests/_pty.py).
GPUs are the NVML double; ``ssh`` is a stand-in that runs the remote command here, so
``--hosts`` and ``sync host:`` examples run too; ``torchrun`` is a stand-in that prints
its arguments. Only the absolute folders are moved into the sandbox (``/data`` ->
``data``). A new README line fails ``test_every_readme_command_has_a_case`` until it gets
an entry here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._fake_nvml import GiB, gpu
from tests._pty import FAKE_RUN, age_files, broken_cells, run_tty
from tests.ci_provides import require
from tests.conftest import REPO, mltools_env

COLUMNS = 100
FIXTURES = REPO / "tests" / "fixtures"


def readme_commands() -> list[str]:
    """The README's example command lines: ``$ `` lines of console blocks, and the lines of
    bash blocks that run mltools (continuation lines joined, comments kept)."""
    text = (REPO / "README.md").read_text()
    commands = []
    for lang, body in re.findall(r"```(console|bash)\n(.*?)```", text, flags=re.S):
        body = body.replace("\\\n", " ")
        for line in body.splitlines():
            if lang == "console" and line.startswith("$ "):
                commands.append(line[2:].strip())
            elif lang == "bash" and re.search(r"(?:^|[\s;&|(])mltools\s", line.split("#")[0]):
                commands.append(line.strip())
    return commands


def _key(line: str) -> str:
    """A README line without its trailing comment (``#`` outside quotes)."""
    return re.split(r"\s+#\s", line, maxsplit=1)[0].strip()


# Not run, and why.
# lines the walk does not run, each with why (not a skip: nothing is missing here, and CI
# counts a skip as a failure); every other README line is run
NOT_RUN = {
    "apt-get update && apt-get install -y libmagic1 rsync sshpass python3-venv && python3 -m venv"
    " .venv && . .venv/bin/activate && pip install . && mltools cpu": "installs system packages;"
    " test_packaging builds and installs the wheel",
    "torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint host0:29400"
    "      -m mltools.ddp.smoke --timeout 120": "two nodes meeting at host0:29400",
    "mltools ddp-doctor smoke --nproc 2 --backend gloo": "two real gloo ranks (slow here);"
    " test_ddp_live_smoke runs them, and their table is tested in test_table_fit",
    "mltools ddp-doctor smoke --inject stall --timeout 15": "as above, plus a 15 s stall",
    "mltools ddp-doctor smoke --inject crash --inject-rank 0 --json": "as above; JSON only",
    "mltools record --pid 4242 -o job -i 5": "attaches until pid 4242 ends (any process here);"
    " test_record attaches to a tree of its own",
}
# lines that redraw until Ctrl-C: Ctrl-C once this text, shown once per frame, is there
# twice (the first frame whole, in the terminal run and in the piped reference alike)
INTERRUPT = {
    "mltools cpu --watch": "Memory and limits",
    "mltools cpu --watch --json": "suggested_num_workers",
    "mltools gpu --watch --interval 1": "driver 550",
}
# lines that stop a process: a fresh one matching the pattern for each run
PROCESSES = {
    'mltools kill "python train.py"': ["train.py"],
    'mltools kill "train.py --exp 7" --yes --grace 10': ["train.py", "--exp", "7"],
    "mltools kill torchrun --tree": ["train.py", "--launcher", "torchrun"],
}
# Lines whose output lists processes of the whole machine (the check's leftover launchers,
# the jobs `hang` finds or is pointed at, what `kill` matches): another test run's torchrun
# or train.py on this shared box showed in one of the two runs and not in the other (a
# broken cell), and the `kill --yes` line signalled it. As root they run in a PID namespace
# of their own, where only their own processes are seen; a `kill` line's process is started
# in there, before the line, once it has exec'd (its command line is what kill matches).
OWN_PIDS = ("mltools ddp-doctor", "mltools ddp-doctor hang ", *PROCESSES)


def _namespaces() -> bool:
    """Whether lines can run in a PID namespace of their own (root, util-linux's unshare)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def _own_pids(key: str, command: str) -> str:
    if not (key in OWN_PIDS or key.startswith(OWN_PIDS[1])) or not _namespaces():
        return command
    if key in PROCESSES:
        argv = shlex.join(["python", *PROCESSES[key]])
        command = (
            f"{argv} & for _ in $(seq 6000); do tr '\\0' ' ' </proc/$!/cmdline 2>/dev/null"
            f" | grep -qF {shlex.quote(argv)} && break; sleep 0.01; done; {command}"
        )
    return f"unshare --pid --fork --mount-proc bash -c {shlex.quote(command)}"


# absolute folders of the examples, moved into the sandbox
MOVES = {"/data": "data", "/scratch": "scratch", "/tmp/fr/": "fr/", "/tmp/nccl": "nccl"}

FAKE_SSH = """#!/bin/sh
# ssh stand-in: drop the options and the host, run the remote command here
while [ $# -gt 0 ]; do
  case "$1" in
    -[oFpilJEcDLRSwWbBm]) shift 2;;
    -*) shift;;
    *) break;;
  esac
done
shift
exec sh -c "$*"
"""
FAKE_TORCHRUN = '#!/bin/sh\necho "torchrun stand-in: $*"\n'


def _gpu_spec(pid: int) -> dict:
    return {
        "gpus": [
            gpu(0, util_gpu=97, mem_used=71 * GiB, compute=[{"pid": pid, "mem": 70 * GiB}]),
            gpu(1, name="NVIDIA H100 80GB HBM3", mem_used=GiB, throttle=0x44),
            gpu(2),
            gpu(3, mem_used=3 * GiB, compute=[{"pid": pid, "mem": 2 * GiB}]),
        ]
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the examples name, built once (torch checkpoints are slow to write)."""
    import pandas as pd
    import torch
    from safetensors.torch import save_file

    t = tmp_path_factory.mktemp("readme-template")
    torch.manual_seed(0)
    sd = {
        "encoder.layers.0.self_attn.in_proj_weight": torch.zeros(12, 4),
        "encoder.layers.0.linear1.weight": torch.zeros(8, 4),
        "decoder.embed_tokens.weight": torch.zeros(10, 4),
    }
    (t / "run").mkdir()
    lightning = {"epoch": 3, "global_step": 1200, "state_dict": sd, "hyper_parameters": {"lr": 0.1}}
    torch.save(lightning, t / "run" / "last.ckpt")
    torch.save(lightning, t / "last.ckpt")
    torch.save(sd, t / "plain.pt")
    torch.save({"module." + k: v for k, v in sd.items()}, t / "ddp.pt")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(t / "model.safetensors"))
    shutil.copy(FIXTURES / "ckpt_corpus" / "picklescan" / _a_pickle(), t / "downloaded.bin")
    shutil.copy(FIXTURES / "ddp_logs" / "rank_exception__1.log", t / "job.log")
    for folder in ("downloads", "data"):
        (t / folder).mkdir()
        (t / folder / "video_of_the_training_run_2026-12-06.mp4").write_text("<html>403</html>")
        (t / folder / "config.json").write_text('{"lr": 0.1}')
        shutil.copy(t / "model.safetensors", t / folder / "model.safetensors")
    (t / "data" / "runs").mkdir()
    old = time.time() - 30 * 86400
    for folder in ("runs/exp-2026-12-01_resnet50_lr0.1", "scratch/tmp_shards_of_a_long_job"):
        (t / folder / "__pycache__").mkdir(parents=True)
        (t / folder / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x" * 100)
        (t / folder / ".DS_Store").write_bytes(b"x")
        (t / folder / "empty").mkdir()
        for i in range(3):
            f = t / folder / f"epoch={i:04d}-step={i * 1000:08d}.tmp"
            f.write_bytes(b"x" * 1000)
            os.utime(f, (old, old))
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "text": [" A", "b ", "C"], "c": [1, 2, 3]})
    df.to_parquet(t / "data.parquet")
    df.to_csv(t / "data.csv", index=False)
    df.to_csv(t / "-oddly-named.csv", index=False)
    df.to_json(t / "rows.jsonl.gz", orient="records", lines=True, compression="gzip")
    (t / "runs" / "exp-2026-12-01_resnet50_lr0.1" / "wandb").mkdir()
    for i in range(5):
        (
            t / "runs" / "exp-2026-12-01_resnet50_lr0.1" / f"epoch={i}-step={i * 500}.ckpt"
        ).write_text("x")
    (t / "features.py").write_text("def score(row):\n    return row['x'] * 2\n")
    (t / "mypkg").mkdir()
    (t / "mypkg" / "__init__.py").write_text("")
    (t / "mypkg" / "text.py").write_text("def clean(s):\n    return s.strip().lower()\n")
    (t / "m.py").write_text("def f(v):\n    return v + 1\n")
    (t / "train.py").write_text("import time\ntime.sleep(600)\n")
    (t / "fr").mkdir()
    (t / "home" / ".config" / "fish" / "completions").mkdir(parents=True)
    (t / "bin").mkdir()
    for name, text in [
        ("ssh", FAKE_SSH),
        ("torchrun", FAKE_TORCHRUN),
        ("mltools", f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_RUN}" "$@"\n'),
    ]:
        (t / "bin" / name).write_text(text)
        (t / "bin" / name).chmod(0o755)
    age_files(t)
    return t


def _a_pickle() -> str:
    """A pickle from the scan corpus (real, foreign: picklescan's own test data)."""
    folder = FIXTURES / "ckpt_corpus" / "picklescan"
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".pkl", ".bin"))[0]


def _sandbox(template: Path, where: Path) -> Path:
    shutil.copytree(template, where, symlinks=True)
    return where


def _command(line: str) -> str:
    for old, new in MOVES.items():
        line = line.replace(old, new)
    return line


def _env(sandbox: Path, pid: int) -> dict[str, str]:
    return {
        "PATH": f"{sandbox / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(sandbox / "home"),
        "MLTOOLS_TEST_FAKE_NVML": json.dumps(_gpu_spec(pid)),
        "SSHPASS": "not-a-password",
    }


@pytest.fixture
def holder() -> Iterator[int]:
    """A process holding GPUs 0 and 3 in the double."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _start(sandbox: Path, argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(["python", *argv], cwd=sandbox, env=mltools_env(_env(sandbox, 0)))


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()


def test_every_readme_command_has_a_case() -> None:
    keys = {_key(line) for line in readme_commands()}
    assert len(keys) >= 50, keys  # the parser still finds the examples
    for table in (NOT_RUN, INTERRUPT, PROCESSES):
        assert not set(table) - keys, (
            f"entries for lines the README no longer has: {set(table) - keys}"
        )


@pytest.mark.parametrize(
    "line", [line for line in readme_commands() if _key(line) not in NOT_RUN], ids=_key
)
def test_readme_command_fits_100_columns(
    line: str, template: Path, tmp_path: Path, holder: int
) -> None:
    key = _key(line)
    require("gcc")  # the NVML double is compiled
    command = _own_pids(key, _command(line))
    runs = {}
    for mode in ("piped", "tty"):
        sandbox = _sandbox(template, tmp_path / mode)
        procs = [_start(sandbox, PROCESSES[key])] if key in PROCESSES and not _namespaces() else []
        env = _env(sandbox, holder)
        try:
            if mode == "piped":
                runs[mode] = _piped(command, sandbox, env, INTERRUPT.get(key))
            else:
                shown = run_tty(
                    ["bash", "-c", command], columns=COLUMNS, cwd=sandbox, env=env,
                    interrupt_on=INTERRUPT.get(key),
                    interrupt_after=2,
                )  # fmt: skip
                runs[mode] = (shown.rc, shown.stdout, shown.stderr)
        finally:
            _stop(procs)
    (rc, reference, ref_err), (tty_rc, shown, tty_err) = runs["piped"], runs["tty"]
    assert tty_rc == rc, f"exit {tty_rc} on a terminal, {rc} piped\n{tty_err}\n{ref_err}"
    assert "Traceback" not in tty_err + ref_err, tty_err + ref_err
    problems = broken_cells(shown, reference, COLUMNS, data=_is_data(reference))
    assert not problems, "\n".join(problems) + "\n" + shown


def _is_data(output: str) -> bool:
    """JSON, JSON Lines or CSV asked for: data for programs, not a view for a terminal."""
    lines = output.splitlines()
    try:
        json.loads(output)
        return True
    except ValueError:
        pass
    try:
        return bool(lines) and all(isinstance(json.loads(ln), dict) for ln in lines if ln)
    except ValueError:
        return bool(lines) and lines[0].count(",") >= 3 and " " not in lines[0]


def _piped(
    command: str, cwd: Path, env: dict[str, str], interrupt_on: str | None
) -> tuple[int, str, str]:
    """Run ``command`` with stdout piped; Ctrl-C once a second line holds ``interrupt_on``."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=mltools_env(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = []
        seen = 0
        for out_line in proc.stdout:
            lines.append(out_line)
            if interrupt_on is not None and interrupt_on in out_line:
                seen += 1
                if seen == 2:
                    os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=300)
        err.seek(0)
        return rc, "".join(lines), err.read()
