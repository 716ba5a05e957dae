"""`ddp-doctor check`: a preflight lint of the machine and environment for DDP.

Each check returns rows with a status (PASS/WARN/FAIL), what was seen, and the
fix. Everything is read from a ``CheckContext`` (environment, /dev/shm path,
/proc and /sys roots) so tests can control it. torch is imported only for the
version row, and only when installed.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mltools._deps import install_hint
from mltools.cpu import nvidia_gpu_count
from mltools.ddp.presets import torch_version
from mltools.stopper import ancestors

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
GiB = 1024**3
MiB = 1024**2


@dataclass
class CheckResult:
    """One row of the check: name, status, what was found, and how to fix it."""

    name: str
    status: str
    message: str
    fix: str = ""


@dataclass
class CheckContext:
    """What the checks look at; tests replace any part of it."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    shm_path: str = "/dev/shm"
    proc_root: str = "/proc"
    sys_root: str = "/sys"
    import_torch: bool = True


@dataclass
class CheckReport:
    """All rows, and the worst status."""

    results: list[CheckResult]

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        return FAIL if FAIL in statuses else WARN if WARN in statuses else PASS

    @property
    def failed(self) -> bool:
        return self.status == FAIL


# ---------------------------------------------------------------- versions ---


def check_versions(ctx: CheckContext) -> list[CheckResult]:
    """torch, CUDA runtime, cuDNN, NCCL and driver versions; CPU-only torch on a GPU machine."""
    driver = _driver_version(ctx)
    gpu_machine = driver is not None or nvidia_gpu_count(ctx.proc_root) > 0
    rows: list[CheckResult] = []
    if torch_version() is None:
        return [
            CheckResult(
                "versions",
                WARN,
                f"torch is not installed (driver {driver or 'none'})",
                f"{install_hint('torch')} (a wheel matching your CUDA driver)",
            )
        ]
    if not ctx.import_torch:
        major, minor = torch_version()  # type: ignore[misc]
        return [CheckResult("versions", PASS, f"torch {major}.{minor} (not imported)")]
    import torch

    cuda = torch.version.cuda
    cudnn = torch.backends.cudnn.version() if cuda else None
    nccl = None
    if cuda and hasattr(torch.cuda, "nccl"):
        try:
            nccl = ".".join(str(x) for x in torch.cuda.nccl.version())
        except (RuntimeError, AttributeError, TypeError):
            nccl = None
    message = (
        f"torch {torch.__version__}, CUDA runtime {cuda or 'none (CPU build)'}, "
        f"cuDNN {cudnn or 'n/a'}, NCCL {nccl or 'n/a'}, driver {driver or 'none'}"
    )
    if gpu_machine and not cuda:
        rows.append(
            CheckResult(
                "versions",
                FAIL,
                message + ": a CPU-only torch on a machine with NVIDIA GPUs",
                "install the CUDA wheel: pip install torch --index-url "
                "https://download.pytorch.org/whl/cu126 (pick the CUDA your driver supports)",
            )
        )
    else:
        rows.append(CheckResult("versions", PASS, message))
    if (
        "torch" in sys.modules
        and cuda
        and torch.cuda.is_initialized()
        and "CUDA_VISIBLE_DEVICES" in ctx.env
    ):
        rows.append(
            CheckResult(
                "cuda_visible_devices_late",
                WARN,
                "CUDA is already initialised in this process; CUDA_VISIBLE_DEVICES is read "
                "once, at CUDA initialisation, so changing it now has no effect",
                "set CUDA_VISIBLE_DEVICES before the process starts (or before the first "
                "torch.cuda call), not inside the training script after importing torch",
            )
        )
    return rows


def _driver_version(ctx: CheckContext) -> str | None:
    try:
        text = Path(ctx.proc_root, "driver/nvidia/version").read_text()
    except OSError:
        return None
    for token in text.split():
        if token.count(".") >= 1 and token.replace(".", "").isdigit():
            return token
    return None


# -------------------------------------------------------------------- GPUs ---


def check_gpus(ctx: CheckContext) -> list[CheckResult]:
    """GPUs visible vs CUDA_VISIBLE_DEVICES, and CUDA_DEVICE_ORDER."""
    gpus = nvidia_gpu_count(ctx.proc_root)
    cvd = ctx.env.get("CUDA_VISIBLE_DEVICES")
    rows: list[CheckResult] = []
    if not gpus:
        msg = "no NVIDIA GPUs on this machine"
        if cvd:
            msg += f" (CUDA_VISIBLE_DEVICES={cvd} has nothing to select)"
        rows.append(CheckResult("gpus", PASS, msg + "; DDP will use gloo on the CPU"))
        return rows
    if cvd is None:
        rows.append(CheckResult("gpus", PASS, f"{gpus} GPU(s) visible"))
        return rows
    entries = [e.strip() for e in cvd.split(",") if e.strip()]
    bad = [e for e in entries if e.isdigit() and int(e) >= gpus]
    if cvd.strip() in ("", "-1") or not entries:
        rows.append(
            CheckResult(
                "gpus",
                FAIL,
                f"CUDA_VISIBLE_DEVICES={cvd!r} hides every GPU",
                "unset it or list GPU indices",
            )
        )
    elif bad or len(set(entries)) != len(entries):
        rows.append(
            CheckResult(
                "gpus",
                FAIL,
                f"CUDA_VISIBLE_DEVICES={cvd} names GPUs that do not exist or repeats one "
                f"({gpus} present)",
                f"use indices 0..{gpus - 1} (or UUIDs), each once",
            )
        )
    else:
        rows.append(
            CheckResult(
                "gpus",
                PASS,
                f"{len(entries)} of {gpus} GPU(s) selected by CUDA_VISIBLE_DEVICES",
            )
        )
    if ctx.env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID" and all(e.isdigit() for e in entries):
        rows.append(
            CheckResult(
                "cuda_device_order",
                WARN,
                "CUDA_VISIBLE_DEVICES uses indices but CUDA_DEVICE_ORDER is not PCI_BUS_ID: "
                "CUDA numbers GPUs fastest-first, nvidia-smi by PCI bus, so index N may be another GPU",
                "export CUDA_DEVICE_ORDER=PCI_BUS_ID",
            )
        )
    return rows


# ------------------------------------------------------------------ limits ---


def fs_size(path: str) -> int:
    """Total size in bytes of the file system holding ``path``."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def check_limits(ctx: CheckContext) -> list[CheckResult]:
    """/dev/shm size, open-files limit and locked-memory limit."""
    rows: list[CheckResult] = []
    try:
        shm = fs_size(ctx.shm_path)
    except OSError:
        rows.append(
            CheckResult(
                "shm",
                FAIL,
                f"{ctx.shm_path} is missing",
                "mount a tmpfs on /dev/shm (docker: --ipc=host)",
            )
        )
    else:
        text = f"{ctx.shm_path} is {shm / GiB:.2f} GiB"
        fix = "docker run --shm-size=16g (or --ipc=host); on Kubernetes mount an emptyDir with medium: Memory"
        if shm < 512 * MiB:
            rows.append(
                CheckResult("shm", FAIL, text + ": too small for DataLoader workers and NCCL", fix)
            )
        elif shm < 4 * GiB:
            rows.append(
                CheckResult("shm", WARN, text + ": may be too small for many workers or GPUs", fix)
            )
        else:
            rows.append(CheckResult("shm", PASS, text))
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        rows.append(
            CheckResult(
                "ulimit_nofile",
                WARN,
                f"open-files limit is {soft}: DataLoader workers can hit 'Too many open files'",
                "ulimit -n 65536 (or torch.multiprocessing.set_sharing_strategy('file_system'))",
            )
        )
    else:
        rows.append(
            CheckResult(
                "ulimit_nofile",
                PASS,
                f"open-files limit is {'unlimited' if soft == resource.RLIM_INFINITY else soft}",
            )
        )
    mem_soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    unlimited = mem_soft == resource.RLIM_INFINITY
    ib = _ib_devices(ctx)
    text = "locked-memory limit is " + ("unlimited" if unlimited else f"{mem_soft // 1024} KiB")
    if not unlimited and ib:
        rows.append(
            CheckResult(
                "ulimit_memlock",
                WARN,
                text + ": InfiniBand needs pinned memory (NCCL may fail to register buffers)",
                "ulimit -l unlimited (docker: --ulimit memlock=-1)",
            )
        )
    else:
        rows.append(CheckResult("ulimit_memlock", PASS, text))
    return rows


# ----------------------------------------------------------------- network ---


def _ib_devices(ctx: CheckContext) -> list[str]:
    try:
        return sorted(os.listdir(Path(ctx.sys_root, "class/infiniband")))
    except OSError:
        return []


def _interfaces() -> dict[str, bool]:
    """name -> is up."""
    import psutil

    stats = psutil.net_if_stats()
    return {name: stats[name].isup if name in stats else False for name in psutil.net_if_addrs()}


def select_interfaces(spec: str, names: list[str]) -> list[str]:
    """The interfaces NCCL_SOCKET_IFNAME ``spec`` selects (prefix, ``^`` exclusion, ``=`` exact)."""
    exclude = spec.startswith("^")
    body = spec[1:] if exclude else spec
    exact = body.startswith("=")
    body = body[1:] if exact else body
    items = [i for i in body.split(",") if i]

    def hit(name: str) -> bool:
        return any(name == i if exact else name.startswith(i) for i in items)

    return [n for n in names if hit(n) != exclude]


_PITFALL_PREFIXES = ("docker", "veth", "br-", "virbr", "lo")


def check_network(ctx: CheckContext) -> list[CheckResult]:
    """Interfaces, NCCL/GLOO_SOCKET_IFNAME, InfiniBand, MASTER_ADDR and MASTER_PORT."""
    rows: list[CheckResult] = []
    ifaces = _interfaces()
    names = sorted(ifaces)
    up = [n for n in names if ifaces[n]]
    spec = ctx.env.get("NCCL_SOCKET_IFNAME")
    if spec:
        chosen = select_interfaces(spec, names)
        chosen_up = [n for n in chosen if ifaces[n]]
        if not chosen_up:
            rows.append(
                CheckResult(
                    "nccl_socket_ifname",
                    FAIL,
                    f"NCCL_SOCKET_IFNAME={spec} selects no interface that is up (have: {', '.join(up) or 'none'})",
                    "name an interface that exists (prefix 'eth', exact '=eth0', exclude '^docker,lo'), "
                    "or use the ifname preset",
                )
            )
        elif any(n.startswith(_PITFALL_PREFIXES) for n in chosen_up):
            rows.append(
                CheckResult(
                    "nccl_socket_ifname",
                    WARN,
                    f"NCCL_SOCKET_IFNAME={spec} selects {', '.join(chosen_up)}: loopback, docker "
                    "bridges and veth pairs do not reach other nodes",
                    "pick the interface that routes to the other nodes (preset ifname)",
                )
            )
        else:
            rows.append(
                CheckResult(
                    "nccl_socket_ifname",
                    PASS,
                    f"NCCL_SOCKET_IFNAME={spec} selects {', '.join(chosen_up)}",
                )
            )
    else:
        usable = [n for n in up if not n.startswith(_PITFALL_PREFIXES)]
        if usable:
            rows.append(
                CheckResult(
                    "interfaces",
                    PASS,
                    f"interfaces up: {', '.join(up)}; NCCL will pick among {', '.join(usable)}",
                )
            )
        else:
            rows.append(
                CheckResult(
                    "interfaces",
                    WARN,
                    f"only loopback/virtual interfaces are up ({', '.join(up) or 'none'}): fine on one node, "
                    "multi-node jobs cannot connect",
                    "on several nodes, set NCCL_SOCKET_IFNAME to the interface between them",
                )
            )
    gloo = ctx.env.get("GLOO_SOCKET_IFNAME")
    if gloo:
        missing = [n for n in gloo.split(",") if n and n not in ifaces]
        if missing:
            rows.append(
                CheckResult(
                    "gloo_socket_ifname",
                    FAIL,
                    f"GLOO_SOCKET_IFNAME names missing interface(s): {', '.join(missing)}",
                    "use exact interface names (no prefixes for Gloo)",
                )
            )
    ib = _ib_devices(ctx)
    if ib:
        msg = f"InfiniBand devices: {', '.join(ib)}"
        if ctx.env.get("NCCL_IB_DISABLE") == "1":
            rows.append(
                CheckResult(
                    "infiniband",
                    WARN,
                    msg + " but NCCL_IB_DISABLE=1 (slow sockets)",
                    "unset NCCL_IB_DISABLE unless debugging",
                )
            )
        else:
            rows.append(CheckResult("infiniband", PASS, msg))
    elif ctx.env.get("NCCL_IB_HCA"):
        rows.append(
            CheckResult(
                "infiniband",
                WARN,
                f"NCCL_IB_HCA={ctx.env['NCCL_IB_HCA']} but no InfiniBand devices",
                "unset NCCL_IB_HCA",
            )
        )
    else:
        rows.append(
            CheckResult(
                "infiniband", PASS, "no InfiniBand devices (NCCL uses sockets between nodes)"
            )
        )
    rows.extend(_check_master(ctx))
    return rows


def _local_addresses() -> set[str]:
    import psutil

    return {a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs}


def port_owner(port: int) -> str | None:
    """``pid NAME (cmdline)`` of the process listening on TCP ``port`` when visible."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if (
            conn.laddr
            and conn.laddr.port == port
            and conn.status == psutil.CONN_LISTEN
            and conn.pid
        ):
            try:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} {proc.name()} ({' '.join(proc.cmdline())[:120]})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def port_is_free(port: int, host: str = "") -> bool:
    """Whether a TCP listener could bind ``port`` now (as torchrun's store would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _check_master(ctx: CheckContext) -> list[CheckResult]:
    rows: list[CheckResult] = []
    addr = ctx.env.get("MASTER_ADDR")
    local = True
    if addr:
        try:
            infos = socket.getaddrinfo(addr, None)
        except (socket.gaierror, UnicodeError):
            rows.append(
                CheckResult(
                    "master_addr",
                    FAIL,
                    f"MASTER_ADDR={addr} does not resolve",
                    "use an IP address or a hostname every node can resolve",
                )
            )
            return rows
        ips = {i[4][0] for i in infos}
        local = bool(ips & _local_addresses()) or addr in ("localhost", socket.gethostname())
        rows.append(
            CheckResult(
                "master_addr",
                PASS,
                f"MASTER_ADDR={addr} resolves to {', '.join(sorted(ips))}"
                + (" (this node)" if local else ""),
            )
        )
    port_text = ctx.env.get("MASTER_PORT", "29500")
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        rows.append(
            CheckResult(
                "master_port",
                FAIL,
                f"MASTER_PORT={port_text!r} is not a port number",
                "use a number in 1024..65535",
            )
        )
        return rows
    label = (
        f"MASTER_PORT={port}" if "MASTER_PORT" in ctx.env else f"port {port} (torchrun's default)"
    )
    if not local:
        rows.append(
            CheckResult("master_port", PASS, f"{label}: not checked, the master is another node")
        )
    elif port_is_free(port):
        rows.append(CheckResult("master_port", PASS, f"{label} is free"))
    else:
        owner = port_owner(port)
        rows.append(
            CheckResult(
                "master_port",
                FAIL,
                f"{label} is already in use"
                + (f" by {owner}" if owner else " (owner not visible)"),
                "stop the leftover process or pick another port (--master-port / --rdzv-endpoint host:0)",
            )
        )
    return rows


# -------------------------------------------------------------- env lint ---

_RENAMED_2_2 = {
    "NCCL_ASYNC_ERROR_HANDLING": "TORCH_NCCL_ASYNC_ERROR_HANDLING",
    "NCCL_BLOCKING_WAIT": "TORCH_NCCL_BLOCKING_WAIT",
    "NCCL_DESYNC_DEBUG": "TORCH_NCCL_DESYNC_DEBUG",
}
_RENAMED_2_7 = {
    "TORCH_NCCL_TRACE_BUFFER_SIZE": "TORCH_FR_BUFFER_SIZE",
    "TORCH_NCCL_DEBUG_INFO_TEMP_FILE": "TORCH_FR_DUMP_TEMP_FILE",
    "TORCH_NCCL_TRACE_CPP_STACK": "TORCH_FR_CPP_STACK",
}
_NONEXISTENT = {
    "NCCL_TIMEOUT": "there is no such variable: set the timeout in code, "
    "init_process_group(timeout=datetime.timedelta(minutes=N))",
    "TORCH_NCCL_TIMEOUT": "there is no such variable: use init_process_group(timeout=...)",
    "TORCH_DISTRIBUTED_TIMEOUT": "there is no such variable: use init_process_group(timeout=...)",
}


def check_env(ctx: CheckContext) -> list[CheckResult]:
    """Deprecated, renamed or non-existent variable names for the installed torch; risky combinations."""
    env = ctx.env
    version = torch_version()
    vtext = f"{version[0]}.{version[1]}" if version else "unknown"
    rows: list[CheckResult] = []
    for old, new in _RENAMED_2_2.items():
        if old in env and (version is None or version >= (2, 2)):
            rows.append(
                CheckResult(
                    "env:" + old,
                    WARN,
                    f"{old} is deprecated since torch 2.2 (installed {vtext})",
                    f"use {new}={env[old]}",
                )
            )
    for old, new in _RENAMED_2_7.items():
        if old in env and (version is None or version >= (2, 7)):
            rows.append(
                CheckResult(
                    "env:" + old,
                    WARN,
                    f"{old} was renamed in torch 2.7 (installed {vtext})",
                    f"use {new}={env[old]}",
                )
            )
    # New names set for a torch too old to read them.
    for since, renamed in (((2, 2), _RENAMED_2_2), ((2, 7), _RENAMED_2_7)):
        if version is None or version >= since:
            continue
        for old, new in renamed.items():
            if new in env:
                rows.append(
                    CheckResult(
                        "env:" + new,
                        FAIL,
                        f"torch {vtext} does not read {new}",
                        f"use {old}={env[new]}",
                    )
                )
    for name, fix in _NONEXISTENT.items():
        if name in env:
            rows.append(
                CheckResult(
                    "env:" + name,
                    FAIL,
                    f"{name} is set but nothing reads it: the timeout you expect is not applied",
                    fix,
                )
            )
    tdd = env.get("TORCH_DISTRIBUTED_DEBUG", "").upper()
    if tdd == "DETAIL":
        rows.append(
            CheckResult(
                "env:TORCH_DISTRIBUTED_DEBUG",
                WARN,
                "TORCH_DISTRIBUTED_DEBUG=DETAIL adds a check collective before every collective "
                "(much slower) and is known to crash some models",
                "use it only to find a mismatch, then go back to INFO or unset",
            )
        )
    blocking = env.get("TORCH_NCCL_BLOCKING_WAIT", env.get("NCCL_BLOCKING_WAIT")) == "1"
    fr = any(
        env.get(k, "0") not in ("", "0")
        for k in ("TORCH_FR_BUFFER_SIZE", "TORCH_NCCL_TRACE_BUFFER_SIZE")
    )
    if blocking and (fr or env.get("TORCH_NCCL_DUMP_ON_TIMEOUT") == "1"):
        rows.append(
            CheckResult(
                "env:blocking_wait",
                WARN,
                "blocking wait is on together with the flight recorder: the main thread raises on "
                "timeout before the watchdog can dump the trace",
                "unset TORCH_NCCL_BLOCKING_WAIT and rely on TORCH_NCCL_ASYNC_ERROR_HANDLING",
            )
        )
    aeh = env.get("TORCH_NCCL_ASYNC_ERROR_HANDLING", env.get("NCCL_ASYNC_ERROR_HANDLING"))
    if aeh == "0":
        rows.append(
            CheckResult(
                "env:async_error_handling",
                WARN,
                "async error handling is off: a failed rank leaves the others hanging until killed",
                "unset it or use the fail-fast preset",
            )
        )
    if env.get("CUDA_LAUNCH_BLOCKING") == "1":
        rows.append(
            CheckResult(
                "env:CUDA_LAUNCH_BLOCKING",
                WARN,
                "CUDA_LAUNCH_BLOCKING=1 serialises every kernel (debugging only)",
                "unset it for real runs",
            )
        )
    if not rows:
        rows.append(
            CheckResult(
                "env",
                PASS,
                f"no deprecated, unknown or risky distributed variables (torch {vtext})",
            )
        )
    return rows


# -------------------------------------------------------------- leftovers ---

_LAUNCHERS = (
    "torchrun",
    "torch.distributed.run",
    "torch.distributed.launch",
    "torch.distributed.elastic",
)


def leftover_processes(ctx: CheckContext) -> list[tuple[int, str, str]]:
    """(pid, what, cmdline) of other processes holding a GPU or running a DDP launcher."""
    ours = ancestors()
    found: list[tuple[int, str, str]] = []
    proc = Path(ctx.proc_root)
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        pid = int(entry.name)
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        cmd = " ".join(a.decode("utf-8", "replace") for a in argv if a)
        if any(launcher in a.decode("utf-8", "replace") for a in argv for launcher in _LAUNCHERS):
            found.append((pid, "launcher", cmd))
            continue
        try:
            fds = os.listdir(entry / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(entry / "fd" / fd)
            except OSError:
                continue
            if target.startswith("/dev/nvidia") and target[len("/dev/nvidia") :].isdigit():
                found.append((pid, f"holds {target}", cmd))
                break
    return found


def check_leftovers(ctx: CheckContext) -> list[CheckResult]:
    """Leftover processes from an earlier run still holding GPUs or running a launcher."""
    found = leftover_processes(ctx)
    if not found:
        return [
            CheckResult(
                "leftovers",
                PASS,
                "no leftover launchers or processes holding GPUs (that this user can see)",
            )
        ]
    listing = "; ".join(f"pid {pid} {what}: {cmd[:80]}" for pid, what, cmd in found[:5])
    more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
    return [
        CheckResult(
            "leftovers",
            WARN,
            f"{len(found)} process(es) from an earlier run may hold GPUs or ports: {listing}{more}",
            "stop them if they are stale: mltools kill PID (or kill PID)",
        )
    ]


CHECKS: tuple[Callable[[CheckContext], list[CheckResult]], ...] = (
    check_versions,
    check_gpus,
    check_limits,
    check_network,
    check_env,
    check_leftovers,
)


def run_checks(ctx: CheckContext | None = None) -> CheckReport:
    """Run every preflight check and return the rows (the library form of ``ddp-doctor check``)."""
    ctx = ctx or CheckContext()
    results: list[CheckResult] = []
    for check in CHECKS:
        results.extend(check(ctx))
    return CheckReport(results)
