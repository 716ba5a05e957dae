"""The anchors' habits in `mltools gpu`, on the NVML double: `-i/--id` (nvidia-smi -i,
gpustat --id, nvitop --only), `--compact` (gpustat's one line per GPU), `--no-processes`,
`--fields`/`--query-gpu` with `--no-header` (nvidia-smi --query-gpu ... --format=csv,
noheader,nounits) and `--csv --processes` (nvidia-smi --query-compute-apps)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mltools.errors import ExitCode
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn


def spec(pid: int | None = None) -> dict:
    procs = [{"pid": pid, "mem": 70 * GiB}] if pid else [{"pid": 4_000_000, "mem": GiB}]
    return {
        "gpus": [
            gpu(0, util_gpu=97, mem_used=71 * GiB, compute=procs),
            gpu(1, name="NVIDIA H100 80GB HBM3", mem_used=3 * GiB, temp=71),
            gpu(2),
            gpu(3, lost=True),
        ]
    }


def test_id_selects_by_index_uuid_prefix_and_bus_id(fake_nvml, cli) -> None:
    fake_nvml(spec())
    for ids in (["-i", "0,2"], ["--id", "0", "--id", "2"], ["-i", "GPU-00000000,00000000:30:00.0"]):
        result = cli("gpu", *ids, "--json")
        assert result.exit_code == 0, (ids, result.stderr)  # GPU 3 (lost) was not asked for
        assert [g["index"] for g in json.loads(result.stdout)["gpus"]] == [0, 2], ids
    table = cli("gpu", "-i", "30:00.0")
    assert table.exit_code == 0
    lines = [ln for ln in table.stdout.splitlines() if "A100" in ln or "H100" in ln]
    assert len(lines) == 1 and lines[0].split()[0] == "2"


def test_id_that_names_no_gpu_is_a_usage_error(fake_nvml, cli) -> None:
    fake_nvml(spec())
    result = cli("gpu", "-i", "0,7")
    assert result.exit_code == ExitCode.USAGE
    assert "-i/--id: no GPU 7 (GPUs: 0, 1, 2, 3)" in result.stderr
    empty = cli("gpu", "-i", ",")
    assert empty.exit_code == ExitCode.USAGE and "-i/--id needs GPU indices" in empty.stderr


def test_compact_is_one_line_per_gpu_with_who_holds_it(fake_nvml, cli, spawn) -> None:
    child = spawn()
    fake_nvml(spec(child.pid))
    result = cli("gpu", "--compact")
    assert result.exit_code == ExitCode.PARTIAL  # GPU 3 is lost: named, then exit 6
    body = result.stdout.splitlines()[1:]  # after the host/driver title
    assert body[0].split() == ["GPU", "NAME", "TEMP", "UTIL", "MEMORY", "PROCESSES"]
    rows = {ln.split()[0]: ln for ln in body[1:] if ln.split() and ln.split()[0].isdigit()}
    assert sorted(rows) == ["0", "1", "2", "3"]
    import getpass

    assert f"{getpass.getuser()}/{child.pid}(70.0G)" in rows["0"] and "97%" in rows["0"]
    assert "71C" in rows["1"] and "3.0/80.0 GiB" in rows["1"]
    assert "ERROR GPU 3: GPU has fallen off the bus" in result.stdout
    bare = cli("gpu", "--compact", "--no-processes")
    assert "PROCESSES" not in bare.stdout and f"/{child.pid}(" not in bare.stdout


def test_no_processes_drops_the_process_table(fake_nvml, cli) -> None:
    fake_nvml(spec())
    full = cli("gpu", "-i", "0")
    assert "COMMAND" in full.stdout and "4000000" in full.stdout
    bare = cli("gpu", "-i", "0", "--no-processes")
    assert bare.exit_code == 0
    assert "COMMAND" not in bare.stdout and "4000000" not in bare.stdout
    assert "A100-SXM4-80GB" in bare.stdout


def test_fields_like_nvidia_smi_query_gpu_noheader(fake_nvml, cli) -> None:
    fake_nvml(spec())
    result = cli("gpu", "-i", "0,1", "--query-gpu", "index,memory_used_bytes,name", "--no-header")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout == f"0,{71 * GiB},NVIDIA A100-SXM4-80GB\n1,{3 * GiB},NVIDIA H100 80GB HBM3\n"
    )
    with_header = cli("gpu", "-i", "2", "--csv", "--fields", "temperature_gpu_celsius,index")
    assert with_header.stdout == "temperature_gpu_celsius,index\n32,2\n"
    as_json = json.loads(cli("gpu", "-i", "1", "--json", "--fields", "index,uuid").stdout)
    assert as_json["gpus"] == [{"index": 1, "uuid": "GPU-00000001-1111-2222-3333-444455556666"}]
    assert as_json["schema_version"] == 1


def test_csv_processes_is_one_row_per_process(fake_nvml, cli, spawn) -> None:
    child = spawn()
    fake_nvml(spec(child.pid))
    result = cli("gpu", "--csv", "--processes")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["gpu_index"], r["pid"], r["gpu_memory_bytes"]) for r in rows] == [
        ("0", str(child.pid), str(70 * GiB))
    ]
    assert rows[0]["command"] == "sleep 300" and rows[0]["visible"] == "True"
    picked = cli("gpu", "--processes", "--fields", "pid,gpu_index", "--no-header")
    assert picked.stdout == f"{child.pid},0\n"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--fields", "nope"], "--fields: unknown field nope"),
        (["--compact", "--json"], "--compact is a terminal view"),
        (["--no-header"], "--no-header is for CSV output"),
        (["--json", "--no-header"], "--no-header is for CSV output"),
        (["--processes"], "--processes is for --csv"),
        (["--csv", "--fields", "pid"], "--fields: unknown field pid"),  # a process field
    ],
)
def test_wrong_combinations_name_the_option(fake_nvml, cli, args: list[str], words: str) -> None:
    fake_nvml(spec())
    result = cli("gpu", *args)
    assert result.exit_code == ExitCode.USAGE
    assert words in result.stderr
