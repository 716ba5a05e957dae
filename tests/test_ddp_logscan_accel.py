"""`ddp-doctor log` on other accelerators' and collective libraries' words (issue 23, [fresh21]).

The twenty-first blind round came from non-NVIDIA stacks: Ascend NPUs (torch_npu, HCCL), AMD
ROCm (RCCL, the HIP runtime), Intel XPUs and CPUs (oneCCL, level_zero), Habana Gaudi, gloo on
Windows. Their logs name the failures the catalogue knows (a collective timed out, the
transport could not be set up, the device ran out of memory, a kernel faulted) in their own
words; each case below is one such wording, as those logs print it.
"""

from __future__ import annotations

import pytest

from mltools.ddp.logscan import analyze_text


def _first(text: str) -> str | None:
    findings = analyze_text(text).findings
    return findings[0].id if findings else None


# HCCL's words for a collective that timed out, and the Ascend runtime's task timeout
HCCL_TIMEOUTS = {
    "ei0006-peer-never-sent": "EI0006: 2024-08-05-18:15:21.270.506 Getting socket times out. "
    "Reason: Remote Rank did not send the data in time. Please check the reason for the rank "
    "being stuck",
    "ei0002-notify-wait": "EI0002: The wait execution of the Notify register times out. Reason: "
    "The Notify register has not received the Notify record from remote rank [4294967295].",
    "runtime-task-timeout": "worker-1:         rtDeviceSynchronize execute failed, reason=[task "
    "timeout][FUNC:FuncErrorReason][FILE:error_message_manage.cc][LINE:53]",
}


@pytest.mark.parametrize("line", list(HCCL_TIMEOUTS.values()), ids=list(HCCL_TIMEOUTS))
def test_hccl_timeout_wordings_are_a_collective_timeout(line):
    assert _first(line + "\n") == "nccl_timeout"


def test_torch_npu_exception_that_wraps_the_hccl_call_gives_way_to_its_reason():
    """torch_npu raises 'OPS function error: HcclAllreduce, error code is 6' and prints the
    reason (HCCL's EI0006 timeout) on the lines after it: the timeout is the answer."""
    log = (
        "[rank1]:     work = group.allreduce([tensor], opts)\n"
        "[rank1]: RuntimeError: InnerRunOpApi:torch_npu/csrc/framework/OpParamMaker.cpp:281 OPS "
        "function error: HcclAllreduce, error code is 6\n"
        "[rank1]: [ERROR] 2025-04-08-18:07:20 (PID:1292363, Device:1, RankID:1) ERR01100 OPS "
        "call acl api failed.\n"
        "[rank1]: EI0006: [PID: 1292363] 2025-04-08-18:07:20.444.436 Getting socket times out. "
        "Reason: Remote Rank did not send the data in time. Please check the reason for the "
        "rank being stuck\n"
    )
    report = analyze_text(log)
    assert [f.id for f in report.findings] == ["nccl_timeout"]
    assert report.findings[0].rank == 1


def test_an_exception_that_wraps_an_hccl_call_is_still_the_answer_when_nothing_explains_it():
    log = (
        "RuntimeError: create_config:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:148 HCCL "
        "function error: hcclCommInitRootInfoConfig(numRanks, &rootInfo, rank, config, &(\n"
    )
    assert _first(log) == "rank_exception"


# other collective libraries could not set up their transport
SETUP_FAILURES = {
    "hccl-communicator": "[ERROR] HCCL(36035,mindie_llm_backend_connector):2025-05-13-02:25:58"
    ".068.817 [op_base.cc:974][36818][Init][CommRootInfoConfig]errNo[0x0000000005000002]"
    "HcclCommInitRootInfo failed.",
    "hccl-runner": "[2025-05-13 02:25:58.64217] [error] [36815] [hccl_runner.cpp:132] "
    "AllGatherHcclRunner:0 HcclCommInitRootInfo fail, error:2, rank:1, rankSize:4",
    "hccl-connect": "[PID: 749] 2025-12-29-03:16:15.787.356 Get_Socket_Timeout(EI0006): Getting "
    "socket times out. Reason: 1. The remote does not initiate a connect request. some NPUs in "
    "the cluster are abnormal.",
    "oneccl-provider": "2024:08:21-10:24:26:( 4456) |CCL_ERROR| atl_ofi.cpp:243 init: can't find "
    "suitable provider",
    "oneccl-network-providers": "2025:05:23-19:04:20:(168955) |CCL_ERROR| atl_ofi_helper.cpp:1635"
    " atl_ofi_open_nw_provs: can not open network providers",
    "oneccl-atl": "failed to initialize ATL",
    "gloo-device": "RuntimeError: GlooDeviceFactory::makeUVDevice(): interface or hostname "
    "can't be empty",
}


@pytest.mark.parametrize("line", list(SETUP_FAILURES.values()), ids=list(SETUP_FAILURES))
def test_other_collective_libraries_setup_failures_are_a_system_error(line):
    assert _first(line + "\n") == "nccl_system_error"


def test_oneccl_setup_failure_comes_before_the_segfault_it_caused():
    log = (
        "2025:05:23-19:04:20:(168955) |CCL_ERROR| atl_ofi.cpp:237 init: can't find suitable "
        "provider\n"
        "[hedp017:168955:0:168955] Caught signal 11 (Segmentation fault: address not mapped to "
        "object at address 0x8)\n"
    )
    assert [f.id for f in analyze_text(log).findings][:2] == ["nccl_system_error", "segfault"]


def test_hccl_port_in_use_is_address_in_use():
    log = (
        "[ERROR] HCCL(2717288,python3):2025-07-23-03:47:57.070.463 [hccl_socket.cc:100] "
        "[2717288][HcclSocket][Listen] socket type[1], listen on ip[192.168.20.160] and specific "
        "port[16666] fail. Please check the port status and whether the port is been using by "
        "other process.\n"
        "[ERROR] HCCL(2717288,python3):2025-07-23-03:49:57.177.194 [hccl_socket_manager.cc:778] "
        "[2734049][Wait][LinkEstablish]wait socket establish timeout, role[1] rank[12] "
        "timeout[120]\n"
    )
    assert _first(log) == "address_in_use"


# device memory ran out, in Ascend's, Intel's and Gaudi's words
OUT_OF_MEMORY = {
    "ascend-code-in-parentheses": "[ERROR] RecentErrMsg: [PID: 1613532] 2026-03-24-12:14:45."
    "885.234 Memory_Allocation_Failure(EL0004): Failed to allocate memory.",
    "level-zero": "level_zero backend failed with error: 39 (UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY)",
    "native-api": "RuntimeError: Native API failed. Native API returns: 39 "
    "(UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY)",
    "ur-resources": "[0] [rank0]: RuntimeError: UR backend failed. UR backend returns:40 "
    "(UR_RESULT_ERROR_OUT_OF_RESOURCES)",
    "gaudi-workspace": "RuntimeError: FATAL ERROR :: MODULE:SYNHELPER workspace Allocation of "
    "size ::14493510400 failed!",
}


@pytest.mark.parametrize("line", list(OUT_OF_MEMORY.values()), ids=list(OUT_OF_MEMORY))
def test_other_accelerators_out_of_memory_wordings(line):
    assert _first(line + "\n") == "cuda_oom"


def test_rocm_page_fault_is_an_illegal_memory_access():
    log = (
        "[aln_core] cuda_inexact_match_caller..Memory access fault by GPU node-4 (Agent handle: "
        "0x10451e0) on address (nil). Reason: Page not present or supervisor privilege.\n"
    )
    assert _first(log) == "illegal_memory_access"


def test_rocm_gpu_hang_is_a_hardware_fault():
    log = (
        " 41%|####      | 366/903 [5:15:39<6:53:09, 46.16s/it]HW Exception by GPU node-9 "
        "(Agent handle: 0x631351bb5a20) reason :GPU Hang\n"
        "HW Exception by GPU node-9 (Agent handle: 0x64ff272d8ab0) reason :GPU Hang\n"
        "Aborted (core dumped)\n"
    )
    assert _first(log) == "gpu_hardware"


def test_native_errors_of_other_runtimes_are_never_silent():
    psm3 = "machine:rank1: Assertion failure at psm3/ptl_am/ptl.c:196: nbytes == req->req_data\n"
    ccl = (
        "2023:11:28-16:35:45:(35980) |CCL_ERROR| base_thread.cpp:36 start: error while "
        "creating worker thread #0 pthread_create returns 22\n"
    )
    assert _first(psm3) == "rank_failed"
    assert _first(ccl) == "rank_failed"


def test_healthy_lines_with_the_same_words_stay_quiet():
    """oneCCL's warnings, HCCL's timeout settings echoed at start-up, a ROCm device listing
    and a memory-pool report are no failure."""
    log = (
        "2023:11:28-16:35:45:(35980) |CCL_WARN| did not find MPI-launcher specific variables, "
        "switch to ATL/OFI, to force enable ATL/MPI set CCL_ATL_TRANSPORT=mpi\n"
        "export HCCL_EXEC_TIMEOUT=1800 HCCL_CONNECT_TIMEOUT=1200\n"
        "NPU memory: 60.96 GiB total, 2.10 GiB allocated by PyTorch\n"
        "Agent 2: gfx90a GPU node-2 ready\n"
        "{'loss': 0.4589, 'grad_norm': 1.04, 'learning_rate': 5.28e-06, 'epoch': 1.22}\n"
    )
    assert analyze_text(log).findings == []


# ---- [fresh22] (cluster and launcher layers): launchers that never started the job ---------


LAUNCHER_REFUSALS = {
    "openmpi-slots": "-----------------------------------------------------------------------"
    "---\nThere are not enough slots available in the system to satisfy the 8 slots \nthat were "
    "requested by the application:\n  python\n",
    "pdsh-ssh": "localhost: ssh: connect to host localhost port 22: Connection refused\n",
}


@pytest.mark.parametrize("log", list(LAUNCHER_REFUSALS.values()), ids=list(LAUNCHER_REFUSALS))
def test_a_launcher_that_could_not_start_the_job_is_never_silent(log):
    assert _first(log) == "rank_failed"


def test_ssh_and_slot_words_of_a_healthy_launch_stay_quiet():
    log = (
        "Data for JOB [43521,1] offset 0 Total slots allocated 8\n"
        "localhost: ssh: key fingerprint is SHA256:abc (ED25519)\n"
        "[2024-01-31 19:05:36,587] [INFO] [runner.py:585:main] cmd = pdsh -S -f 1024 -w "
        "worker-1,worker-2 export NCCL_DEBUG=WARN\n"
    )
    assert analyze_text(log).findings == []


def test_slurms_error_report_is_read_when_indented():
    log = "    srun: error: Task launch for 36.0 failed on node cn131: Job credential expired\n"
    assert _first(log) == "rank_failed"


def test_a_traceback_cut_inside_the_agents_rendezvous_store_call_points_at_the_rendezvous():
    """The elastic agent's traceback through its c10d rendezvous backend, cut at 'raise'
    before the error line: the rendezvous is where it failed (weak evidence)."""
    prefix = "(CommandActor pid=552, ip=10.130.6.168) "
    site = "/home/ray/anaconda3/lib/python3.9/site-packages/torch/distributed/elastic/rendezvous"
    log = "".join(
        prefix + line + "\n"
        for line in (
            f'  File "{site}/dynamic_rendezvous.py", line 408, in sync',
            "    get_response = self._backend.get_state()",
            f'  File "{site}/c10d_rendezvous_backend.py", line 115, in _call_store',
            "    raise",
        )
    )
    assert _first(log) == "rendezvous_timeout"


def test_a_cpp_record_with_its_backtrace_flattened_onto_one_line_is_read_as_its_lines():
    """[fresh22]: a TCPStore record, its 'Exception raised from' and its frames on ONE line
    (newlines lost in the paste) reads as the multi-line record it was: never silent."""
    log = (
        "[W822 03:54:49.636977195 TCPStore.cpp:125] [c10d] recvValue failed on SocketImpl(fd=15,"
        " addr=[node-0-1]:60560, remote=[node-0-0]:29500): failed to recv, got 0 bytes Exception"
        " raised from recvBytes at /pytorch/torch/csrc/distributed/c10d/Utils.hpp:678 (most "
        "recent call first): frame #0: c10::Error::Error(c10::SourceLocation, std::string) + "
        "0x98 (0x7f0ec5b785e8 in /opt/conda/lib/python3.11/site-packages/torch/lib/libc10.so) "
        "frame #1: <unknown function> + 0x5ba8afe (0x7f0eaf9a8afe in /opt/conda/lib/python3.11/"
        "site-packages/torch/lib/libtorch_cpu.so)\n"
    )
    assert _first(log) == "rank_failed"


def test_nccls_refusal_to_be_graph_captured_names_the_versions():
    """[fresh19] (c15's held-out round): NCCL's warning that its build or the driver is too old
    for CUDA-graph capture is version evidence (the thread: a pip NCCL built for CUDA 11.0
    under CUDA 11.6)."""
    log = (
        "NCCL：NCCL version 2.19.3+cuda11.0\n"
        "error：\n"
        "NCCL WARN NCCL cannot be captured in a graph if either it wasn't built with CUDA runtime"
        " >= 11.3 or if the installed CUDA driver < R465.\n"
    )
    assert _first(log) == "version_mismatch"


def test_hccl_communicator_setup_through_the_store_reads_as_nccls():
    """torch_npu fetches HCCL's unique id through the c10d store as torch does NCCL's: the
    store wait that failed points at the rendezvous (weak), as it does for NCCL."""
    log = (
        "(VllmWorkerProcess pid=53843) ERROR 12-17 09:32:03 [multiproc_worker_utils.py:239] "
        "RuntimeError: [1] is setting up HCCL communicator and retrieving hcclUniqueId from [0] "
        "via c10d key-value store by key '0', but store->get('0') got error: failed to recv, "
        "got 0 bytes\n"
    )
    nccl = log.replace("HCCL", "NCCL").replace("hcclUniqueId", "ncclUniqueId")
    assert _first(log) == _first(nccl) == "rendezvous_timeout"
