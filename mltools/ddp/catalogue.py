"""The failure catalogue: one entry per known DDP failure, as data.

Each entry has a stable ``id``, ``patterns`` (regular expressions that survive
wording changes across torch/NCCL versions: several phrasings, anchored on the
stable part of each message), a ``role`` (``cause`` names a root cause,
``symptom`` is what a *victim* rank prints after another rank failed), the
``cause`` and ``fix`` in plain words, and a ``reference``. Optional keys:
``frames`` (patterns that also count when they appear in a traceback's ``File "..."``
line or a C++ backtrace's ``frame #N:`` line, e.g. the module that raised),
``weak_patterns`` (lines that point at the entry but are also what a victim prints, e.g.
NCCL's "remote process exited or there was a network error") and ``weak`` (True for an
entry whose every pattern is such evidence: a frame name, a return-code chain, a signal from
outside). Weak evidence ranks after every strong cause and before the generic fallbacks.
``advisory`` (True for an entry that is a warning: a real problem, but no failure by itself)
ranks after the failure a failed job shows, whatever that failure is.
``derived`` replaces ``patterns`` for an entry that no line names by itself: the analyser
makes it from other evidence (the text says from what).

Patterns are anchored on the short, stable start of a message (pasted logs are cut,
wrapped and glued to progress bars), carry the wording of several torch/NCCL eras, and
must keep a literal part: the analyser pre-selects candidate lines with ``grep -F`` on
those literals.

The analyser (``mltools.ddp.logscan``) reads only this table; adding an entry
needs no code.
"""

from __future__ import annotations

import re

CATALOGUE: tuple[dict[str, object], ...] = (
    {
        "id": "unused_parameters",
        "title": "DDP found parameters that received no gradient",
        "role": "cause",
        "patterns": [
            r"[Ee]xpected to have finished reduc",
            # (Lightning's own check says "computing the loss")
            r"parameters that were not used in (?:producing|computing) (?:the )?loss",
            r"(?:did not|didn't) receive grad(?:ient)? for rank",
            # MMEngine's detect_anomalous_params report names each such parameter
            r"with shape torch\.Size\(\[[\d, ]*\]\) is not in the computational graph",
            # Paddle's reducer says it in its own words ("Please set find_unused_parameters=True")
            r"Expected has_marked_unused_vars_ == false",
            r"Please set\s+find_unused_parameters\s*=\s*True",
        ],
        "cause": "Some parameters took no part in the loss on this step (an unused branch, "
        "a frozen head, an early return), so DDP's reducer waited for gradients that never came.",
        "fix": "Pass find_unused_parameters=True to DistributedDataParallel (costs a graph walk "
        "per step), or make every output feed the loss, or freeze unused parameters "
        "(requires_grad=False) before wrapping. TORCH_DISTRIBUTED_DEBUG=INFO names the parameters.",
        "reference": "https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html",
    },
    {
        "id": "mark_ready_twice",
        "title": "A parameter was marked ready twice in one backward",
        "role": "cause",
        "patterns": [
            r"marked as ready twice",
            r"[Ee]xpected to mark a variab",
        ],
        "cause": "A parameter's gradient hook fired twice in one backward pass: the same module is "
        "reused (weight sharing, a layer called twice), activation checkpointing re-runs forward, "
        "or find_unused_parameters=True meets a graph that changes between iterations.",
        "fix": "Use static_graph=True (or model._set_static_graph()) when the graph is fixed, "
        "use torch.utils.checkpoint with use_reentrant=False, or avoid calling a shared module "
        "twice under DDP; drop find_unused_parameters=True if it is not needed.",
        "reference": "https://github.com/pytorch/pytorch/issues/46166",
    },
    {
        "id": "grad_strides",
        "title": "Gradient strides differ from DDP's bucket view",
        "role": "cause",
        "advisory": True,  # a UserWarning: training goes on, only slower
        "patterns": [
            r"[Gg]rad strides (?:do|don't|does)\b",
            r"grad\.strides\(\) = .*bucket_view\.strides\(\)",
            # the warning's detail lines quoted without its first line (one per line)
            r"^\W*grad\.sizes\(\) = \[[\d, ]*\], strides\(\) = \[",
            r"^\W*bucket_view\.sizes\(\) = \[[\d, ]*\], strides\(\) = \[",
        ],
        "cause": "A parameter's layout changed after DDP was built (channels_last, a transpose, "
        "a non-contiguous view), so every step copies gradients into the bucket.",
        "fix": "Convert the model (e.g. model.to(memory_format=torch.channels_last)) before "
        "wrapping it in DDP, or pass gradient_as_bucket_view=True; make parameters contiguous.",
        "reference": "https://github.com/pytorch/pytorch/issues/47163",
    },
    {
        "id": "local_rank_arg",
        "title": "The script and the launcher disagree on how the local rank is passed",
        "role": "cause",
        "patterns": [
            # (or the old launcher's own --use_env flag, written after the script's name)
            r"unrecognized arguments?:.*--(?:local(?:[-_]|$)|use[-_]env\b)",
            r"unrecognized arguments?:.*[\u2013\u2014]local[-_]rank",  # ("--" a page made a dash)
            r"KeyError: '(?:LOCAL_RANK|RANK|WORLD_SIZE|MASTER_ADDR|MASTER_PORT)(?:'|\s*$)",
            r"environment variable (?:LOCAL_RANK|RANK|WORLD_SIZE) expected, but not set",
            # ColossalAI's launch check: a script started without torchrun
            r"Could not find '(?:LOCAL_RANK|RANK|WORLD_SIZE)' in the torch environment",
            # the script requires it, the launcher passes none
            r": error: the following arguments are required: .*--local[-_]rank",
        ],
        # env://'s own raise: which variable it missed is on the next line (a rank variable,
        # or the master's address: a rendezvous left unconfigured)
        "weak_patterns": [
            r"raise _env_error\((?:env_var|\"(?:MASTER_ADDR|MASTER_PORT|RANK)\")\)",
            # the KeyError's message printed alone (a reversed or reformatted traceback)
            r"^\s*'(?:LOCAL_)?RANK'\s*$",
            r"^\s*'WORLD_SIZE'\s*$",
            # a traceback's frame whose line reads a launcher's rank variable, the message cut
            # away ("    rank = int(os.environ['RANK'])"): nothing below it to raise but a KeyError
            r"^\W{0,6}(?:---> \d+ )?[\w.\[\]'\", ]*\w\s*=\s*(?:int\()?os\.environ\[['\"](?:LOCAL_"
            r"RANK|RANK|WORLD_SIZE|LOCAL_WORLD_SIZE|MASTER_ADDR|MASTER_PORT|SLURM_PROCID|SLURM_"
            r"LOCALID|SLURM_NTASKS|OMPI_COMM_WORLD_(?:LOCAL_)?RANK|OMPI_COMM_WORLD_SIZE)['\"]\]\)?\s*$",
        ],
        "cause": "torch.distributed.launch passes --local-rank/--local_rank as an argument while "
        "torchrun sets the LOCAL_RANK variable; the script expects the other one (or was started "
        "with plain python, so no rank variables exist).",
        "fix": "Launch with torchrun and read int(os.environ['LOCAL_RANK']) (mltools.ddp.setup() "
        "does this); if you keep the old launcher, accept both --local-rank and --local_rank "
        "in argparse.",
        "reference": "https://pytorch.org/docs/stable/elastic/run.html",
    },
    {
        "id": "device_side_assert",
        "title": "A CUDA kernel assertion failed (device-side assert)",
        "role": "cause",
        "patterns": [
            r"device-side assert(?:ion)? t",
            r"CUDA error: device-side\b",
            r"\.cu:\d+: \w+: block: \[\d+,\d+,\d+\], thread: \[",  # the kernel assertion, cut  # "triggered" (not "assertions.", on every error)
            r"\.cu:\d+: .*Assertion `",  # " failed." is often wrapped to the next line
            # and the start; the assertion with or without backticks (torch 1.8 printed none)
            r"block: \[\d+,\d+,\d+\], thread: \[\d+,\d+,\d+\] Assertion \S",
            # the same, cut before "block:" (glibc's host asserts end "...' failed", not "`")
            r"\[\d+,\d+,\d+\] Assertion `[^`]*` failed",
            # the kernel's file:line opens it (the rest wrapped away), indented or not
            # (not NVSHMEM's status report, "init.cu:998: non-zero status: 3 building ...")
            r"^\s*/\S+\.cu:\d+: (?!non-zero status)\w",
            r"cudaErrorAssert",
        ],
        "cause": "A kernel checked its input and failed: almost always an index out of range "
        "(labels >= num_classes, a negative label, an embedding id past the vocabulary). CUDA "
        "reports it asynchronously, so the traceback often points at a later line.",
        "fix": "Re-run with CUDA_LAUNCH_BLOCKING=1 (preset cuda-sync) for the real line, or run "
        "the step on the CPU; check label ranges and embedding sizes.",
        "reference": "https://pytorch.org/docs/stable/notes/cuda.html#asynchronous-execution",
    },
    {
        "id": "dataloader_killed",
        "title": "A DataLoader worker was killed",
        "role": "cause",
        "patterns": [
            # (also YOLOP's retyped "RuntimeError:Dataloader worker (pid 6479) is killed by ...")
            r"Data[Ll]oader worker \(pid\(?s?\)?[^)]*\)+ (?:is k|exited unexp)",
            r"ERROR: Unexpected bus error encountered",  # (its shortest start)
            r"[Uu]nexpected bus error encountered in worker",  # (quoted alone, in any case)
            # the worker's own signal handler for the other crashes (torch's DataLoader.cpp):
            # the worker died, not the rank ("ERROR: Unexpected segmentation fault encountered
            # in worker."); fewer workers, or num_workers=0 for the worker's own error
            r"[Uu]nexpected (?:segmentation fault|floating-point exception) encountered in worker",
            r"DataLoader worker is killed by signal",
            r"insufficient shared memory \(shm\)",
            r"workers are out of shared memory",
        ],
        "cause": "A DataLoader worker process died: usually /dev/shm too small for the batches "
        "workers pass back (Bus error), or the host ran out of RAM and the OOM killer took it.",
        "fix": "Enlarge /dev/shm (docker run --shm-size=16g or --ipc=host), lower num_workers or "
        "prefetch_factor, or re-run with num_workers=0 to see the worker's own error.",
        "reference": "https://pytorch.org/docs/stable/data.html#multi-process-data-loading",
    },
    {
        "id": "nccl_timeout",
        "title": "A collective timed out (watchdog)",
        "role": "symptom",
        "patterns": [
            r"[Ww]atchdog caught collective operation timeout",
            r"ran for \d+ milliseconds before timing out",
            r"Timed out waiting \d+ ?ms for (?:recv|send) operation",
            r"Timeout at NCCL work",
            r"timed out in monitoredBarrier",
            r"RuntimeError: Operation timed out!",  # torch 1.x's work.wait() timeout
            r"Watchdog caught collective operation",
            r"timed out in blocking wait",
            r"failure detected by watchdog",
            r"Some [NH]CCL operations have failed or timed",  # (HCCL: torch_npu's)
            r"NCCL watchdog thread terminated with exception: .*[Tt]imeout",
            r"\[Rank \d+\] Watchdog caught",
            r"watchdog got stuck for \d+ seconds",
            r"ProcessGroup[NH]CCL's watchdog got stuck",
            # an aborted communicator whose reason is a timeout, in any wording
            r"[Cc]ommunicator was aborted\b.{0,300}\b(?:timed out|timeout)\b",
            r"\[TaskExecStage\]\[Timeout\]",  # HCCL's task timeout (EI0002's record)
            r"due to ProcessGroupNCCL watchdog hang",
            r"Exception raised from checkTimeout at",
            # the flight recorder's dump on a timeout, in torch 2.3-2.6's wordings (this rank's
            # own timeout, or another rank's that reached it through the store)
            r"Received a dump signal (?:due to a collective timeout )?from (?:this local|another) rank",
            r"Received a global timeout from another rank",
            r"Observed flight recorder dump signal from another rank",
            r"Heartbeat monitor timed out!",  # (2.2-2.3's "watchdog got stuck")
            # Ascend's HCCL (torch_npu) in its own words: a peer that never sent its part of a
            # running collective (EI0006), a notify wait that timed out (EI0002), the runtime's
            # task timeout (107020) that HCCL_EXEC_TIMEOUT ends a stuck collective with
            r"Remote Rank did not send the data in time",
            r"The wait execution of the Notify register times out",
            r"execute failed, reason=\[task timeout\]",
            r"hccl fftsplus task timeout occurred",  # (the runtime's device error record)
            # the CANN error codes of a collective that timed out (the runtime's table,
            # error_code.json: EI0002 a notify wait, EE1002 a stream synchronize), the runtime
            # return codes torch_npu quotes (task, stream, event, FFTS+ and CCU timeouts) and
            # torch_npu's own distributed-timeout code
            r"\bEI0002(?:\)|:|\[PID)",
            r"\bEE1002(?:\)|:|\[PID)",
            r"error code is (?:107020|507046|507047|507048|507915)\b",
            r"\bERR02011\b",  # (torch_npu's "[ERROR] ... ERR02011 DIST ...")
            r"Communication operator execution waiting times out",
            r"Notify register (?:waits for execution|has not received the Notify record)",
            r"ExceptionType:\[Stuck Occurred\]",  # HCCL's heartbeat verdict on a stuck rank
            r"(?:notify|event) wait timeout occurred during task execution",
            r"Process group work \S+, seq_num \d+ dispatch timeout",
        ],
        # a wait on the c10d store that timed out mid-run (a peer never wrote its key); weak,
        # since the same wait at start-up is a rendezvous that never completed
        "weak_patterns": [
            r"waitForInput: socket .{0,300}timed out after \d+ ?ms",
            # the watchdog's note on a collective that failed, printed after it timed out (or
            # hit an error) when the flight recorder is off
            r"Stack trace of the failed collective not found",
        ],
        "frames": [r"ProcessGroupNCCL::WorkNCCL::checkTimeout"],
        "cause": "This rank waited in a collective that the others never joined: another rank "
        "crashed, is stuck (data loading, a deadlock, a rank-dependent branch), or is running a "
        "different collective. The rank that timed out is usually a victim, not the culprit.",
        "fix": "Look for the rank that failed first (above). If none did, run `mltools ddp-doctor "
        "hang` while it is stuck, or re-run with the `hang` preset for the flight recorder; raise "
        "the timeout only for known slow steps (init_process_group(timeout=...)).",
        "reference": "https://pytorch.org/docs/stable/distributed.html#debugging-torch-distributed-applications",
    },
    {
        "id": "address_in_use",
        "title": "The master port is already in use",
        "role": "cause",
        "patterns": [
            # Windows' WSAEADDRINUSE (c10d's "failed to bind to [host]:10086 (system error: 10048
            # - ..." in the system's language, Python's "[WinError 10048]")
            r"system error: 10048\b",
            r"\[WinError 10048\]",
            r"EADDRINUSE",
            r"[Aa]ddress already in\b",
            r"errno:? 98\b",
            r"\[Errno 98\]",
            # Ascend's HCCL could not listen on its port ("... the port is been using by other
            # process")
            r"whether the port is (?:been using|being used) by other process",
            # (its codes, EI0019/EI0020/EJ0003, and their messages)
            r"\bEI0019(?:\)|:|\[PID)",
            r"\bEI0020(?:\)|:|\[PID)",
            r"\bEJ0003(?:\)|:|\[PID)",
            r"Failed to enable listening for the (?:host|NPU) network adapter socket",
            r"The IP address and port have been bound already",
            r"\band port \d+ have already been bound\b",
            r"listen on ip\[.{0,80}\] and specific port\[\d+\] fail",
            r"Failed to bind the IP port\. Reason: ",
            # SGLang's check of its NCCL port ("nccl_port at 36919 is not available in 30 s")
            r"nccl_port at \d+ is not available",
            r"nccl_port is used by a process already",
            r"but another process is utilizing it",  # accelerate's check of the main port
        ],
        "cause": "Another process (often a previous run that did not exit, or a second job on "
        "the same node) already listens on MASTER_PORT.",
        "fix": "Pick another port (--master-port, or --rdzv-endpoint host:0 / "
        "--standalone), or find and stop the leftover: `mltools ddp-doctor check` names the "
        "process holding the port.",
        "reference": "https://pytorch.org/docs/stable/elastic/run.html",
    },
    {
        "id": "nccl_system_error",
        "title": "NCCL hit a system or network error",
        "role": "cause",
        "patterns": [
            r"unhandled system\b",
            r"ncclSystemError",
            r"ncclRemoteError",
            # (not an InfiniBand device NCCL cannot open at start-up: it uses the others)
            r"WARN .*(?:Call to (?:rank \d+|(?!ibv_open_device\b)\w+) failed"
            r"|[Cc]onnect to .* (?:failed|returned \d+\()"
            r"|Socket creation failed|nvmlDeviceGetHandleByPciBusId\(\) failed)",
            r"WARN .*(?:creating shared memory segment|failed to extend /dev/shm)",
            r"Error while creating shared memory segment \S*nccl-",  # no WARN before it
            # NCCL's segment removed under it (systemd's RemoveIPC at logout)
            r"WARN unlink shared memory \S*nccl-\S* failed",
            # AWS's libfabric plugin could not use the fabric (its provider's negative code)
            r"NET/OFI Couldn't open a fabric access domain",
            r"WARN NET/OFI .*\bRC: -\d+",
            r"Proxy Call to rank \d+ failed \(Connect\)",  # NCCL's "Last error:" line
            r"WARN .*(?:NET/IB ?: ?Got completion|NET/IB : .* failed|IBV_WC_)",
            # an InfiniBand port or device fault the verbs library reported asynchronously
            r"NET/IB : Got async event : [\w ]*(?:error|catastrophic|fatal)",
            r"WARN .*(?:Bootstrap : no socket interface found|No usable listening interface)",
            # (the same quoted without its WARN record: words only NCCL's bootstrap prints)
            r"Bootstrap ?: no socket interface found",
            r"^\W*no socket interface found\s*$",  # (and quoted alone)
            # NCCL's topology search could not place a NIC (an XML topology, an odd platform)
            r"Attribute busid of node nic not found",
            # an InfiniBand work completion that failed: its vendor error code, in any wording
            r"\bvendor err \d+",
            r"Got completion from peer .* with (?:error|status=[1-9])",
            # the proxy could not set up a connection (a firewall, a wrong interface); not when
            # its return code says a CUDA call (1) or NCCL itself (3) failed: the "Cuda failure"
            # line beside it is the cause
            r"WARN .*Failed to execute operation Connect from rank(?! \d+, retcode [13](?!\d))",
            r"WARN socketStartConnect: Connect to ",  # (its shortest start: "... failed : ...")
            # a socket call of NCCL's net transport that found no peer listening or no route,
            # printed without its WARN record (not a reset: a peer that died, a victim's line)
            r"\bNet : Call to (?:recv|send|connect) (?:from|to) \S+ failed : (?:Connection "
            r"refused|No route to host|Network is unreachable|Connection timed out)",
            # NCCL 2.19+'s socket giving up, printed bare ("socketPollConnect: connect to
            # 10.0.0.2<47479> returned Connection refused, exceeded error retry count ...")
            r"returned [\w ]+, exceeded error retry count",
            r"WARN \[Service thread\] Error encountered progressing operation=Connect\b",
            # the reason of a "NCCL error" line in any spelling (retyped, cut, reworded)
            r"NCCL error\b.{0,240}\bsystem\serror",
            # Caffe2's check of an NCCL call: its result code 2 is ncclSystemError
            r"status == ncclSuccess\. 2 vs 0\b",
            # the socket layer met an address of no family it knows (NCCL_SOCKET_IFNAME naming
            # no interface), gloo peers of two families (IPv4 and IPv6)
            # (family 0 is a record of another NCCL's layout: version_mismatch)
            r"with family [1-9]\d* is neither AF_INET\(2\) nor AF_INET6\(10\)",
            r"ss1\.ss_family == ss2\.ss_family",
            # NCCL_NET names a network plugin that is not there ("network AWS Libfabric")
            r"NCCL WARN Error: network [\w ]+ not found",
            # gloo's full mesh could not be wired (a firewall, GLOO_SOCKET_IFNAME naming the
            # wrong NIC: its pair.cc reports "no error")
            r"Gloo connectFullMesh failed",
            # gloo found no interface by the name it was given (GLOO_SOCKET_IFNAME holding
            # NCCL's "^lo,docker" exclusion syntax, a name this host lacks)
            r"Unable to find address for: \S",
            # Intel's oneCCL could not open the GPUs' device nodes (a container without
            # /dev/dri/by-path)
            r"ze_fd_manager\.cpp:\d+ \w+: EXCEPTION: ",
            # gloo's pair could not reach a peer's address (a hostname that resolves to the
            # loopback, GLOO_SOCKET_IFNAME unset on a multi-NIC host)
            r"gloo/transport/tcp/pair\.cc:\d+\] connect \S+: (?:Connection refused|No route to "
            r"host|Network is unreachable|Cannot assign requested address)",
            # other collective libraries could not set up their transport: Ascend's HCCL (its
            # communicator, a connect its peer never answered), Intel's oneCCL (no usable
            # libfabric provider: '|CCL_ERROR| ... can't find suitable provider'), gloo (no
            # interface or hostname to bind: Windows, containers)
            r"HcclCommInitRootInfo\w* fail",
            r"remote does not initiate a connect request",
            r"wait socket establish timeout",  # HCCL: a link its peer never completed (EI0006)
            # (not EI0006's "Getting socket times out" alone: with "Remote Rank did not send
            # the data in time" it is a peer stuck in a collective, a timeout)
            r"fails to connect to dstRank",
            # HCCL's channel set-up could not build a link to its peer (createLink failed)
            r"\[InitChannelStage\]\[RunFailed\]Transport init error",
            r"Execution Error ROCE CQE|An error CQE occurred during operator execution",
            # (its RoCE driver's and HCCL's heartbeat's words: "error cqe status: 0x15")
            r"\[ROCE CQE ERROR\]|handle_error_cqe\b|\berror cqe status\b",
            r"can't find suitable provider",
            r"pml_ucx\.c:\d+ +Error: ",  # Open MPI's UCX transport (its worker addresses)
            # Ascend's codes for a link HCCL could not set up or lost: a socket that never
            # connected (EI0006, unless its reason is a peer stuck in a collective), the
            # device transport (EI0009), P2P (EI0010), RoCE and UB error CQEs (EI0013, EI0018),
            # a network port down (EJ0002); its op retry that failed (507904); HCCL's own
            # result codes for TCP/RoCE connect and transfer and network calls
            r"\bEI0006(?:\)|:|\[PID)(?!.*Remote Rank did not send)",
            r"\bEI0009(?:\)|:|\[PID)",
            r"\bEI0010(?:\)|:|\[PID)",
            r"\bEI0013(?:\)|:|\[PID)",
            r"\bEI0018(?:\)|:|\[PID)",
            r"\bEJ0002(?:\)|:|\[PID)",
            r"error code is 507904\b",
            r"HCCL function error: .{0,200}error code is (?:11|12|13|14|19|21)\b",
            r"P2P communication failed\. Reason: ",
            r"The network port is down",
            r"The remote end does not initiate a connection request",
            r"[Tt]ransport init error[.!]",
            r"ExceptionType:\[Error cqe Occurred\]|failed CQE status\[",
            r"get host ip fail by socket Ifname",
            r"the TLS configurations are inconsistent",
            r"reason=\[hccl op retry failed\]",
            r"CONNECT TIMEOUT DETECT RESULT",
            r"can not open network providers",
            r"failed to initialize ATL",
            r"GlooDeviceFactory::make\w*Device\(\): interface or hostname can't be empty",
        ],
        "weak_patterns": [
            r"remote process exited or there was a network error",
            r"connect returned (?:No route to host|Connection refused|Connection timed out|Network is unreachable), retrying \((\d+)/\1\)",
        ],
        "cause": "NCCL could not talk over the network or shared memory: wrong interface "
        "(docker0, lo, a virtual bridge), a firewall, InfiniBand misconfigured, /dev/shm too "
        "small, or a peer that died.",
        "fix": "Re-run with the nccl-debug preset and read the NCCL WARN lines; set "
        "NCCL_SOCKET_IFNAME to the interface that reaches the other nodes (preset ifname); try "
        "the ib-off, p2p-off or shm-off presets to isolate the transport.",
        "reference": "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html",
    },
    {
        "id": "duplicate_gpu",
        "title": "Two ranks use the same GPU",
        "role": "cause",
        "patterns": [
            r"Duplicate GPU detected",
            r"both on CUDA device",
            # NCCL's check as vLLM/TRL word it (a trainer and a vLLM server on one GPU)
            r"same CUDA device for multiple distinct roles",
            # torch's CUDA symmetric-memory allocator checks the same at its rendezvous
            r"detected allocations from overlapping devices",
            # Ascend HCCL's check of a super pod's devices (two with one superDeviceId)
            r"devices have same superDeviceId",
        ],
        "cause": "Two ranks selected the same GPU: torch.cuda.set_device(local_rank) was not "
        "called (everyone uses cuda:0), or CUDA_VISIBLE_DEVICES hides the other GPUs.",
        "fix": "Call torch.cuda.set_device(int(os.environ['LOCAL_RANK'])) before "
        "init_process_group (mltools.ddp.setup() does), and check CUDA_VISIBLE_DEVICES.",
        "reference": "https://pytorch.org/tutorials/intermediate/ddp_tutorial.html",
    },
    {
        "id": "oom_on_resume",
        "title": "Out of memory while loading a checkpoint (every rank loads onto one GPU)",
        "role": "cause",
        "patterns": [],
        "derived": "a cuda_oom on a rank whose traceback or code lines load a checkpoint "
        "(torch.load, load_state_dict, serialization.py, map_location)",
        "cause": "The checkpoint was saved from cuda:0 and torch.load restores tensors where "
        "they were saved, so every rank puts a copy on GPU 0 and it runs out of memory on resume.",
        "fix": "Load with map_location='cpu' (or map_location=f'cuda:{local_rank}'), then "
        "load_state_dict; `mltools ckpt` loads safely.",
        "reference": "https://pytorch.org/docs/stable/generated/torch.load.html",
    },
    {
        "id": "cuda_init_fork",
        "title": "CUDA was initialised before a fork",
        "role": "cause",
        "patterns": [
            r"[Cc]annot re-initialize (?:CUDA|cuda)\b",  # (torch's source line, as a frame quotes it)
            r"you must use the .spawn. start method",
            r"cuda runtime error \(3\) ?: initialization error",
            r"CUDA error \(3\): initialization error",
            r"error=3 : initialization error",
            r"CUDA error: initializ",
            r"can't create new processes if CUDA is already initialized",  # Lightning's wording
            # the profiler's CUDA mode in forked DataLoader workers (profiler_cuda.cpp)
            r"CUDA initialization error\. This can occur if one ru",
        ],
        "cause": "The parent process touched CUDA (a .cuda() call, torch.cuda.device_count() in "
        "some versions) and then forked workers (DataLoader workers, multiprocessing) that use "
        "CUDA.",
        "fix": "Keep CUDA out of the parent before forking, use "
        "multiprocessing_context='spawn' (or mp.set_start_method('spawn')), and launch ranks "
        "with torchrun rather than forking them yourself.",
        "reference": "https://pytorch.org/docs/stable/notes/multiprocessing.html#cuda-in-multiprocessing",
    },
    {
        "id": "cuda_oom",
        "title": "CUDA out of memory",
        "role": "cause",
        "patterns": [
            r"CUDA out of memory",
            # (not Ray's: its memory monitor killed a worker for the host's memory)
            r"(?<!exceptions\.)(?:torch\.(?:cuda\.)?)?OutOfMemoryError",
            r"CUDA [Ee]rror: out of m",  # (darknet's "CUDA Error: out of memory")
            # torch 0.x-1.x's THC: its check of a CUDA call, and the RuntimeError it raised
            r"THCudaCheck FAIL file=\S+ line=\d+ error=2 : out of memory",
            r"cuda runtime error \(2\) : out of memory",
            r"CUDA runtime error: out of memory",  # (lmdeploy's TurboMind: "[TM][ERROR] ...")
            r"No available memory for the cache blocks",  # vLLM: no GPU memory left for KV
            # torch over its per-process fraction (set_per_process_memory_fraction), as TGI's
            # warm-up quotes it; TGI's own refusal of a prefill budget that does not fit
            r"Allocation on device \d+ would exceed allowed memory",
            r"Not enough memory to handle \d+ prefill tokens",
            # other accelerators' and frameworks' wording: ROCm, Intel, Ascend, Apple, Paddle,
            # XLA on TPU/GPU, and the Ascend runtime's own codes under torch_npu
            r"(?:MPS backend|XPU|NPU|HIP) out of memory",
            r"HIP error: out of m",
            r"hipErrorOutOfMemory",
            r"Out of memory error on (?:GPU|NPU|XPU|MLU) \d",
            r"Ran out of memory in memory space (?:hbm|vmem)",
            r"RESOURCE_EXHAUSTED: Out of memory while trying to allocate",
            # XLA on TPU in its other words: a reservation or a buffer that did not fit in HBM,
            # the OOM hint TensorFlow's runtime adds, an exception from a TPU core
            r"RESOURCE_EXHAUSTED: (?:Error (?:allocating device buffer|loading program): )?"
            r"Attempting to (?:reserve|allocate) [\d.]+\w+",
            r"Hint: If you want to see a list of allocated tensors when OOM happens",
            r"Exception in device=TPU:\d+: RESOURCE_EXHAUSTED",
            # XLA's and TF's BFC allocator: its failure rounds the size ("91.27GiB (rounded to
            # 98000028160)"), its note on a retry that found memory does not ("... with
            # freed_by_count=0. The caller indicates that this is not a failure")
            r"Allocator \(\w+_bfc\) ran out of memory trying to allocate [\d.]+\w* \(rounded to",
            # the XRT-era TPU runtime's words, its reason on the next line or after a host column
            r"Attempting to reserve [\d.]+\w* at the bottom of memory",
            r"Attempting to allocate [\d.]+\w*\. That was not possible",
            r"EL0004\)?: .*Failed to allocate memory",  # ("Memory_Allocation_Failure(EL0004): ")
            # Intel's GPUs (level_zero, the unified runtime), Habana Gaudi's graph workspace
            r"UR_RESULT_ERROR_OUT_OF_(?:DEVICE_MEMORY|RESOURCES)",
            r"ZE_RESULT_ERROR_OUT_OF_DEVICE_M",  # Level Zero's own (oneCCL on Intel GPUs; cut)
            r"MODULE:SYNHELPER workspace Allocation of size",
            r"reason=\[driver error:out of memory\]",
            r"CUDA driver error: out of memory",
            r"Cuda failure (?:\d+ )?'out of memory'",
            r"CUDA_ERROR_OUT_OF_MEMORY",
            # NCCL could not allocate its buffers on the GPU (its "Last error:" under an
            # unhandled cuda error): the memory the framework left it is gone
            r"Failed to CUDA (?:calloc|malloc)(?: async)? \d+ bytes",
            # llm.c's cudaCheck: "[CUDA ERROR] at file train_gpt2.cu:1234:" and the message on
            # the next line (read joined with it)
            r"\[CUDA ERROR\] at file \S+:\d+: ?out of memory",
            # the tail of torch's OOM message, quoted without its "CUDA out of memory" head
            r"GPU \d+ has a total capacity of [\d.]+ \w+ of which [\d.]+ \w+ is free",
            # Ascend's NPU memory: HCCL's and the driver's codes (EI0007, EI0011, EL0019), the
            # runtime's return codes (207001, 207018) and their words; MindSpore's own report
            r"\bEI0007(?:\)|:|\[PID)",
            r"\bEI0011(?:\)|:|\[PID)",
            r"\bEL0019(?:\)|:|\[PID)",
            r"error code is (?:207001|207018)\b",
            r"Failed to allocate \d+ bytes of NPU memory",
            r"The memory on the device is exhausted",
            r"Out of Memory!!! Request memory size: ",
        ],
        "cause": "The GPU ran out of memory on this rank (batch too large, activations kept "
        "alive, fragmentation, or another process on the same GPU).",
        "fix": "Lower the per-GPU batch size or use gradient accumulation, enable activation "
        "checkpointing or mixed precision, set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True "
        "against fragmentation, and check that no other process holds the GPU.",
        "reference": "https://pytorch.org/docs/stable/notes/cuda.html#memory-management",
    },
    {
        "id": "version_mismatch",
        "title": "Driver, CUDA, NCCL or GPU architecture versions do not match",
        "role": "cause",
        "patterns": [
            # torch's check of the GPU's compute capability, its source line shown by the warning
            # when the message itself is cut ("warnings.warn(incompatible_device_warn.format(")
            r"warn\(incompatible_device_warn\b",
            r"driver version is insufficient for CUDA runtime version",
            r"NVIDIA driver on your system is too old",
            # a container's CUDA forward compatibility on a GPU it does not cover (error 804,
            # CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE): the host's driver is too old for it
            r"Forward compatibility was attempted on non supported HW",
            r"undefined symbol: \w*(?:nccl|cuda|cublas|nvml)\w*",  # (nvml: a driver older than it)
            # Ascend: HCCL of another version at a link's other end (EI0008), a driver too old
            # for the runtime (EE1015), driver and firmware that do not match
            r"\bEI0008(?:\)|:|\[PID)",
            r"\bEE1015(?:\)|:|\[PID)",
            r"The HCCL versions are inconsistent",
            r"\[InitChannelStage\]\[VersionConflict\]",
            r"driver and firmware packages do not match",
            r"The driver version capability is insufficient",
            r"undefined%20symbol:%20\w*(?:nccl|cuda|cublas)",
            r"\.so(?:\.\d+)*\)?: undefined symbol: _ZN",  # ")": a markdown link around the path
            r"NCCL version mismatch|[Mm]ismatched NCCL version",
            r"no kernel image is available\b",
            r"hipErrorNoBinaryForGpu",  # ROCm's: no code object for this card's gfx arch
            # kernels built for another GPU arch (also inside NCCL: "Cuda failure 'invalid ...")
            r"CUDA error: invalid device function",
            r"Cuda failure (?:\d+ )?'invalid device function'",
            # a CUDA or NCCL library the build wants is not there (built for another CUDA)
            r"(?:ImportError|OSError): lib(?:cudart|cublas\w*|cudnn\w*|nccl|nvrtc|cusparse\w*"
            r"|cufft\w*|curand\w*|cusolver\w*)\.so[\d.]*: cannot open shared object file",
            r"CUDA capability sm_\d+ is not compatible with the current PyTorch",
            r"cuDNN version (?:incompatibility|mismatch)",
            r"compiled\s+against .* but (?:linked against|found runtime version)",
            r"CUDA driver version is insufficient",
            # a runtime that names the driver it needs (Neuron's "This runtime requires Neuron
            # Driver version 2.0 or greater. Please upgrade aws-neuron-dkms package.")
            r"\brequires (?:[\w-]+ ){0,3}[Dd]river version \S+ or (?:greater|higher|newer|later)\b",
            # torch's ncclConfig_t leaves fields at NCCL_CONFIG_UNDEF_INT for NCCL to fill in; a
            # libnccl older than the one torch was built against rejects that value
            r"Invalid config \w+(?: \w+)? attribute value -2147483648\b",
            # NCCL refusing CUDA-graph capture because its build or the driver is too old ("...
            # if either it wasn't built with CUDA runtime >= 11.3 or if the installed CUDA
            # driver < R465"): a pip NCCL built for an older CUDA than the one installed
            r"NCCL cannot be captured in a graph if either it wasn't built with CUDA runtime",
            # MindSpore's own version check ("MindSpore version 2.2.0 and cuda version 11.8.89
            # does not match, CUDA version [...] are supported")
            r"version [\d.]+ and cuda version [\d.]+ does not match",
            # torch_npu calling an HCCL function its CANN is too old to have
            r"Failed to find function Hccl\w+",
        ],
        # NCCL's bootstrap reading a peer's address record it cannot parse (nodes with
        # different NCCL versions exchange records of different layouts)
        "weak_patterns": [
            r"connecting to address with family 0 is neither AF_INET",
            # torch_npu's start-up warning that its CANN has no version call it knows ("Failed
            # to find function aclsysGetCANNVersion"): a CANN older than torch_npu expects; a
            # warning, so only weak (the failure, if any, is read from its own lines)
            r"Failed to find function (?=acl)\w*Version\b",
        ],
        "cause": "The installed pieces were built for different versions: a torch wheel newer "
        "than the driver supports, a system libnccl or libcudnn (LD_LIBRARY_PATH, conda) "
        "shadowing the one torch ships, nodes with different torch/NCCL builds, a compiled "
        "extension (apex, fused kernels, a .so whose missing symbol is a torch C++ name) built "
        "against another torch, or a GPU architecture the wheel was not compiled for.",
        "fix": "Install a torch wheel whose CUDA version the driver supports (`mltools "
        "ddp-doctor check` lists both), unset LD_LIBRARY_PATH entries that point at another "
        "NCCL or cuDNN (or install the cuDNN the message names), rebuild extensions against "
        "the installed torch (delete their build directories), and use the same environment "
        "image on every node.",
        "reference": "https://pytorch.org/get-started/locally/",
    },
    {
        "id": "rank_mismatch_collective",
        "title": "Ranks called different collectives (or different shapes)",
        "role": "cause",
        "patterns": [
            # Horovod's stall inspector: a subset of ranks submitted a tensor the others never did
            r"submitted to be reduced, gathered or broadcasted by subset of ranks",
            r"different ranks are trying to submit different tensors",
            r"Detected mismatch between collectives",
            r"Collectives differ in the following aspects",
            r"op\.preamble\.length <= op\.nbytes",
            # (NCCL's socket transport: "message truncated : receiving N bytes instead of M")
            r"[Mm]essage truncated ?: receiv(?:ed|ing) \d+ bytes instead of \d+",
            # the model itself differs between ranks (DDP checks it at construction)
            r"DDP expects same model across all ranks",
            # (torch 1.x's words for it: "replicas[0][0] in this process with sizes [...]
            # appears not to match sizes of the same param in process 0")
            r"appears not to match sizes of the same param in process \d+",
            r"Mismatched collective detected",
            r"is running (?:inconsistent )?collective:\s*CollectiveFingerPrint",
            r"[Cc]ollective mismatch error, local size \d+ remote size",
            # (NCCL 2.9's IB transport: "collective mismatch error local size 546816 remote
            # 524288 addr ...")
            r"[Cc]ollective mismatch error local size \d+ remote \d+",
            # TORCH_DISTRIBUTED_DEBUG=DETAIL's shape check; Accelerate's debug-mode check
            r"Error when verifying shape tensors for collective",
            r"Cannot apply desired operation due to shape mismatch",
            # Ascend HCCL's own check (EI0005) and its channel set-up's parameter conflict
            r"arguments for collective communication are inconsistent between ranks",
            # the flight recorder's analyser (torchfrtrace) on the ranks' dumps
            r"Not all ranks joining collective \d+ at entry \d+",
            r"\[ParameterConflict\]CMD information .{0,40}check fail",
            r"\bEI0005(?:\)|:|\[PID)",
            r"are inconsistent between ranks, parameter \S+ is",  # (CANN 9's EI0005)
        ],
        # torch's own reports name the rank(s) that did not join what the others ran: the
        # desync report under a watchdog timeout, monitored_barrier's failure. The rank may
        # also be stuck or dead, so they rank after any cause the log shows for it.
        "weak_patterns": [
            r"finished collective #\d+, but didn't join",
            r"joined but didn't finish collective #",
            r"failed to pass monitoredBarrier",
        ],
        "cause": "The ranks left the same code path: one rank runs a different collective, a "
        "different tensor shape or dtype, or skips a collective (a rank-dependent if, uneven "
        "data so one rank runs an extra step, logging/eval only on rank 0 that calls a "
        "collective).",
        "fix": "Make every rank call the same collectives in the same order with the same "
        "shapes; use DistributedSampler(drop_last=True) or the Join context for uneven inputs. "
        "TORCH_DISTRIBUTED_DEBUG=DETAIL names both sides.",
        "reference": "https://pytorch.org/docs/stable/distributed.html#torch-distributed-debug",
    },
    {
        "id": "rendezvous_timeout",
        "title": "Not all ranks joined the rendezvous in time",
        "role": "cause",
        "patterns": [
            r"RendezvousTimeoutError",
            # a Ray cluster the workers could not join (the head's GCS never answered)
            r"Timed out while waiting for GCS to become available",
            # env:// found the ranks but no master to meet at (a job script that sets RANK and
            # WORLD_SIZE but not MASTER_ADDR/MASTER_PORT)
            r"variable MASTER_(?:ADDR|PORT) expected, but not set",
            r"[Tt]imed out after \d+ seconds waiting for clients",
            r"client socket has timed out after \d+ ?m?s\b",
            r"DistStoreError: .*[Tt]imed out",
            r"TCP client failed to connect/validate to host .* timed out",
            r"RendezvousConnectionError",
            r"connection to the C10d store has failed",
            r"connect\(\) timed out",
            r"[Tt]imed out after \d+ seconds waiting for (?:clients|workers)",
            # (torch_npu: "The inner error: Socket Timeout"; torch 1.11: "store->get('0') got
            # exception: Socket Timeout")
            r"(?:^|[Ee]rror: |got exception: )Socket Timeout",
            # a store client pointed at port 0, where nothing ever listens (a rendezvous endpoint
            # left at its "pick a free port" default on the clients' side): it retries for ever
            r"No socket on \([^,()]+, 0\) is listening",
            r"wait timeout after \d+ ?ms",
            # ("[W socket.cpp] ... failed to connect to [host]:port" alone is a retry torch
            # logs on its way to the next address: no failure)
            r"client socket has failed to connect to any",
            r"Error: The client socket has failed to connect",
            r"(?:RuntimeError|DistNetworkError): Connection (?:timed out|refused)\s*$",
            r"[Tt]imed out initializing process group in store",  # (prose quotes it lower-case)
            # NVSHMEM's own bootstrap (its rendezvous: the unique-id exchange) failed
            r"nvshmem_bootstrap failed",
            r"bootstrap_loader_init returned error",
            r"(?:host not found|getaddrinfo\S*): Name or service not known",
            r"DNS resolution failed: \[Errno -?\d+\] Name or service not known",  # (MindSpore's msrun)
            # MindSpore's ranks could not get the collective library's id from its scheduler
            r"Failed to fetch the unique id of the collective lib",
            # Ascend HCCL's rank-table exchange at init (its rendezvous, EI0015): ranks that
            # never reached the server, or a different rank count from theirs
            r"topo exchange (?:server|agent) get socket timeout",
            r"TopoExchangeAgent: connect server\[.{0,80}\] failed",
            # HCCL's peer-to-peer link set-up at init, on a server whose ranks did not all come
            r"Wait timeout for get P2P status",
            r"TopoDetect ERROR occur.{0,80}Failed to connect agent\[",
            r"rank num\[\d+\] is different with rank list size\[\d+\]",
            r"\bEI0015(?:\)|:|\[PID)",  # (its code, and its messages since CANN 8.5)
            r"No rank in the communicator can connect to the root node",
            r"Failed to collect cluster information of the communicator based on rootInfo",
            r"Start Scheduler node timeout",  # MindSpore's scheduler never heard from its workers
            # JAX's coordination service: a barrier some processes never reached, tasks that
            # never registered (crashed, not scheduled)
            r"DEADLINE_EXCEEDED: Barrier timed out",
            r"Stopping coordination service as cluster registration failed",
        ],
        "weak_patterns": [
            # JAX's note while a TPU pod's hosts have not all joined ("TPU backend initialization
            # is taking more than 60.0 seconds. Did you run your code on all TPU hosts?")
            r"TPU backend initialization is taking more than [\d.]+ seconds",
            # a rank waited for rank 0's NCCL id in the store and the wait failed (how is cut
            # away) (Ascend's torch_npu sets up its HCCL communicator the same way: "hcclUniqueId")
            r"retrieving [nh]cclUniqueId from \[\d+\] via c10d key-value",
            # Docker Desktop's hosts entry for the machine's own name ("kubernetes.docker.
            # internal") sends the store's clients to an address that is not this host's (10049)
            r"failed to connect to \[kubernetes\.docker\.internal\]:\d+",
            # a connect to the store that timed out (nobody answered: a firewall, a wrong
            # address), unlike a refused one (the store not up yet), which torch just retries
            r"failed to connect to \[[^\]]*\]:\d+ \((?:errno: 110|system error: 10060)\b",
        ],
        # the elastic agent's own rendezvous store calls raised (a paste cut before the error)
        "frames": [r"rendezvous/c10d_rendezvous_backend\.py"],
        "cause": "Some nodes or ranks never reached the master: wrong MASTER_ADDR/port, a "
        "firewall, a node that started late or failed before init, or different --nnodes / "
        "world sizes across nodes.",
        "fix": "Check that every node uses the same MASTER_ADDR:MASTER_PORT, --nnodes and "
        "--nproc-per-node, that the port is reachable (`mltools ddp-doctor check` on each node), "
        "and raise the rendezvous timeout for slow-starting clusters.",
        "reference": "https://pytorch.org/docs/stable/elastic/rendezvous.html",
    },
    {
        "id": "no_backend_for_device",
        "title": "The process group has no backend for the tensor's device",
        "role": "cause",
        "patterns": [
            r"No backend type associated",
            # (also torch's own raise, the message split over two literals: "... NCCL " "built in")
            r"Distributed package doesn't have NCCL (?:\" \")?built in",
            # torch's warning on the way to that error (Windows, CPU-only wheels)
            r"default timeout for nccl backend, but NCCL support is not compiled",
            r"ProcessGroupNCCL is only supported with GPUs",
            r"RuntimeError: ProcessGroupNCCL is(?: only)?\s*$",  # (its message cut there)
            r"Could not find the default backend type",
            # NCCL's own check on a collective's tensors: a CPU tensor given to a NCCL group
            r"Tensors must be CUDA and dense",
            # a device with no collective backend of its own: gloo handed its tensors (it takes
            # CPU tensors only), or a c10d operator with no kernel for that device
            r"ProcessGroupGloo::\w+: invalid tensor type.{0,400}\bgot\b.{0,200}"
            r"\bdevice=(?:mps|cuda|xpu|hpu|npu|meta)",
            r"The operator 'c10d::\w+' is not currently implemented for the \w+ device",
            # a collective on tensors of a device whose dispatch has no c10d kernel ('Meta')
            r"Could not run 'c10d::\w+' with arguments from the '\w+' backend",
            # torch found an accelerator it has no default collective backend for (mps)
            r"But we don't know which communication backend to use",
            # the MPI process group on GPU tensors, with an MPI built without CUDA support
            r"the MPI used doesn't have CUDA-aware MPI support",
            # TensorFlow without NCCL (Windows): no kernel for its NCCL ops
            r"No OpKernel was registered to support Op 'Nccl\w+'",
        ],
        "cause": "A collective got a tensor on a device the process group was not created for "
        "(a CUDA tensor with a gloo-only group, a CPU tensor with NCCL), or the backend is not "
        "built into this torch (NCCL on a CPU-only wheel).",
        "fix": "Move the tensor to the group's device, or create the group with both backends: "
        "init_process_group('cpu:gloo,cuda:nccl'); on CPU-only machines use backend='gloo'.",
        "reference": "https://pytorch.org/docs/stable/distributed.html#torch.distributed.init_process_group",
    },
    {
        "id": "pg_not_initialized",
        "title": "A collective was called before init_process_group",
        "role": "cause",
        "patterns": [
            r"[Dd]efault process group (?:has not been|is not|was not) init",
            r"init_process_group\(\)? (?:must|should|has to) be called",
            # composer's ("The world_size(8) > 1, but the distributed package is not ...")
            r"the distributed package is not available or has not been init",
        ],
        "frames": [r", in _get_default_group\b"],  # the function that raises it
        "cause": "Code used torch.distributed (a collective, get_rank, DDP) before "
        "init_process_group ran, or after destroy_process_group, or in a process not started "
        "by the launcher.",
        "fix": "Call torch.distributed.init_process_group (mltools.ddp.setup()) first, guard "
        "single-process code with dist.is_initialized(), and launch with torchrun.",
        "reference": "https://pytorch.org/docs/stable/distributed.html#initialization",
    },
    {
        "id": "illegal_memory_access",
        "title": "A CUDA kernel touched memory it does not own (illegal memory access)",
        "role": "cause",
        "patterns": [
            r"an illegal memory\b",
            r"cudaErrorIllegalAddress",
            r"CUDA_ERROR_ILLEGAL_ADDRESS",
            r"misaligned addr",
            r"an illegal instruction was encountered",
            # the driver's report of it in the kernel log: Xid 31, a GPU memory page (MMU) fault
            r"Xid \(PCI:[^)]*\): 31\b",
            # ROCm's runtime reports the same page fault ("Memory access fault by GPU node-2
            # (Agent handle: 0x...) on address 0x.... Reason: Page not present or supervisor
            # privilege.")
            r"Memory access fault by GPU node-\d+",
            # and the amdgpu kernel driver's report of it (dmesg): the analogue of Xid 31
            r"\bamdgpu: \[\w+\] (?:no-)?retry page fault\b",
            # compute-sanitizer's memcheck report of the access
            r"Invalid __(?:global|shared|local)__ (?:read|write|atomic) of size \d+",
            # the Ascend runtime's report of an NPU kernel's out-of-range access: its memory
            # unit's (SMMU) fault, an MTE instruction's DDR address out of range
            r"The DDR address of the MTE instruction is out of range",
            r"isSmmuFault is 1\b",
            # the runtime's codes and words for a kernel's bad access: an AI Core or vector core
            # exception or its read/write overflow trap, an SDMA copy HCCL started (EI0012)
            r"error code is (?:507015|507035|507042|507043|507044|507045)\b",
            r"\bEI0012(?:\)|:|\[PID)",
            r"SDMA memory copy task exception occurred",
            r"there is an? (?:fftsplus )?sdma error\b",
            r"hit black list or hit smmu fault",
            r"MTE accesses an invalid GM address",
        ],
        "cause": "A kernel read or wrote out of bounds: a bug in a custom/fused kernel (Triton, "
        "flash-attention, a quantisation kernel), an index past a tensor's end, or a tensor "
        "freed while a kernel on another stream still used it. In torch 2.x it usually reaches "
        "the log through the NCCL watchdog ('Process group watchdog thread terminated with "
        "exception: CUDA error: ...'), so the collective it names is not the culprit.",
        "fix": "Re-run with CUDA_LAUNCH_BLOCKING=1 (preset cuda-sync) to see the kernel that "
        "faulted, then compute-sanitizer (`compute-sanitizer --tool memcheck python ...`) on "
        "one rank; disable custom kernels one by one (attention backend, fused optimiser, "
        "quantisation) and update the library that ships the failing kernel.",
        "reference": "https://pytorch.org/docs/stable/notes/cuda.html#asynchronous-execution",
    },
    {
        "id": "gpu_hardware",
        "title": "A GPU hardware fault (ECC error, Xid, GPU fell off the bus)",
        "role": "cause",
        "patterns": [
            r"uncorrectable ECC error",
            r"ECC_UNCORRECTABLE",
            # (not 13, 31, 43 or 45: the application's own faults, and the cleanup after them)
            r"Xid \(PCI:[^)]*\): (?!(?:13|31|43|45)\b)\d+",
            # the cleanup Xid 45 after a hardware one ("45, pid=..., caused by previous Xid 149")
            r"Xid \(PCI:[^)]*\): 45\b.{0,120}caused\sby\sprevious\sXid\s(?!(?:13|31|43|45)\b)\d+",
            # the same Xid in node monitors' words (EKS's node agent: "NvidiaXID79Error msg=
            # detected XID-79 on the instance")
            r"\bNvidiaXID(?!(?:13|31|43|45)Error)\d+Error\b",
            r"\bdetected XID-(?!(?:13|31|43|45)\b)\d+",
            r"fallen off the bus",
            # the kernel's own report (APEI) of an uncorrectable memory error: HBM, any vendor
            r"error_type: \d+, multi-bit ECC",
            r"Unable to determine the device handle for GPU",
            r"GPU is lost",
            # ROCm's runtime: the GPU stopped answering ("HW Exception by GPU node-9 (Agent
            # handle: 0x...) reason :GPU Hang")
            r"HW Exception by GPU node-\d+ .{0,60}reason ?:GPU Hang",
            r"NVRM: GPU \S+: RmInitAdapter failed",  # the driver could not bring the GPU up
            # Ascend's NPU: the runtime's codes for a lost device heartbeat, an uncorrectable
            # (or suspected) device-memory error, multi-bit HBM ECC, a chip-to-chip link error,
            # and torch_npu's and the runtime's words for them
            r"error code is (?:507010|507053|507054|507055|507056)\b",
            r"HBM MULTI BIT ECC ERROR|hbm Multi-bit ECC error",
            r"get UCE ERROR\b",
            r"Device\[\d+\] lost heartbeat",
            r"The task scheduler loses the heartbeat",
            r"Fault RAS occurs in the system",
            r"reason=\[(?:suspect )?device mem error\]",
        ],
        "cause": "The GPU, its memory or its PCIe link failed: an uncorrectable ECC error, an "
        "NVRM Xid in the kernel log (79: fell off the bus, 48/63/64/94/95: memory errors), "
        "overheating or a power problem. Software on the node is not the cause.",
        "fix": "Check `dmesg | grep -i xid` and `nvidia-smi -q -d ECC,PAGE_RETIREMENT,"
        "ROW_REMAPPER` on the node; drain it from the scheduler, reset or reboot the GPU "
        "(`nvidia-smi -r`) and resume from the last checkpoint elsewhere; report a repeat "
        "offender to the hardware team.",
        "reference": "https://docs.nvidia.com/deploy/xid-errors/index.html",
    },
    {
        "id": "nccl_unhandled_cuda",
        "title": "NCCL hit a CUDA error it could not handle",
        "role": "cause",
        "patterns": [
            r"unhandled (?:cuda|CUDA)\b",
            r"ncclUnhandledCudaError",
            r"Cuda failure (?:\d+ )?'",
            r"NCCL Error 1\b",
            # NVLS set-up failing on a CUDA driver call ("... Multicast memory: CUDA error 401")
            r"Failed to bind NVLink SHARP \(NVLS\) Multicast memory",
        ],
        "cause": "A CUDA call inside NCCL failed ('Last error: Cuda failure N ...'): a driver "
        "too old or too new for the NCCL torch ships, a known NCCL bug (fixed in a later "
        "release), WSL or consumer GPUs without peer-to-peer support, a GPU in exclusive or "
        "prohibited compute mode, or a container without the devices it needs.",
        "fix": "Re-run with the nccl-debug preset and read the 'Cuda failure' line; try the "
        "p2p-off preset (NCCL_P2P_DISABLE=1, needed on many consumer GPUs and WSL), update the "
        "driver or install a torch build with a newer NCCL, and check `nvidia-smi -q | grep "
        "'Compute Mode'`.",
        "reference": "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html",
    },
    {
        "id": "segfault",
        "title": "A rank crashed with a segmentation fault (SIGSEGV)",
        "role": "cause",
        "patterns": [
            r"\bexit(?:ed)? with status(?: code)?:? 139\b",
            # the kernel's log of it (dmesg, journalctl -k): "python3.10[3078129]: segfault at 60
            # ip 00007f24b8cf2616 sp 00007ffc0f212680 error 4 in libc10_cuda.so[...]"
            r"\]: segfault at [0-9a-f]+ ip [0-9a-f]+ sp [0-9a-f]+ error",
            r"exitcode\s*:\s*-11\b",
            r"Signal 11 \(SIGSEGV\)",
            r"[Ss]egmentation fa",  # (its shortest start: a paste may be cut inside it)
            r"signal SIGSEGV",
            # not where it is one of a list of possible causes ("due to SIGSEGV or other
            # unexpected errors", Ray's worker-died message): hedged text is no evidence
            r"(?<!due to )SIGSEGV(?! or other)",
            r"exits with return code = -11\b",
            # an exit status of 128+11 as a platform reports it ("Exit code: 139. Reason: ...")
            r"(?:[Ee]xit|[Rr]eturn) (?:code|status):? 139\b",
            r"exit code \(139\)",
            r"exited with code 139\b",
            r"\bexitCode\W{1,3}139\b",
            r"non-zero exit status -11\b",
            # Windows' access violation (STATUS_ACCESS_VIOLATION), as a signed or hex status
            r"\b0xC0000005\b|exit code -1073741819\b|exit code 3221225477\b",
            r"^\W*EXIT CODE: (?:11|139)\s*$",  # (MPICH's hydra banner, as above)
        ],
        "cause": "Native code crashed (exit code -11), usually with no Python traceback: a C++/"
        "CUDA extension built against another torch, mismatched library versions, a driver or "
        "hardware-specific bug (new GPU generations), or a stack overflow in a worker.",
        "fix": "Re-run one rank with `python -X faulthandler` (or PYTHONFAULTHANDLER=1) and "
        "under gdb (`gdb -ex run --args python train.py`) to get the native stack; rebuild "
        "extensions against the installed torch, and try the previous/next torch and driver.",
        "reference": "https://docs.python.org/3/library/faulthandler.html",
    },
    {
        "id": "fsdp_flat_param",
        "title": "FSDP flat-parameter or sharded-state mismatch",
        "role": "cause",
        "patterns": [
            r"`?FlatParameter`? requires uniform `?requires_grad",
            r"[Mm]ust flatten tensors with uniform",
            r"FlatParam(?:eter|Handle)",
            # FSDP's state-dict types that need flattened, sharded parameters
            r"can only be used when parameters are flatten and sharded",
            r"FlattenParamsWrapper(?!\()",  # (not a printed model's module tree)
            r"_fsdp_wrapped_module\.",
            r"Size mismatch between saved torch\.Size\(\[[\d, ]+\]\) and current",
            r"mismatch sizes torch\.Size\(",
        ],
        "frames": [r"fsdp/_?flat_param\.py", r"flatten_params_wrapper\.py"],
        "cause": "FSDP packs a module's parameters into one flat, sharded FlatParameter: "
        "parameters with different requires_grad (frozen layers, LoRA) cannot share one "
        "without use_orig_params=True, and a state dict saved flattened or sharded "
        "(_fsdp_wrapped_module keys, 1-D shapes) does not load into an unwrapped model or a "
        "different sharding.",
        "fix": "Pass use_orig_params=True (or wrap frozen and trainable parts separately); "
        "save with a full state dict (torch.distributed.checkpoint.state_dict."
        "get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))) and "
        "load sharded checkpoints with the same world size and wrapping they were saved with.",
        "reference": "https://pytorch.org/docs/stable/fsdp.html",
    },
    {
        "id": "compile_ddp",
        "title": "torch.compile failed under DDP (DDPOptimizer or the compile backend)",
        "role": "cause",
        "patterns": [
            # what DDPOptimizer raises, and the advice in its errors; not its INFO lines
            # ("DDPOptimizer used bucket cap ...", printed by every healthy compiled DDP run)
            r"DDPOptimizer backend: ",
            r"DDPOptimizer\b.*\b(?:not supported|failed|[Ee]rror)\b",
            r"(?:[Tt]urn off|[Dd]isable|[Ss]et) .{0,40}optimize_ddp\s*=\s*False",
            r"BackendCompilerFailed: (?:backend='\w+' raised|compile_fn raised)",
            r"^(?:\w+\.)*BackendCompilerFailed\b",
            # dynamo's and inductor's own errors (a graph it cannot trace, a lowering it cannot
            # do): the compile failed, whatever the exception's name ends with
            r"torch\._dynamo\.exc\.(?:Unsupported|TorchRuntimeError|InternalTorchDynamoError)\b",
            r"torch\._inductor\.exc\.(?:InductorError|LoweringException|CppCompileError)\b",
            # dynamo's refusal of FSDP1 with flattened parameters (torch.compile of an FSDP model)
            r"Dynamo only supports FSDP with use_orig_params=True",
            # dynamo's Unsupported reported without its class, by the variable it could not
            # trace ("An error occurred: Unsupported - setattr(FSDPManagedNNModuleVariable(...")
            r"[Ee]rror\b.{0,40}\bUnsupported\b.{0,200}?\b[A-Z]\w*Variable\(",
            # inductor's g++ build of the generated code, surfacing as the subprocess error
            r"CalledProcessError: Command '\['(?:g\+\+|gcc|c\+\+|clang\+\+)', '[^']*torchinductor_",
        ],
        "frames": [
            r"_dynamo/(?:backends/distributed|convert_frame|output_graph)\.py",
            r"_inductor/(?:compile_fx|cpp_builder)\.py",
            # the code inductor generated ("/tmp/torchinductor_user/fa/cfaq....py", in call):
            # an exception raised inside it is the compiled graph's (assert_size_stride)
            r"/torchinductor_[^/\s]+/\w+/\w+\.py",
        ],
        "cause": "torch.compile splits a DDP model into graphs at the gradient-bucket "
        "boundaries (DDPOptimizer); that pass fails on some graphs (higher-order ops such as "
        "activation checkpointing, symbolic shapes, parameters that are not nn.Parameter) or "
        "on torch versions with known bugs; or the compile backend itself raised "
        "(backend='inductor' raised: a missing or broken triton, a GPU or op it cannot "
        "compile for).",
        "fix": "Set torch._dynamo.config.optimize_ddp = False (one bucket per graph), compile "
        "the model before wrapping it in DDP, or upgrade torch; TORCH_LOGS=+dynamo shows the "
        "failing graph.",
        "reference": "https://pytorch.org/docs/stable/notes/ddp.html",
    },
    {
        "id": "peer_crashed",
        "title": "A peer rank went away mid-collective",
        "role": "symptom",
        "patterns": [
            r"Connection closed by peer",
            r"Connection reset by peer",
            r"Failed to recv, got 0 bytes\. Connection was likely closed",
            r"Connection closed by remote peer",
            r"Socket recv failed while polling",
            r"terminated with exit code \d+, terminating remaining processes",
            # Horovod's op on a rank whose peer raised ("Horovod has been shut down. This was
            # caused by an exception on one of the ranks or ...")
            r"Horovod has been shut down\. This was caused by an exception on one of the ranks",
            # monitored_barrier on a rank that reached it: a peer failed to answer
            r"reached monitoredBarrier, but received errors while waiting for send/recv from rank",
            r"ExceptionType:\[Heartbeat Lost Occurred\]",  # HCCL: a peer's heartbeat stopped
        ],
        "cause": "This rank lost its connection to another rank, which almost always means the "
        "other rank crashed or was killed first. This rank is a victim.",
        "fix": "Read the failure of the rank that died first (the root cause above); fix that.",
        "reference": "https://pytorch.org/docs/stable/elastic/errors.html",
    },
    {
        "id": "rank_terminated",
        "title": "The launcher stopped this rank after another failed",
        "role": "symptom",
        "patterns": [
            r"exitcode\s*:\s*-15\b",
            r"Signal 15 \(SIGTERM\) received by PID",
        ],
        "cause": "torchrun sends SIGTERM to the surviving ranks once one rank fails; these "
        "ranks are victims.",
        "fix": "Read the failure of the rank that died first (the root cause above).",
        "reference": "https://pytorch.org/docs/stable/elastic/run.html",
    },
    {
        "id": "agent_signal",
        "title": "The launcher was stopped by a signal from outside",
        "role": "cause",
        "weak": True,
        "patterns": [
            r"Received \d+ death signal",
            r"Received Signals\.SIG(?:HUP|INT|QUIT) death signal",
            r"SignalException: Process \d+ got\b",  # (a retyped paste: "got sigval:1")
            # the agent's exception named alone (a title line, its message cut away)
            r"elastic\.multiprocessing\.api\.SignalException\s*$",
            # the agent passes on what it got (after a worker's failure it sends SIGTERM)
            r"Sending process \d+ closing\ssignal\sSIG(?:HUP|INT|QUIT)\b",
            # PREEMPTION, TIME LIMIT, ... (not a NODE FAILURE: the machine went, no signal did)
            r"CANCELLED AT \S+ DUE TO (?:PRE|TIM|JOB)",
            r"\bnode was preempted\b",  # (Ray: "the actor's node was preempted: ...")
            # Ctrl-C in the workers' own words: Python's exception ending a traceback,
            # Lightning's shutdown on it, DeepSpeed's launcher passing it on
            r"^\s*KeyboardInterrupt\s*$",
            r"Detected KeyboardInterrupt, attempting graceful shutdown",
            r"Main process received SIG(?:INT|HUP|TERM), exiting",
            # torchrun's own agent got SIGTERM (scancel, a pod deleted, a node drained) and
            # stops its workers: "api.py:688] Received Signals.SIGTERM death signal, shutting
            # down workers"; the "closing signal SIGTERM" lines after it are its doing
            r"Received Signals\.SIGTERM death signal",
            # Kubernetes evicted the pod (kubelet under memory or disk pressure): kubectl's
            # STATUS column, `kubectl describe pod`'s status or reason
            r"^\s*\S+ +\d+/\d+ +Evicted +\d+",
            r"^\s*(?:Reason|Status):\s+Evicted\s*$",
            # Ray's autoscaler reports the pod under a node being deleted by Kubernetes
            r"\(reason: kubernetes-pod-termination\)",
        ],
        "cause": "torchrun itself received a signal and stopped its workers: SIGHUP when the "
        "terminal closed (nohup does not always protect it), SIGINT from Ctrl-C, SIGTERM from "
        "the scheduler (Slurm time limit, preemption, scancel, Kubernetes eviction) or from an "
        "orchestrator whose other component crashed.",
        "fix": "Run inside tmux/screen or with setsid, check the scheduler's accounting "
        "(`sacct -j JOB`, `kubectl describe pod`) for time limits and preemption, and read "
        "the logs of whatever sent the signal; resume from the last checkpoint.",
        "reference": "https://pytorch.org/docs/stable/elastic/run.html",
    },
    {
        "id": "killed_by_signal",
        "title": "A rank was killed by SIGKILL (often the kernel's OOM killer)",
        "role": "cause",
        "patterns": [
            # the kernel's OOM-killer report, its first line ("p2pd invoked oom-killer:
            # gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0")
            r"\binvoked oom-killer: gfp_mask=",
            r"\bexit(?:ed)? with status(?: code)?:? 137\b",  # (horovodrun's "Process 0 exit with")
            r"exitcode\s*:\s*-9\b",
            r"Signal 9 \(SIGKILL\) received by PID",
            r"terminated with signal SIGKILL",
            r"exits with return code = -9\b",
            r"exited on signal 9 \(Killed\)",  # Open MPI's mpirun (llm.c's multi-GPU runs)
            # the shell's own report of a child that SIGKILL ended ("Killed", a job "[1]+ Killed")
            r"^\s*Killed\s*$",
            r"^\[\d+\]\+?\s+Killed\s+\S",
            r"^\[\d+\] +\d+ killed +\S",  # (zsh's: "[1]    11201 killed     python ...")
            r": line \d+: +\d+ Killed \s*\S",  # a script's shell reports its killed job
            # the same in a Chinese locale (glibc's zh_CN strsignal), glued to a progress bar
            r"已杀死\s*$",
            r"exceeded memory limit \(\d+ > \d+\), being killed",  # Slurm's cgroup
            # the host's OOM killer as schedulers and the kernel report it (Slurm's cgroup,
            # srun, Kubernetes' OOMKilled, exit code 137 = 128 + SIGKILL, dmesg)
            r"\boom[-_]kill event",
            r"ray\.exceptions\.OutOfMemoryError\b|killed due to memory pressure",  # Ray's monitor
            # the same report's last sentence, where a terminal or a paste kept only its end
            r"Refer to the documentation on how to address the out of memory issue\b",
            r"\bOOM ?Killed\b",
            r"srun: error: .*: tasks? [\d,-]+: (?:Out Of Memory|Killed)\b",
            r"exit (?:code|status):? 137\b",
            r"exit code \(137\)",  # (Flyte's pod status)
            r"exited with code 137\b",  # (docker compose)
            r"\bexitCode\W{1,3}137\b",  # a Kubernetes container status (YAML or JSON)
            # subprocess.CalledProcessError of a child SIGKILL ended (a launcher's own child)
            r"non-zero exit status -9\b",
            r"died with <Signals\.SIGKILL: 9>",
            # platforms' own words for the same kill: an exit status of 128+9 as "Exit code" or
            # "return code" (Hugging Face Spaces, ModelArts)
            r"(?:Exit|[Rr]eturn) code:? 137\b",
            # MPICH's hydra banner: the status of the rank it names, a signal as its number
            r"^\W*EXIT CODE: (?:9|137)\s*$",
            r"[Oo]ut of memory: Kill(?:ed)? process \d+",  # (and "Memory cgroup out of ...")
        ],
        # a platform's memory-limit banner (Hugging Face Spaces: "Memory limit exceeded (16Gi)"):
        # the host-memory kill, but a Space prints it for a GPU out-of-memory as well
        "weak_patterns": [
            r"\bMemory limit exceeded \(\d+(?:\.\d+)?[KMGT]i?B?\)",
            # Ray's word for a worker that died without a word (its socket hit end of file);
            # Ray lists the OOM killer's SIGKILL first among the possible causes, and the
            # threads that found the cause found that one
            r"Worker unexpectedly exits with a connection error code 2\b",
        ],
        "cause": "The process was killed with SIGKILL: usually the host ran out of RAM and the "
        "kernel's OOM killer picked it (check `dmesg`/`journalctl -k`), or a scheduler (Slurm, "
        "Kubernetes) enforced a memory limit.",
        "fix": "Lower host-memory use (fewer DataLoader workers, mmap'd datasets, "
        "torch.load(mmap=True, map_location='cpu')), or request more memory from the scheduler.",
        "reference": "https://pytorch.org/docs/stable/elastic/errors.html",
    },
)

#: Used when a rank raised an exception that no entry above recognises.
GENERIC_EXCEPTION: dict[str, object] = {
    "id": "rank_exception",
    "title": "A rank raised an exception",
    "role": "cause",
    "patterns": [],
    "cause": "This rank raised an exception first; the other ranks failed after it.",
    "fix": "Read this rank's traceback (the evidence lines); fix that error. The other ranks' "
    "timeouts and terminations are consequences.",
    "reference": "https://pytorch.org/docs/stable/elastic/errors.html",
}


#: Used when the only failure in a log is an exception's message quoted without its class (a
#: one-line quote in a write-up or an issue title) that torch or a training library raises
#: word for word (``mltools.ddp.messages``); the same id as a rank's exception.
QUOTED_EXCEPTION: dict[str, object] = {
    **GENERIC_EXCEPTION,
    "title": "An exception's message, quoted without its class",
    "cause": "This line is the message of an exception that {library} raises, quoted without "
    "its class or traceback; no other line of the log names a failure.",
    "fix": "Read what the message says (it is that library's own check); for the rank and the "
    "place it was raised, collect the full traceback of every rank (torchrun --tee 3 --log-dir "
    "DIR, or `mltools ddp-doctor run`).",
}

#: Used when a log shows a failure (a traceback, a non-zero exit, a signal, an NCCL error, a
#: watchdog abort, an error-level log line) but neither an entry above nor an exception
#: line names it: the analyser never answers "clean" for a crashed job.
GENERIC_FAILURE: dict[str, object] = {
    "id": "rank_failed",
    "title": "A rank failed (no known cause in the log)",
    "role": "cause",
    "patterns": [],
    "cause": "The log shows a failure (the evidence line) that no catalogue entry "
    "recognises; the message that explains it may be missing from the paste or written "
    "by another rank or node.",
    "fix": "Collect the full log of every rank (torchrun --tee 3 --log-dir DIR, or "
    "`mltools ddp-doctor run`), re-run with the nccl-debug preset, and read the first "
    "error of the rank that failed first.",
    "reference": "https://pytorch.org/docs/stable/elastic/errors.html",
}


# a timeout's words, in any stack's spelling (for FAMILY_WORDS)
_TIMED_OUT = r"(?:timed out|DEADLINE_EXCEEDED|timeout (?:expired|exceeded|reached))"

#: A failure line that no entry's pattern knows can still say what family it is in: an
#: allocator's "ran out of memory" in a framework's own words, a barrier that "timed out"
#: in another launcher's. When the root cause would otherwise be the generic finding, the
#: words of its line pick the family (the first that matches, in this order); the finding
#: says it was read from the words, not from a known message. Each family's words are the
#: ones its errors share across stacks (torch, JAX/XLA, TensorFlow, NCCL/RCCL/HCCL, MPI,
#: the launchers), not one project's sentence.
FAMILY_WORDS: tuple[tuple[str, str], ...] = (
    ("device_side_assert", r"device-side assert"),
    (
        "illegal_memory_access",
        r"illegal (?:memory )?(?:access|address)|invalid memory access|misaligned address"
        r"|memory access fault",
    ),
    (
        "gpu_hardware",
        r"\bECC\b|fallen off the bus|uncorrectable|NVLink (?:error|fault|is down)"
        r"|GPU (?:is |has been )?lost|GPU (?:hardware|hang) (?:error|detected)",
    ),
    (
        "cuda_oom",
        r"out of (?:device |gpu |cuda |npu |hbm )?memory|\bOOM\b|OutOfMemory|RESOURCE_EXHAUSTED"
        r"|ResourceExhausted|failed to allocate|allocation (?:of .{1,40} )?failed"
        r"|insufficient (?:device |gpu |npu |cuda )?memory|not enough (?:device |gpu |cuda )?memory"
        r"|memory (?:is )?exhausted",
    ),
    ("segfault", r"segmentation fault|SIGSEGV|\bsegfault|signal 11\b"),
    (
        "address_in_use",
        r"address already in use|EADDRINUSE|port \d+ is (?:already )?(?:in use|occupied)",
    ),
    (
        "rendezvous_timeout",
        rf"(?:barrier|rendezvous|regist|coordinat|store\b|master).{{0,80}}{_TIMED_OUT}"
        rf"|{_TIMED_OUT}.{{0,80}}(?:barrier|rendezvous|regist|coordinat|store\b)",
    ),
    (
        "version_mismatch",
        r"undefined symbol|version mismatch|mismatched versions?|no kernel image"
        r"|(?:driver|runtime|cuda|nccl|torch|library) version (?:is )?(?:too old|insufficient|mismatch)"
        r"|not compiled for (?:this|your)|version (?:does not|doesn't|do not) support"
        r"|CUDA error: operation not supported"
        r"|compiled (?:with|against|for) (?:a )?(?:different|older|newer)",
    ),
    (
        "no_backend_for_device",
        r"(?:backend|nccl|gloo|mpi|xccl|hccl)\b.{0,40}\bnot (?:available|built|supported|compiled)"
        r"|doesn't have (?:nccl|gloo|mpi)\b",
    ),
    (
        "pg_not_initialized",
        r"(?:process group|default group|distributed).{0,60}not (?:been |yet )?initiali[sz]ed"
        r"|must (?:first )?call init_process_group",
    ),
    ("cuda_init_fork", r"re-?initiali[sz]e cuda|cuda.{0,60}forked|forked.{0,60}cuda"),
    (
        "nccl_system_error",
        r"\bNET/(?:IB|Socket|OFI)\b|ibv_\w+ failed|no route to host|network is unreachable",
    ),
)


def _or_cut(word: str) -> str:
    """A pattern for ``word`` or any start of it: what is left of it where a terminal's wrap
    ended the line inside it ("Mis" of "Missing"); the caller anchors it at the line's end."""
    tail = ""
    for char in reversed(word[1:]):
        tail = f"(?:{re.escape(char)}{tail})?"
    return re.escape(word[0]) + tail


# NCCL WARN lines a healthy run prints: no libibverbs (falls back to sockets; the line may
# be wrapped right before the library's name), InfiniBand's
# async events that only report the fabric's state (a port came up, the subnet manager
# re-registered its clients); a port error or a fatal device event still counts
_BENIGN_WARN = (
    r"Failed to open ?(?:libib|$)|NET/IB ?: ?Got async event ?: ?(?:client reregistration|port "
    r"active|GID table change|LID change|P_Key change|SM change)"
    # an InfiniBand device NCCL cannot open at start-up: it uses the others, or sockets
    r"|Call to ibv_open_device failed|NET/IB ?: ?Unable to open device"
    # no libibverbs at all: the IB wrapper's calls refuse until NCCL settles on sockets
    r"|lib wrapper not initialized"
    # the proxy's service thread reading from a connection already closed (localRank -1): the
    # communicators being torn down at the end of a run
    r"|\[Service thread\] Unknown command \d+ from localRank -1"
    # AWS's libfabric plugin on an instance without EFA: NCCL goes on with sockets
    # (these two also cut anywhere by a terminal's wrap, the line ending inside their words)
    r"|NET/OFI Couldn't find any optimal provider"
    r"|NET/OFI " + _or_cut("Couldn't find any optimal provider") + "$"
    # RCCL's advice on the host's set-up ('Missing "iommu=pt" from kernel command line ...')
    r'|Missing "[\w=.-]+" from |'
    + _or_cut("Missing")
    + r'$|Missing "[\w=. -]*(?:" ?(?:'
    + _or_cut("from")
    + ")?)?$"
)

#: NCCL sources whose "-> 3" return-code chain is no failure by itself: the IB plugin's probe
#: on a host without libibverbs (net_ib/init.cc, gdr.cc: NCCL goes on with sockets), and a
#: socket's chain with no WARN before it (misc/socket.cc: a peer closed its end as the
#: communicators were destroyed at the end of a healthy run)
BENIGN_CHAIN_SOURCES = ("net_ib/init", "net_ib/gdr", "misc/socket")

#: Lines that show a failure even when nothing more specific matches (see GENERIC_FAILURE).
FAILURE_SIGNALS: tuple[str, ...] = (
    r"Traceback \(most\b",  # (its shortest start: a terminal may wrap the rest away)
    r"failed \(exitcode: -?[1-9]",
    r"^\s*exitcode\s*:\s*-?[1-9]",
    r"exit code:? -?[1-9]",
    r"exit code \(-?[1-9]",
    r"exited with (?:error )?code:? -?[1-9]",
    r"exit status -?[1-9]",
    r"terminate called (?:after throwing|without an active)",
    r"core dumped",
    r"ChildFailedError",
    r"Process(?:Raised|Exited)Exception",
    rf"NCCL WARN?(?:$| (?!{_BENIGN_WARN}))",  # (a line may be cut right after it)
    rf"\] WARN (?!{_BENIGN_WARN})",
    r"NCCL error",
    r"\bNCCL Error \d+: ",  # torch's torch.cuda.nccl calls ("NCCL Error 5: invalid usage")
    r"nccl\w+Error",
    r"watchdog thread terminated",
    r"taking the entire process down",
    # (not the "-> 3" of a benign chain source, see BENIGN_CHAIN_SOURCES)
    "".join(f"(?<!{re.escape(source)})" for source in BENIGN_CHAIN_SOURCES)
    + r"\.cc:\d+ -> [1-9]|\.cc:\d+ -> (?:[124-9]|3\d)"
    r"|\.cu:\d+ -> [124-9]\b",  # (NCCL up to 2.8 had .cu sources: "init.cu:864 -> 2")
    # (HCCL: Ascend's torch_npu; XCCL: Intel's XPU backend)
    r"\[E (?:ProcessGroup(?:NCCL|Gloo|HCCL|XCCL)|socket|TCPStore|NCCLUtils|Utils)\.",
    r"\[[EF]\d{3,4} [\d:.]+ (?:\d+ )?ProcessGroup(?:Gloo|NCCL|HCCL|XCCL)\.cpp",
    r"^\s*File \"[^\"]+\",\sline\s\d+,\sin\s",
    r"^\s*frame #\d+: .*(?:c10d?::|libtorch|libc10|\(0x[0-9a-f]+ in \S)",
    # glibc's backtrace_symbols() form of the same frames ("libtorch_cuda.so(+0xe5c7aa)
    # [0x7f454ce5c7aa] c10d::ProcessGroupNCCL::ncclCommWatchdog()"), and a C++ terminate's
    r"\(\+0x[0-9a-f]+\) \[0x[0-9a-f]+\] c10d?::",
    r"__cxxabiv1::__terminate\(",
    r"^\s*File \"[^\"]+\",\sline\s\d+\sin\s",
    r"Fatal Python error:",
    # glibc's dynamic loader failed its own check and aborted the process ("Inconsistency
    # detected by ld.so: ../elf/dl-tls.c: 488: _dl_allocate_tls_init: Assertion ... failed!")
    r"Inconsistency detected by ld\.so: ",
    # HPE PALS (Cray's mpiexec) could not start the ranks on a node
    r"\blaunch failed on \S+: ",
    r"Sending process \d+ c",  # the launcher tears the workers down (its shortest start)
    r"exited with non-zero status|exited on signal \d+",
    r"^\s*Exit code:\s+[1-9]",
    r"connectFullMesh failed",
    # (not W&B's about its own service: metrics, uploads, retries; not the dynamic loader
    # skipping a preload library it cannot find, which it ignores: glibc prints no other
    # "ERROR: ld.so: object '...", so a terminal's wrap anywhere after it changes nothing;
    # not pip's resolver note on installed packages it left as they were: the job goes on)
    # not FastChat's controller, which logs the stderr of a healthy server at ERROR ("| ERROR |
    # stderr | INFO: Started server process"): the level is the record's inside it)
    # (not XLA's probe of a CUDA driver on a host without a GPU, a TPU host: "failed call to
    # cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"; it goes on;
    # a terminal's wrap may leave its "ERROR (303)" alone on a line; not PMIx's shared-memory
    # store that misses a key it then asks the server for: "PMIX ERROR: PMIX_ERR_NOT_FOUND in
    # file dstore_base.c at line 1567", printed by healthy MPI jobs on some PMIx versions)
    r"(?<!wandb: )(?<!cuInit: UNKNOWN )\bERROR\b(?!: ld\.so: object '"
    r"|: pip's dependency resolver does not currently take into account"
    r"| \| stderr \| (?:\W*\[[\d;]*m)?(?:INFO|DEBUG|WARNING)\b"
    r"| \(\d+\)\s*$"
    r"|: PMIX_ERR(?:OR|_\w+) in file dstore_\w+\.c at line \d)",
    r"CUresult error",
    r"sigkill_handler\] Killing subprocess",
    r"^\s*Killed\s*$",
    r"^\s*│ ❱ +\d+ │",
    r"^\*+ An error occurred in MPI_",  # Open MPI's abort banner; a leading "**" is markdown
    r"^\*+ Error in `",  # to the prefix stripper, so one "*" or more
    r"^\*+ Process received signal \*\*\*",
    r"^\s*\[[\w.-]+:\d+\] \*\*\* Process received signal \*\*\*",  # ("[host:pid] *** ...")
    r"^\*+ [\w ]+ detected \*\*\*",
    r"MPI_ABORT was invoked",
    # Open MPI's runtime (ORTE) gave up: its internal-error and daemon-start banners
    r"An internal error has occurred in ORTE",
    r"ORTE_ERROR_LOG: ",
    r"ORTE was unable to reliably start",
    # a gdb backtrace through native distributed code, or through abort()/raise(): one
    # pattern per frame kind, so each keeps a literal that only such a frame holds (a shared
    # " in " made grep hand every "... in ..." line of a healthy log to Python, 4x slower)
    r"^\s*#\d+ +0x[0-9a-f]+ in c10d?::",
    r"^\s*#\d+ +0x[0-9a-f]+ in nccl",
    r"^\s*#\d+ +0x[0-9a-f]+ in \S+::nccl",
    r"^\s*#\d+ +0x[0-9a-f]+ in \S*ProcessGroup",
    r"^\s*#\d+ +0x[0-9a-f]+ in raise \(",
    r"^\s*#\d+ +0x[0-9a-f]+ in abort \(",
    # gdb's "thread apply all bt" of a process, the way a hang is looked into: each thread's
    # header ("Thread 4 (Thread 0x7fd09a759000 (LWP 3913167) "cuda00006000019"):")
    r"^\s*Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP \d+\)",
    # an NCCL call's failure in another framework's words ("ncclAllReduce failed: ...")
    r"\bnccl[A-Z]\w* failed: ",
    # torch.load(weights_only=True) refused a pickle ("WeightsUnpickler error: ...")
    r"WeightsUnpickler error: ",
    r"\*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED AT \S",  # Slurm stopped the job (scancel, limits)
    r"Check failed: ",
    # Ray's autoscaler cannot place what the job asks for: it waits for ever
    r"No available node types can fulfill resource request",
    # Open MPI's (and horovodrun's) fatal-signal report ends so, its signal line cut away
    r"\*\*\* End of error message \*\*\*",
    # torch.distributed.elastic's ProcessFailure as its repr prints it, in a launcher's own log
    r"\bProcessFailure\(local_rank=\d+, pid=\d+, exitcode=-?[1-9]",
    # a Kubernetes job whose pods failed, as kubectl lists them (STATUS column)
    r"^\s*\S+ +\d+/\d+ +Error +\d+",
    r"^\s*\S+ +\d+/\d+ +CrashLoopBackOff +\d+",
    r"^\s*\S*job\S* +Failed +\d",  # glog/absl CHECK and status reports, their stack-trace banner
    # glog's failure-signal handler (Paddle, Ray's core, TensorFlow): "*** SIGBUS (@0x7f...)
    # received by PID 4279 (TID 0x7f...) from PID 2116; stack trace: ***"
    r"\bSIG[A-Z]{2,6} \(@0x[0-9a-f]+\) received by PID \d+",  # (its "***" reads as markdown)
    r"\bSIG[A-Z]{2,6} received by PID \d+ \(TID \d+\)",  # (absl's: "... on cpu 6 from PID 7408")
    # Gaudi's kernel driver could not bring a device up (one literal each, the longest a
    # needle: ": Failed to " alone passes many a healthy line to the scan)
    r"\bMIOpen Error: ",  # ROCm's kernel library
    # py-spy's dump of a rank inside a collective ("    barrier (torch/distributed/
    # distributed_c10d.py:2784)"): taken because the job hangs there
    r"^\s*\w+ \(\S*torch/distributed/distributed_c10d\.py:\d+\)",
    r"habanalabs [\w:.]+: Failed to communicate with Device CPU",
    r"habanalabs [\w:.]+: Failed to initialize hl\d+",
    # the shell's word for a process a SIGBUS killed: alone, as a job, or from a script
    r"(?:^\s*|^\[\d+\]\+?\s+|: line \d+: +\d+ )Bus error\b",
    # Paddle's multi-GPU install check failed (it worked on one GPU only)
    r"Your Paddle has some problem with multiple GPU",
    r"Non-OK-status: ",
    r"\* Begin stack trace \*\*\*",  # (a leading "**" goes with the markdown stripper)
    r"kernel execution error\. \((?:batch: |m: )\d+",  # DeepSpeed's cuBLAS wrappers ("!!!! ...")
    r"^[\w./-]+\.py: error: ",  # argparse refused the command line, its usage block
    r" \[-h\] \[--",
    r"^\s{8,}\[--[\w.-]+(?: [A-Z][\w]*| \{[^}]*\})?\] \[--",
    r": error: (?:the following arg|unrecognized arg|argument -)",
    r"\bExtension modules: \w[\w.]*, ",  # the tail of faulthandler's fatal-crash dump
    r"\bTest (?:CUDA|NCCL) failure \S+\.cu\b",  # nccl-tests
    r"^\s*File [~/][^\s:,]*\.py:\d+, in \w",  # IPython/Jupyter frames
    r"Error\(s\) in loading state_dict for ",
    # pickle's refusal quoted without its class (spawned workers, DDP's model copies)
    r"^\s*Can't pickle <[^>]+>: ",
    # XLA's replica that failed (JAX/Flax: "INTERNAL: NCCL operation ncclAllReduce(...) failed")
    r"Execution of replica \d+ failed: ",
    r"\benforce fail at \S+:\d+\]",  # Caffe2's CAFFE_ENFORCE
    r"dmlc\S*/logging\.h:\d+: \[",  # MXNet's LOG(FATAL), which throws
    r"CHILD PROCESS FAILED WITH NO ERROR_FILE",  # torch 1.9's elastic agent
    r"\(local_rank \d+\) FAILED \(exitcode -?[1-9]",
    r"Process failed with exitcode -?[1-9]",
    r"torchelastic\.worker\.status\.FAILED",
    r"^\s*Error: failed to run ",  # launcher wrappers (the ColossalAI CLI), as pasted or indented
    # the shell could not find the launcher itself (also in a zh_CN locale: "未找到命令")
    r"\b(?:srun|sbatch|torchrun|deepspeed|mpirun|mpiexec|horovodrun|accelerate|pdsh|python3?)"
    r": command not found",
    r"\b(?:srun|sbatch|torchrun|deepspeed|mpirun|mpiexec|horovodrun|accelerate|pdsh|python3?)"
    r"：未找到命令",
    r"python[\d.]*: can't open file .*\[Errno \d+\]",  # a worker that cannot even start
    # C programs' checks of file and memory calls (llm.c's fopenCheck, freadCheck, mallocCheck)
    r"^Error: (?:Failed to (?:open|close) file|File read error|Unexpected end of file"
    r"|Memory allocation failed)\b",
    r"\[FATAL\]",  # bracketed levels of other C++ loggers ("[TM][FATAL] file(N): Check")
    r"\[CRITICAL\] ",  # (MindSpore's "[CRITICAL] DISTRIBUTED(pid,...) ...")
    # the Ascend CANN runtime's error report: its "[PID: N] date" header, a named code
    # ("Communication_Error_Bind_IP_Port(EI0019): ..."), a code before its message ("EI0006:
    # ...", "EZ9999: Inner Error!"): HCCL (EI, EJ), the runtime and driver (EE, EH, EL), inner
    # errors (EZ9999)
    r"\[PID: ?\d+\] ?\d{4}-\d\d-\d\d-\d\d:\d\d:",
    r"_Error\w*\(E[A-Z]\d{4}\)",
    r"_Failure\(E[A-Z]\d{4}\)",
    r"_Timeout\(E[A-Z]\d{4}\)",
    # (one literal each: grep's needles need three characters, and "9999" alone is any number)
    r"9999: Inner Error",
    r"\bE[A-Z]9999\[PID",
    r"\bE[A-Z]9999: \d{4}-\d\d-\d\d-\d\d:",
    r"\bEI0\d{3}(?::|\[PID)",
    r"\bEJ0\d{3}(?::|\[PID)",
    r"\bEE1\d{3}(?::|\[PID)",
    r"\bEL0\d{3}(?::|\[PID)",
    r"\bnvcc fatal\s*: ",  # the CUDA compiler gave up (an extension's build)
    # HCCL's fault records tag the stage and the kind of fault ("[InitGroupStage][EnvConfig]",
    # "[TaskExecStage][HeartbeatAbnormal]")
    r"\[(?:Init\w*|TaskExec)Stage\]\[\w+\]",
    r"\.(?:c|cc|cpp):\d+ +Error: ",  # a C library's own error line (Open MPI's UCX: pml_ucx.c)
    r"Worker exit type: (?:SYSTEM_ERROR|UNEXPECTED_SYSTEM_EXIT)",  # Ray's worker died
    r"A worker died or was killed while executing a task by an unexpected",  # (its first line)
    r"has been marked dead because the detector has missed too many heartbeats",  # a Ray node
    # DeepEP's kernels gave up waiting for a peer's tokens; NVSHMEM's status check exiting
    r"\bDeepEP \w+ \w+ (?:receiver|sender) timeout\b",
    r"\bnon-zero status: \d+: .*exiting",
    r"\.cu:\d+: non-zero status: \d+ ",  # (NVSHMEM: "init.cu:998: non-zero status: 3 building")
    r"^\s*(?:slurmstepd|srun)(?:-[\w.-]+)?: error: ",  # Slurm's own reports (indented too)
    # what ended a process whose name is no Error or Exception, and native assertions
    r"^\s*KeyboardInterrupt\b",
    r"^\s*OMP: Error #\d+: ",  # the OpenMP runtime's fatal line
    r'^\s*File "(?:/|~|[A-Za-z]:\\)',  # a traceback frame, even cut inside its path
    r"^THCudaCheck FAIL file=",  # torch 0.x-1.x
    r"^/pytorch/aten/src/(?:THC|ATen/native/cuda)/",  # a CUDA kernel's report, cut
    rf"\[\d+\] \S+\.(?:cc|cu|c|h):\d+ WARN (?!{_BENIGN_WARN})",  # NCCL 2.0-2.3's WARN
    r"^Exception has occurred: \w",  # VS Code's debugger
    r"mpirun detected that one or more processes",
    # Open MPI's box when a rank exits non-zero ("Primary job  terminated normally, but 1
    # process returned\na non-zero exit code."), printed before mpirun's own summary
    r"Primary job +terminated normally, but \d+ process(?:es)? returned",
    # allocators that abort on a corrupt heap: tcmalloc's check, glibc's malloc checks
    r"\btcmalloc\.cc:\d+\] Attempt to free invalid pointer",
    r"\b(?:free|realloc|malloc)\(\): (?:invalid|corrupted)\b|double free or corruption",
    # an exception from an errors module whose name ends otherwise
    # ("triton.runtime.errors.OutOfResources: out of resource: shared memory")
    r"\.errors\.[A-Z]\w*(?:\([\w.]+\))?: ",
    r"\bscheduler is dead\b",  # SGLang's rank scheduler died
    r"Tensor parallel size \(\d+\) exceeds available GPUs",  # vLLM's check, quoted alone
    r"\] \w+ \[missing ranks: \d[\d, ]*\]",  # Horovod's stall report: ranks never joined
    r"\btorch\._dynamo\.exc\.[A-Z]\w*: ",  # (FailOnRecompileLimitHit ends in no Error)
    # a Ray worker that could not join its node, a node that could not reach the head
    r"Unable to register worker with raylet",
    r"Failed to connect to GCS (?:server|at address)",
    # a process group without the collective called (oneCCL's: "ProcessGroupCCL does not
    # support reduce_scatter")
    r"\bProcessGroup\w+ does not support \w+",
    r"^Error executing job with overrides: ",  # Hydra hides the traceback behind these
    r"^Error in call to target '",
    r"Assertion `.*' failed\.",
    r"\.mm?:\d+: failed assertion `",  # Apple's frameworks (Metal, MPS): "File.mm:234: ..."
    # zsh's report of a job a signal ended ("[1]    11201 abort      python train.py")
    r"^\[\d+\] +\d+ abort +\S",
    r"^\[\d+\] +\d+ bus error +\S",
    # torchelastic restarted the workers after one failed (the failure is the worker's)
    r"Worker group FAILED\. \d+/\d+ attempts left",
    r"oneCCL: failed to start worker",  # Intel's oneCCL could not start its progress worker
    r"distributed\.worker - WARNING - Compute Failed",  # a Dask worker's task raised
    r"UNAVAILABLE: ?failed to connect to all addresses",  # gRPC (JAX's coordinator, Ray)
    r"\bcxil_map: write error",  # Cray MPICH on Slingshot could not map memory
    # XLA's collective set-up stalled ("waiting for `initialize clique ...` ... may be stuck")
    r"This thread has been waiting for `[^`]*` for \d+ seconds and may be stuck",
    r"Xid \(PCI:[^)]*\): \d+",  # the driver's fault report, whichever fault it names
    r"\bFailed: Cuda error \S+:\d+ '",  # custom kernels' CUDA check (vLLM/SGLang all-reduce)
    r"^Assertion failed: .*, file .*, line \d+",
    # other runtimes' native errors: a transport library's assertion (Intel's psm3: "rank1:
    # Assertion failure at psm3/ptl_am/ptl.c:196: ..."), oneCCL's error-level records
    r"Assertion failure at \S+:\d+",
    r"\|CCL_ERROR\| ",
    # launchers that could not start the job: Open MPI refusing more ranks than the allocation
    # has slots, pdsh/ssh (DeepSpeed's multi-node runner) not reaching a host
    r"There are not enough slots available in the system",
    r"\bmpirun was unable to (?:find|launch|start)\b",  # (no executable, no access to it)
    r"ssh: connect to host \S+ port \d+: ",
    # MPICH's launcher: its abort banner, the signal that ended a rank, its own refusals
    r"BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES",
    # MPICH's abort record and its launcher's (PALS, Hydra) report of a rank a signal ended
    r"application called MPI_Abort\(",
    # a state dict that does not fit the model, its per-parameter lines without their head
    r"size mismatch for [\w.]+: copying a param with shape",
    r"\brank \d+ died from signal \d+",
    r"APPLICATION TERMINATED WITH THE EXIT STRING: ",
    r"\bHYD[A-Z]*_\w+ \([\w/.]+:\d+\): ",  # (hydra's internal functions)
    # SkyPilot's managed-job verdicts
    r"\bterminal state FAILED\w*",
    r"\bJobStatus\.FAILED\w*",
    # the tail of torchrun's failure summary, cut before its header
    r"traceback\s*: To enable traceback see",
    # vLLM's engine that never came up (its RuntimeError's message, often quoted alone)
    r"Engine process failed to start",
    # an InfiniBand work completion's status in the verbs library's words (Mooncake's transfer
    # engine logs it at error level: "transport retry counter exceeded")
    r"\btransport retry counter exceeded\b",
    r"\bShard \d+ failed to start\b",  # Text Generation Inference's launcher
    r"Engine core initialization failed",
    r"\bInvalid device id\b",  # torch's check on a device index (get_device_properties)
    # a C++ extension's own CUDA check ("[torch_memory_saver.cpp] cudaError error: 1 (invalid
    # argument) file=... func=pause line=133")
    r"\bcudaError\w*[:= ]+(?:error: ?)?\d+ \(",
)


def catalogue_ids() -> list[str]:
    """The stable ids of every catalogue entry (plus the generic fallback)."""
    return [str(entry["id"]) for entry in CATALOGUE] + [
        str(GENERIC_EXCEPTION["id"]),
        str(GENERIC_FAILURE["id"]),
    ]
