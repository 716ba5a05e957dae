"""Every gpu path on every driver profile of the C-level NVML double, under the real pynvml.

The double (``tests/nvml_double/libnvidia_ml.c``) exports the symbols each driver
generation exports and writes the structs it writes; pynvml is the installed
nvidia-ml-py, whatever its version (CI runs this file on the newest and on the
lowest version pyproject allows). Each test reads real child processes, so pids,
users and memory are checked against the truth.
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import json
import os
import re
import shutil
import subprocess
import sys

import pynvml
import pytest

from mltools.ddp.hang_discovery import _gpu_pids as gpu_pids  # what `ddp-doctor hang` calls
from mltools.errors import ExitCode
from mltools.gpu import gpu_topology, select_gpus, snapshot
from mltools.gpu.kill import find_targets
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, MiB, gpu
from tests._gpu_fixtures import fake_cli
from tests._nvml_double import (
    ALL_PROFILES,
    CODES,
    PROFILES,
    SOURCE,
    build,
    compiler_available,
    install,
)

pytestmark = pytest.mark.skipif(not compiler_available(), reason="needs a C compiler (gcc)")

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn

HIDDEN = 4_000_000  # a pid of another PID namespace: below PID_MAX_LIMIT, absent here
MIG_PROFILES = [p for p in ALL_PROFILES if "HAVE_MIG" in PROFILES[p][2]]
ME = getpass.getuser()


def busy_spec(profile, pids, **top):
    """GPU 0: three real processes (one also graphics), one hidden pid, 1 GiB nobody claims.

    GPU 1: idle. The sizes are what a misread layout garbles (not multiples of 4 GiB).
    """
    a, b, c = pids
    compute = [
        {"pid": a, "mem": 3 * GiB + 200 * MiB, "sm": 40},
        {"pid": b, "mem": 700 * MiB},
        {"pid": c, "mem": 1 * GiB + 12 * MiB},
        {"pid": HIDDEN, "mem": 2 * GiB},
    ]
    graphics = [{"pid": b, "mem": 700 * MiB}]
    used = 3 * GiB + 200 * MiB + 700 * MiB + 1 * GiB + 12 * MiB + 2 * GiB + 1 * GiB
    return {
        "profile": profile,
        "gpus": [
            gpu(0, mem_used=used, mem_reserved=0, compute=compute, graphics=graphics),
            gpu(1, mem_used=0, mem_reserved=0, mem_total=40 * GiB),
        ],
        **top,
    }


@pytest.fixture
def three(spawn):
    return [spawn().pid for _ in range(3)]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_processes_memory_users_and_ghost_on_every_profile(fake_nvml, three, profile):
    fake_nvml(busy_spec(profile, three))
    snap = snapshot(cpu_interval=0)
    assert snap.driver_version == PROFILES[profile][0]
    g0, g1 = snap.gpus
    assert g0.error is None and g1.error is None
    got = {p.pid: (p.gpu_memory_bytes, p.type, p.user, p.visible) for p in g0.processes}
    a, b, c = three
    assert got == {
        a: (3 * GiB + 200 * MiB, "compute", ME, True),
        b: (700 * MiB, "compute+graphics", ME, True),
        c: (1 * GiB + 12 * MiB, "compute", ME, True),
        HIDDEN: (2 * GiB, "compute", None, False),
    }
    # 2 GiB of the hidden pid + 1 GiB no listed process claims
    assert g0.ghost_memory_bytes == 3 * GiB
    assert g1.processes == [] and g1.ghost_memory_bytes == 0


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_pick_avoids_the_gpu_another_namespace_uses(fake_nvml, three, profile):
    spec = busy_spec(profile, three)
    spec["gpus"][0]["mem_total"] = 80 * GiB  # the roomier GPU: picked if its users are missed
    fake_nvml(spec)
    sel = select_gpus(1, max_utilization_percent=None)
    assert sel.indices == [1]
    reasons = {c.index: c.reasons for c in sel.candidates}
    assert reasons[0] == ["1 process(es) of other users or not visible here"]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_kill_preview_names_exactly_the_processes(fake_nvml, three, profile):
    fake_nvml(busy_spec(profile, three))
    targets = find_targets(snapshot(cpu_interval=0), gpus=[0])
    notes = {t.pid: t.skip_reason for t in targets}
    assert notes == {**dict.fromkeys(three), HIDDEN: "not visible in this PID namespace"}


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_hang_discovery_finds_every_gpu_process_past_a_lost_gpu(fake_nvml, three, profile):
    a, b, c = three
    spec = {
        "profile": profile,
        "gpus": [
            gpu(0, lost=True, compute=[{"pid": a, "mem": GiB}]),
            gpu(1, errors={"compute_processes": "Unknown"}),
            gpu(2, compute=[{"pid": b, "mem": GiB}, {"pid": c, "mem": 2 * GiB}]),
        ],
    }
    fake_nvml(spec)
    assert sorted(gpu_pids()) == sorted([b, c])


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_topology_on_every_profile(fake_nvml, profile):
    bus = [f"00000000:{0x10 * (i + 1):02X}:00.0" for i in range(3)]
    spec = {
        "profile": profile,
        "gpus": [
            gpu(0, nvlink={"0": bus[1], "1": bus[1]}, cpus=[0, 1], numa=0),
            gpu(1, nvlink={"0": bus[0], "1": bus[0]}, cpus=[0, 1], numa=0),
            gpu(2, cpus=[2, 3], numa=1),
        ],
        "ancestors": {"0,1": 20, "0,2": 50, "1,2": 50},
    }
    fake_nvml(spec)
    topo = gpu_topology()
    assert topo.links[0][1] == "NV2" and topo.links[0][2] == "SYS"
    assert [g.cpu_affinity for g in topo.gpus] == ["0-1", "0-1", "2-3"]
    if "HAVE_NUMA" in PROFILES[profile][2]:  # read on the C symbol, whatever the bindings wrap
        assert [g.numa_node for g in topo.gpus] == [0, 0, 1]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_throttle_reasons_on_every_profile(fake_nvml, profile):
    fake_nvml({"profile": profile, "gpus": [gpu(0, throttle=0x1 | 0x4 | 0x200 | 0x400)]})
    (g,) = snapshot(cpu_interval=0).gpus
    assert g.throttle_reasons == ["sw_power_cap", "board_limit", "reliability"]


ODD = {
    "temperature": "Timeout",
    "power": "NotReady",
    "memory": "ArgumentVersionMismatch",
    "fan": "Unknown",
    "clocks": "InsufficientSize",
    "ecc": "NoData",
    "pstate": "LibRmVersionMismatch",
    "utilization": "InvalidArgument",
    "uuid": "Timeout",
    "pci": "NotReady",
}


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_odd_codes_drop_only_their_field(fake_nvml, cli, spawn, profile):
    child = spawn()
    spec = {
        "profile": profile,
        "gpus": [
            gpu(0, errors=ODD, compute=[{"pid": child.pid, "mem": GiB}]),
            gpu(1, errors={"compute_processes": "Timeout", "graphics_processes": "NotReady"}),
        ],
    }
    fake_nvml(spec)
    g0, g1 = snapshot(cpu_interval=0).gpus
    assert g0.error is None and g1.error is None
    assert g0.temperature_gpu_celsius is None and g0.power_draw_watts is None
    assert g0.memory_used_bytes is None and g0.fan_speed_percent is None
    assert g0.uuid is None and g0.pci_bus_id is None and g0.performance_state is None
    assert g0.name == "NVIDIA A100-SXM4-80GB" and g0.power_limit_watts == 400.0
    assert [p.pid for p in g0.processes] == [child.pid]
    assert g0.ghost_memory_bytes is None  # used memory unknown
    assert g1.processes is None  # unknown, not "no processes"
    result = cli("gpu", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["gpus"][0]["temperature_gpu_celsius"] is None


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_undecodable_names_never_raise(fake_nvml, cli, profile):
    fake_nvml(
        {
            "profile": profile,
            "driver": b"555.42.\xff",
            "gpus": [gpu(0, name=b"NVIDIA GeForce RTX 4090 \xe4\xff", uuid=b"GPU-\xc3(")],
        }
    )
    snap = snapshot(cpu_interval=0)
    (g,) = snap.gpus
    assert g.name == "NVIDIA GeForce RTX 4090 \ufffd\ufffd" and g.uuid == "GPU-\ufffd("
    assert snap.driver_version == "555.42.\ufffd"
    result = cli("gpu")
    assert result.exit_code == 0 and "RTX 4090" in result.stdout


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_lost_and_unopenable_gpus_are_error_rows(fake_nvml, cli, profile):
    fake_nvml(
        {
            "profile": profile,
            "gpus": [gpu(0, lost=True), gpu(1, errors={"handle": "NoPermission"}), gpu(2)],
        }
    )
    g0, g1, g2 = snapshot(cpu_interval=0).gpus
    assert g0.error.startswith("GPU has fallen off the bus")
    assert g1.error == "NVML error: Insufficient Permissions"
    assert g2.error is None and g2.processes == []
    result = cli("gpu", "--json")
    assert result.exit_code == ExitCode.PARTIAL
    assert len(json.loads(result.stdout)["gpus"]) == 3
    result = cli("gpu", "pick", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["indices"] == [2]


def mig_spec(profile, pids, *, root, **kw):
    migs = [
        {"name": "NVIDIA A100 1g.10gb", "uuid": "MIG-aaaa", "gi": 7, "ci": 0,
         "mem_total": 10 * GiB, "mem_used": 3 * GiB},
        {"name": "NVIDIA A100 3g.40gb", "uuid": "MIG-bbbb", "gi": 1, "ci": 0,
         "mem_total": 40 * GiB, "mem_used": GiB, **kw},
    ]  # fmt: skip
    a, b = pids
    compute = [
        {"pid": a, "mem": 2 * GiB + 300 * MiB, "gi": 7, "ci": 0},
        {"pid": b, "mem": GiB, "gi": 1, "ci": 0},
    ]
    return {
        "profile": profile,
        "root": root,
        "gpus": [
            gpu(0, mig=[1, 1], mig_devices=migs, mem_used=4 * GiB, mem_reserved=0, compute=compute)
        ],
    }


@pytest.mark.parametrize("root", [False, True])
@pytest.mark.parametrize("profile", MIG_PROFILES)
def test_mig_processes_are_read_per_instance(fake_nvml, spawn, profile, root):
    a, b = spawn().pid, spawn().pid
    fake_nvml(mig_spec(profile, (a, b), root=root))
    (g,) = snapshot(cpu_interval=0).gpus
    got = {p.pid: (p.gpu_memory_bytes, p.gpu_instance_id, p.user) for p in g.processes}
    assert got == {a: (2 * GiB + 300 * MiB, 7, ME), b: (GiB, 1, ME)}
    # 4 GiB used, 3.3 GiB held by the two processes
    assert g.ghost_memory_bytes == 4 * GiB - (3 * GiB + 300 * MiB)
    assert sorted(gpu_pids()) == sorted([a, b])


@pytest.mark.parametrize("profile", MIG_PROFILES)
def test_mig_aggregate_as_root_has_no_memory_so_no_ghost(fake_nvml, spawn, profile):
    """Instances that cannot be read: root's aggregate view lists pids, memory N/A."""
    a, b = spawn().pid, spawn().pid
    errors = {"compute_processes": "NotSupported", "graphics_processes": "NotSupported"}
    spec = mig_spec(profile, (a, b), root=True)
    for m in spec["gpus"][0]["mig_devices"]:
        m["errors"] = errors
    fake_nvml(spec)
    (g,) = snapshot(cpu_interval=0).gpus
    assert {p.pid: p.gpu_memory_bytes for p in g.processes} == {a: None, b: None}
    assert g.ghost_memory_bytes is None  # not "4 GiB of ghost memory"


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_every_subcommand_on_every_profile_real_process(profile, tmp_path):
    """The real CLI in a subprocess: pynvml's own CDLL("libnvidia-ml.so.1") loads the double."""
    spec = {
        "profile": profile,
        "gpus": [gpu(0, compute=[{"pid": HIDDEN, "mem": GiB}], mem_used=GiB), gpu(1)],
    }
    snap = fake_cli(spec, "gpu", "--json")
    assert snap.returncode == 0, snap.stderr
    doc = json.loads(snap.stdout)
    assert doc["driver_version"] == PROFILES[profile][0]
    assert [p["pid"] for p in doc["gpus"][0]["processes"]] == [HIDDEN]
    pick = fake_cli(spec, "gpu", "pick", "--json")
    assert pick.returncode == 0 and json.loads(pick.stdout)["indices"] == [1], pick.stderr
    for args in (("gpu", "topo", "--json"), ("gpu", "kill", "--gpu", "0", "--json")):
        out = fake_cli(spec, *args)
        assert out.returncode == 0, out.stderr
        json.loads(out.stdout)
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_bindings_version_is_within_the_tested_range():
    """pyproject's lower bound is the version CI tests (tests on the old-bindings stage)."""
    from importlib.metadata import version

    from tests.conftest import REPO

    text = (REPO / "pyproject.toml").read_text()
    assert '"nvidia-ml-py>=12.535.77"' in text
    major, minor, patch = (int(x) for x in version("nvidia-ml-py").split(".")[:3])
    assert (major, minor, patch) >= (12, 535, 77)
    assert hasattr(pynvml, "_nvmlGetFunctionPointer") and hasattr(pynvml, "nvmlLib")


# ---- --json on failure, and the shell idioms of `gpu pick` -------------------------


@pytest.mark.parametrize(
    "args",
    [("gpu", "--json"), ("gpu", "pick", "--json"), ("gpu", "topo", "--json"),
     ("gpu", "kill", "--gpu", "0", "--json")],
)  # fmt: skip
def test_json_document_without_a_driver(args):
    out = fake_cli({"gpus": [], "init_error": "DriverNotLoaded"}, *args)
    assert out.returncode == ExitCode.NO_GPU, out.stderr
    doc = json.loads(out.stdout)
    assert doc["error"].startswith("no usable NVIDIA driver")


def test_pick_json_when_no_gpu_qualifies_names_the_reasons(fake_nvml, cli):
    fake_nvml({"gpus": [gpu(0, util_gpu=99)]})
    result = cli("gpu", "pick", "--json")
    assert result.exit_code == ExitCode.UNAVAILABLE
    doc = json.loads(result.stdout)
    assert doc["cuda_visible_devices"] is None and doc["error"].startswith("0 of 1 GPUs")
    assert doc["candidates"][0]["reasons"] == ["utilization 99% > 10%"]


BASH = shutil.which("bash")


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(
    "idiom",
    [
        "vars=$(mltools gpu pick) || exit; export $vars",
        "export $(mltools gpu pick)",
        'eval "$(mltools gpu pick)"',
    ],
)
@pytest.mark.parametrize("free", [True, False])
def test_pick_shell_idioms_fail_loudly_in_real_bash(tmp_path, idiom, free):
    """README's idiom (and the two older ones) in a real bash: set or fail, never silently."""
    from tests._gpu_fixtures import FAKE_RUN
    from tests.conftest import mltools_env

    spec = {"gpus": [gpu(0, util_gpu=0 if free else 99)]}
    shim = tmp_path / "mltools"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_RUN}" "$@"\n')
    shim.chmod(0o755)
    script = f'set -e\n{idiom}\necho "visible=$CUDA_VISIBLE_DEVICES order=$CUDA_DEVICE_ORDER"\n'
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps(spec)})
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.pop("CUDA_DEVICE_ORDER", None)
    out = subprocess.run(
        [BASH, "-c", script], capture_output=True, text=True, env=env, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if free:
        assert out.returncode == 0, out.stderr
        assert out.stdout == "visible=0 order=PCI_BUS_ID\n"
    else:
        assert out.returncode != 0
        assert "visible=" not in out.stdout
        assert "0 of 1 GPUs qualify" in out.stderr


def build_lib(profile: str) -> ctypes.CDLL:
    return ctypes.CDLL(str(build(profile)))


# ---- every symbol x every odd answer: never a traceback ------------------------------

_SYMBOLS = sorted(
    set(re.findall(r"\b(nvml[A-Z]\w+)\(", SOURCE.read_text()))
    | {f"nvmlDevice{k}" for k in re.findall(r"PROCS\(nvmlDevice(\w+),", SOURCE.read_text())}
)
# what NVML may answer besides success; 77 is a code these bindings do not know
# (NotReady, ArgumentVersionMismatch, Unknown ... take Timeout's path; the others are
# special cases somewhere in mltools or the bindings)
_ODD_CODES = ["Timeout", "NoPermission", "FunctionNotFound", "InsufficientSize", "GpuIsLost",
              "Uninitialized", 77]  # fmt: skip


def _every_path() -> None:
    """snapshot, pick, kill preview, topology and hang discovery: only typed errors."""
    from mltools.cli._output import to_jsonable
    from mltools.errors import MltoolsError

    try:
        snap = snapshot(cpu_interval=0)
    except MltoolsError:
        snap = None
    if snap is not None:  # (the kill preview is a filter over this snapshot)
        json.dumps(to_jsonable(snap))
        with contextlib.suppress(MltoolsError):
            select_gpus(1, snap=snap, use_topology=False)
    with contextlib.suppress(MltoolsError):
        json.dumps(to_jsonable(gpu_topology()))
    gpu_pids()


@pytest.mark.slow
@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_no_nvml_answer_on_any_symbol_raises_untyped(monkeypatch, tmp_path, profile):
    """Each exported C symbol in turn answers each odd code, on a busy MIG GPU and a plain one.

    Only mltools' typed errors (no driver, NVML unusable) may come out; every
    other answer drops a field, a process list or a GPU to an error row.
    """
    exported = [s for s in _SYMBOLS if hasattr(build_lib(profile), s)]
    assert "nvmlDeviceGetComputeRunningProcesses" in exported
    a, b, c = HIDDEN, HIDDEN + 1, HIDDEN + 2  # pids psutil answers fast (not here)
    migs = [{"uuid": "MIG-a", "gi": 1, "ci": 0, "mem_total": 10 * GiB, "mem_used": GiB}]
    # every code on the oldest, the 32-byte and the newest profile; three elsewhere
    codes = _ODD_CODES if profile in ("r440", "r535_54", "r550") else ["GpuIsLost", "Timeout", 77]
    for symbol in exported:
        for code in codes:
            value = code if isinstance(code, int) else CODES[code]
            spec = {
                "profile": profile,
                "root": False,
                "gpus": [
                    gpu(0, compute=[{"pid": a, "mem": GiB}, {"pid": b, "mem": 2 * GiB}],
                        raw_errors={symbol: value}),
                    gpu(1, mig=[1, 1], mig_devices=migs, compute=[{"pid": c, "mem": GiB, "gi": 1}],
                        raw_errors={symbol: value}),
                ],
                "raw_system_errors": {symbol: value},
            }  # fmt: skip
            install(monkeypatch, spec, spec_path=tmp_path / "spec.txt")
            try:
                _every_path()
            except Exception as exc:  # pragma: no cover - the failure message
                raise AssertionError(f"{profile}: {symbol} -> {code}: {exc!r}") from exc
