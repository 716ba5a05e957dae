"""The library snapshot against the fake NVML: fields, n/a, lost GPUs, process APIs, MIG, ghosts."""

from __future__ import annotations

import os

import pynvml
import pytest

from mltools.errors import ExitCode, MltoolsError, NoGPUError
from mltools.gpu import GPU, GPUProcess, NoDriverError, procinfo, snapshot
from mltools.gpu.procinfo import apply_environ, parse_cgroup
from mltools.gpu.snapshot import ghost_memory
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, MiB, gpu

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn


def test_the_real_bindings_raise_their_own_classes_from_the_c_double(fake_nvml):
    fake_nvml({"gpus": [gpu(0, lost=True), gpu(1, not_supported=["fan"])]})
    pynvml.nvmlInit()
    try:
        with pytest.raises(pynvml.NVMLError_GpuIsLost):
            pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        with pytest.raises(pynvml.NVMLError_NotSupported):
            pynvml.nvmlDeviceGetFanSpeed(pynvml.nvmlDeviceGetHandleByIndex(1))
    finally:
        pynvml.nvmlShutdown()


def test_every_field(fake_nvml):
    fake_nvml(
        {
            "gpus": [
                gpu(
                    0,
                    util_gpu=87,
                    util_mem=41,
                    mem_used=30 * GiB,
                    temp=71,
                    power_mw=312_500,
                    fan=55,
                    clock_sm=1410,
                    pstate=2,
                    throttle=0x1 | 0x4 | 0x40,
                    ecc_uncorrected=3,
                    persistence=0,
                    compute_mode=3,
                    display_active=1,
                )
            ]
        }
    )
    snap = snapshot(cpu_interval=0)
    assert snap.schema_version == 1
    assert (snap.driver_version, snap.cuda_driver_version) == ("550.54.15", "12.4")
    (g,) = snap.gpus
    assert g.index == 0 and g.name == "NVIDIA A100-SXM4-80GB"
    assert g.uuid == "GPU-00000000-1111-2222-3333-444455556666"
    assert g.pci_bus_id == "00000000:10:00.0"
    assert (g.utilization_gpu_percent, g.utilization_memory_percent) == (87, 41)
    assert g.memory_used_bytes == 30 * GiB
    assert g.memory_total_bytes == 80 * GiB
    assert g.memory_free_bytes == 50 * GiB - 512 * MiB
    assert g.memory_reserved_bytes == 512 * MiB
    assert g.temperature_gpu_celsius == 71
    assert (g.power_draw_watts, g.power_limit_watts) == (312.5, 400.0)
    assert g.fan_speed_percent == 55
    assert (g.clock_sm_mhz, g.clock_memory_mhz) == (1410, 1593)
    assert g.performance_state == "P2"
    assert g.throttle_reasons == ["sw_power_cap", "hw_thermal_slowdown"]
    assert g.ecc_errors_uncorrected_volatile == 3
    assert g.persistence_mode is False and g.mig_mode is False
    assert (g.compute_mode, g.display_active) == ("exclusive_process", True)
    assert (g.utilization_encoder_percent, g.utilization_decoder_percent) == (21, 10)
    assert g.processes == [] and g.ghost_memory_bytes == 30 * GiB
    assert g.error is None


def test_not_supported_and_no_permission_fields_are_none(fake_nvml):
    unsupported = ["fan", "power", "ecc", "utilization", "throttle", "persistence", "mig", "clocks"]
    fake_nvml({"gpus": [gpu(0, not_supported=unsupported, no_permission=["temperature"])]})
    (g,) = snapshot(cpu_interval=0).gpus
    assert g.error is None
    assert g.name == "NVIDIA A100-SXM4-80GB"
    for name in (
        "fan_speed_percent",
        "power_draw_watts",
        "ecc_errors_uncorrected_volatile",
        "utilization_gpu_percent",
        "throttle_reasons",
        "persistence_mode",
        "mig_mode",
        "clock_sm_mhz",
        "temperature_gpu_celsius",
    ):
        assert getattr(g, name) is None, name
    assert g.power_limit_watts == 400.0


def test_lost_gpu_is_an_error_row_and_the_others_still_read(fake_nvml):
    fake_nvml({"gpus": [gpu(0), gpu(1, lost=True), gpu(2, mem_used=GiB)]})
    gpus = snapshot(cpu_interval=0).gpus
    assert [g.index for g in gpus] == [0, 1, 2]
    assert gpus[1].error == "GPU has fallen off the bus (NVML: GPU is lost)"
    assert gpus[1].memory_used_bytes is None and gpus[1].processes is None
    assert gpus[0].error is None and gpus[2].memory_used_bytes == GiB


def test_lost_only_during_process_listing(fake_nvml):
    fake_nvml({"gpus": [gpu(0), gpu(1, errors={"compute_processes": "GpuIsLost"})]})
    gpus = snapshot(cpu_interval=0).gpus
    assert gpus[0].error is None
    assert gpus[1].error.startswith("GPU has fallen off the bus")
    assert gpus[1].pci_bus_id == "00000000:20:00.0"


@pytest.mark.parametrize("init_error", ["LibraryNotFound", "DriverNotLoaded", "NoPermission"])
def test_no_driver_raises_no_gpu_error(fake_nvml, init_error):
    fake_nvml({"gpus": [], "init_error": init_error})
    with pytest.raises(NoDriverError) as info:
        snapshot()
    assert isinstance(info.value, NoGPUError)
    assert info.value.exit_code == ExitCode.NO_GPU
    assert info.value.message.startswith("no usable NVIDIA driver: ")
    assert "driver" in info.value.hint


def test_unexpected_nvml_error_is_a_one_line_error(fake_nvml):
    double = fake_nvml({"gpus": [gpu(0)], "system_errors": {"nvmlDeviceGetCount_v2": "Unknown"}})
    with pytest.raises(MltoolsError) as info:
        snapshot()
    assert info.value.message == "NVML error: Unknown Error"
    assert double.init_count() == 0


def test_session_is_closed_after_snapshot(fake_nvml):
    double = fake_nvml({"gpus": [gpu(0), gpu(1, lost=True)]})
    snapshot(cpu_interval=0)
    assert double.init_count() == 0


@pytest.mark.parametrize("api", ["v3", "v2", "legacy"])
def test_process_list_variants_with_real_processes(fake_nvml, spawn, api):
    a = spawn(env={"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0"})
    b = spawn()
    compute = [{"pid": a.pid, "mem": 3 * GiB, "sm": 73}, {"pid": b.pid, "mem": GiB}]
    graphics = [{"pid": b.pid, "mem": GiB}]
    fake_nvml(
        {
            "process_api": api,
            "gpus": [gpu(0, mem_used=4 * GiB, compute=compute, graphics=graphics)],
        }
    )
    (g,) = snapshot(cpu_interval=0.05).gpus
    by_pid = {p.pid: p for p in g.processes}
    assert set(by_pid) == {a.pid, b.pid}
    pa, pb = by_pid[a.pid], by_pid[b.pid]
    assert pa.type == "compute" and pb.type == "compute+graphics"
    assert pa.gpu_memory_bytes == 3 * GiB
    assert (pa.gpu_sm_percent, pb.gpu_sm_percent) == (73, None)
    assert pa.visible and pa.command == "sleep 300"
    import getpass

    assert pa.user == getpass.getuser()
    assert pa.host_memory_rss_bytes > 0
    assert pa.running_seconds >= 0
    assert pa.cpu_percent is not None and pa.cpu_percent >= 0
    assert (pa.slurm_job_id, pa.slurm_step) == ("4242", "0")
    assert pa.label == "slurm:4242.0"
    assert pb.slurm_job_id is None
    # without nvmlDeviceGetMemoryInfo_v2 (before R510) "used" includes the driver's
    # reservation, which then shows as memory no process claims
    assert g.ghost_memory_bytes == (0 if api == "v3" else 512 * MiB)


def test_process_utilization_not_found_or_odd_error_is_none(fake_nvml, spawn, monkeypatch):
    child = spawn()
    fake_nvml({"gpus": [gpu(0, mem_used=GiB, compute=[{"pid": child.pid, "mem": GiB}])]})
    (p,) = snapshot(cpu_interval=0).gpus[0].processes  # no samples: NVMLError_NotFound
    assert p.gpu_sm_percent is None

    def success_without_samples(handle, ts):
        raise pynvml.NVMLError(0)  # what the bindings raise when NVML has zero samples

    monkeypatch.setattr(pynvml, "nvmlDeviceGetProcessUtilization", success_without_samples)
    (g,) = snapshot(cpu_interval=0).gpus
    assert g.error is None and g.processes[0].gpu_sm_percent is None


def test_cpu_percent_without_a_window_is_none_then_known(fake_nvml, spawn):
    child = spawn()
    fake_nvml({"gpus": [gpu(0, mem_used=GiB, compute=[{"pid": child.pid, "mem": GiB}])]})
    first = snapshot(cpu_interval=0).gpus[0].processes[0]
    second = snapshot(cpu_interval=0).gpus[0].processes[0]
    assert first.cpu_percent is None
    assert second.cpu_percent is not None


def test_one_cpu_window_for_all_gpus(fake_nvml, spawn, monkeypatch):
    """8 GPUs with processes: one sleep in total (gpustat sleeps once per GPU)."""
    children = [spawn() for _ in range(8)]
    gpus = [
        gpu(i, mem_used=2 * GiB, compute=[{"pid": c.pid, "mem": 2 * GiB}])
        for i, c in enumerate(children)
    ]
    fake_nvml({"gpus": gpus})
    sleeps: list[float] = []
    monkeypatch.setattr(procinfo.time, "sleep", sleeps.append)
    snap = snapshot(cpu_interval=0.1)
    assert sleeps == [0.1]
    assert [len(g.processes) for g in snap.gpus] == [1] * 8


def test_ghost_memory_from_other_namespaces_and_leaks(fake_nvml, spawn):
    child = spawn()
    hidden_pid = 4_000_000  # above any pid on this host (pid_max is 4194304 at most)
    assert not os.path.exists(f"/proc/{hidden_pid}")
    compute = [{"pid": child.pid, "mem": 2 * GiB}, {"pid": hidden_pid, "mem": GiB}]
    fake_nvml({"gpus": [gpu(0, mem_used=4 * GiB, compute=compute)]})
    (g,) = snapshot(cpu_interval=0).gpus
    hidden = next(p for p in g.processes if p.pid == hidden_pid)
    assert hidden.visible is False and hidden.user is None and hidden.gpu_memory_bytes == GiB
    # 4 GiB used, 2 GiB held by a visible process: 1 GiB hidden pid + 1 GiB unclaimed
    assert g.ghost_memory_bytes == 2 * GiB


def test_ghost_memory_unknown_when_processes_unknown():
    assert ghost_memory(GPU(index=0, memory_used_bytes=GiB, processes=None)) is None
    proc = GPUProcess(pid=1, type="compute", gpu_memory_bytes=2 * GiB, visible=True)
    assert ghost_memory(GPU(index=0, memory_used_bytes=GiB, processes=[proc])) == 0


def test_process_list_not_supported(fake_nvml):
    fake_nvml(
        {"gpus": [gpu(0, mem_used=GiB, not_supported=["compute_processes", "graphics_processes"])]}
    )
    (g,) = snapshot(cpu_interval=0).gpus
    assert g.processes is None and g.ghost_memory_bytes is None and g.error is None


def test_mig_devices_and_instance_ids(fake_nvml, spawn):
    child = spawn()
    migs = [
        {"name": "NVIDIA A100 1g.10gb", "uuid": "MIG-aaaa", "gi": 7, "ci": 0,
         "mem_total": 10 * GiB, "mem_used": 2 * GiB},
        {"name": "NVIDIA A100 3g.40gb", "uuid": "MIG-bbbb", "gi": 1, "ci": 0,
         "mem_total": 40 * GiB, "mem_used": 0},
    ]  # fmt: skip
    compute = [{"pid": child.pid, "mem": 2 * GiB, "gi": 7, "ci": 0}]
    fake_nvml({"gpus": [gpu(0, mig=[1, 1], mig_devices=migs, mem_used=2 * GiB, compute=compute)]})
    (g,) = snapshot(cpu_interval=0).gpus
    assert g.mig_mode is True
    assert g.utilization_gpu_percent is None  # NVML: not supported in MIG mode
    assert [(m.uuid, m.gpu_instance_id, m.memory_total_bytes) for m in g.mig_devices] == [
        ("MIG-aaaa", 7, 10 * GiB),
        ("MIG-bbbb", 1, 40 * GiB),
    ]
    (p,) = g.processes
    assert (p.gpu_instance_id, p.compute_instance_id) == (7, 0)


DOCKER_ID = "3f4e" * 16
POD_UID = "0b6c5f0e-8a8b-4c1e-9d7e-2f3a4b5c6d7e"


@pytest.mark.parametrize(
    ("text", "label", "runtime"),
    [
        (f"0::/system.slice/docker-{DOCKER_ID}.scope\n", f"docker:{DOCKER_ID[:12]}", "docker"),
        (f"12:memory:/docker/{DOCKER_ID}\n", f"docker:{DOCKER_ID[:12]}", "docker"),
        (
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
            f"{POD_UID.replace('-', '_')}.slice/cri-containerd-{DOCKER_ID}.scope\n",
            f"pod:{POD_UID}",
            "containerd",
        ),
        (
            f"11:devices:/kubepods/burstable/pod{POD_UID}/{DOCKER_ID}\n",
            f"pod:{POD_UID}",
            "containerd",
        ),
        (f"0::/machine.slice/libpod-{DOCKER_ID}.scope\n", f"podman:{DOCKER_ID[:12]}", "podman"),
        (f"0::/system.slice/crio-{DOCKER_ID}.scope\n", f"cri-o:{DOCKER_ID[:12]}", "cri-o"),
        ("4:cpuset:/slurm/uid_1000/job_98765/step_batch/task_0\n", "slurm:98765.batch", None),
        ("0::/system.slice/slurmstepd.scope/job_555/step_3/user/task_0\n", "slurm:555.3", None),
        ("0::/user.slice/user-1000.slice/session-3.scope\n", None, None),
    ],
)
def test_parse_cgroup(text, label, runtime):
    att = parse_cgroup(text)
    assert att.label == label
    assert att.container_runtime == runtime


def test_environment_names_the_pod():
    att = parse_cgroup(f"0::/kubepods/burstable/pod{POD_UID}/{DOCKER_ID}\n")
    apply_environ(att, {"HOSTNAME": "trainer-0", "POD_NAMESPACE": "ml"})
    assert att.label == "pod:ml/trainer-0"
    assert att.k8s_pod_uid == POD_UID


def test_attribution_of_an_unreadable_pid_is_empty():
    assert procinfo.attribution(4_000_000).label is None


def test_import_is_cheap():
    import subprocess
    import sys

    from tests.conftest import mltools_env

    code = "import sys, mltools.gpu; print(sorted({'pynvml','psutil','rich','typer'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_survives_gpustat_patching_pynvml(fake_nvml, monkeypatch):
    """gpustat replaces pynvml.nvmlDeviceGetMemoryInfo with a one-argument function."""
    fake_nvml({"gpus": [gpu(0, mem_used=GiB)]})
    original = pynvml.nvmlDeviceGetMemoryInfo
    monkeypatch.setattr(
        pynvml, "nvmlDeviceGetMemoryInfo", lambda handle: original(handle, pynvml.nvmlMemory_v2)
    )
    (g,) = snapshot(cpu_interval=0).gpus
    assert g.memory_used_bytes == GiB and g.error is None


def test_public_lazy_imports(fake_nvml):
    fake_nvml({"gpus": [gpu(0), gpu(1)], "ancestors": {"0,1": 10}})
    from mltools import gpu_topology as top
    from mltools import select_gpus as sel
    from mltools import snapshot as snap

    assert [g.index for g in snap().gpus] == [0, 1]
    assert sel(2).indices == [0, 1]
    assert top().links[0][1] == "PIX"
