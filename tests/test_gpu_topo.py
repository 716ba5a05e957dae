"""`gpu topo` / `gpu_topology`: link matrix, NVLink and NVSwitch, CPU affinity, NUMA."""

from __future__ import annotations

import json

from mltools.gpu import gpu_topology
from mltools.gpu.topology import cpu_ranges
from tests import _gpu_fixtures
from tests._fake_nvml import gpu

fake_nvml = _gpu_fixtures.fake_nvml

BUS = ["00000000:10:00.0", "00000000:20:00.0", "00000000:30:00.0", "00000000:40:00.0"]


def four_gpus() -> dict:
    return {
        "gpus": [
            gpu(0, nvlink={"0": BUS[1], "1": BUS[1], "2": BUS[1], "3": BUS[1]}, cpus=[0, 1, 2, 3], numa=0),
            gpu(1, nvlink={"0": BUS[0], "1": BUS[0], "2": BUS[0], "3": BUS[0]}, cpus=[0, 1, 2, 3], numa=0),
            gpu(2, cpus=[64, 65, 66, 67, 70], numa=1),
            gpu(3, lost=True),
        ],
        "ancestors": {"0,1": 20, "0,2": 50, "1,2": 50, "2,3": 10},
    }  # fmt: skip


def test_matrix_affinity_numa(fake_nvml):
    fake_nvml(four_gpus())
    topo = gpu_topology()
    assert topo.links == [
        ["X", "NV4", "SYS", None],
        ["NV4", "X", "SYS", None],
        ["SYS", "SYS", "X", None],
        [None, None, None, "X"],
    ]
    assert [g.cpu_affinity for g in topo.gpus] == ["0-3", "0-3", "64-67,70", None]
    assert [g.numa_node for g in topo.gpus] == [0, 0, 1, None]
    assert [g.nvlinks_active for g in topo.gpus] == [4, 4, 0, 0]
    assert topo.cost(0, 1) < topo.cost(0, 2) < topo.cost(0, 3)


def test_nvswitch_links_every_pair(fake_nvml):
    switch = {str(link): "switch" for link in range(12)}
    fake_nvml({"gpus": [gpu(i, nvlink=switch) for i in range(3)]})
    topo = gpu_topology()
    assert topo.links[0] == ["X", "NV12", "NV12"]
    assert topo.links[2][1] == "NV12"


def test_cpu_ranges():
    assert cpu_ranges([0]) == "0"
    assert cpu_ranges([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11"


def test_topo_cli(fake_nvml, cli):
    fake_nvml(four_gpus())
    result = cli("gpu", "topo")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["GPU0", "GPU1", "GPU2", "GPU3", "CPU", "AFFINITY", "NUMA"]
    assert lines[1].split() == ["GPU0", "X", "NV4", "SYS", "n/a", "0-3", "0"]
    assert lines[4].split() == ["GPU3", "n/a", "n/a", "n/a", "X", "n/a", "n/a"]
    assert "PIX = one PCIe switch" in result.stdout
    doc = json.loads(cli("gpu", "topo", "--json").stdout)
    assert doc["links"][0][1] == "NV4"
    assert doc["gpus"][2] == {
        "index": 2,
        "pci_bus_id": BUS[2],
        "cpu_affinity": "64-67,70",
        "numa_node": 1,
        "nvlinks_active": 0,
    }


def test_topo_without_driver(fake_nvml, cli):
    fake_nvml({"gpus": [], "init_error": "DriverNotLoaded"})
    result = cli("gpu", "topo")
    assert result.exit_code == 3
    assert result.stderr.startswith("mltools: error: no usable NVIDIA driver: Driver Not Loaded")
