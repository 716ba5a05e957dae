#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: check `mltools gpu` against the real driver.
#
#   1. `mltools gpu --json` vs `nvidia-smi --query-gpu=... --format=csv`, field by field
#   2. a torch process that holds ~1 GiB on GPU 0 must be listed, with its memory, as
#      nvidia-smi --query-compute-apps lists it; ghost memory is reported
#   3. `mltools gpu pick` / `gpu run` on the real device (CUDA sees the GPU it was given)
#   4. `gpu topo --json`, `gpu kill --gpu 0 --json` (preview only) and hang's GPU discovery
#
# Usage: scripts/gpu_device_check.sh [PYTHON]   (default: python3; needs mltools + torch)
# Writes its evidence under $OUT (default ./gpu-device-check). Exit 0 when every check
# passes; the failed checks are listed otherwise. Runs in about a minute.
set -uo pipefail
PY=${1:-python3}
OUT=${OUT:-./gpu-device-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export OUT
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fails=0
check() { # name, command...
    local name=$1; shift
    if "$@" >"$OUT/$name.log" 2>&1; then echo "PASS $name"; else echo "FAIL $name (see $OUT/$name.log)"; fails=$((fails + 1)); fi
}

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || { echo "nvidia-smi does not work here"; exit 3; }
"$PY" -c "import pynvml, importlib.metadata as m; print('nvidia-ml-py', m.version('nvidia-ml-py'))" | tee "$OUT/versions.txt"
nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1 | tee -a "$OUT/versions.txt"

FIELDS=index,name,uuid,pci.bus_id,memory.total,memory.used,temperature.gpu,power.draw,power.limit,utilization.gpu,clocks.sm,clocks.mem,pstate,persistence_mode,compute_mode,mig.mode.current
nvidia-smi --query-gpu=$FIELDS --format=csv,noheader,nounits >"$OUT/smi.csv"
"$PY" -m mltools gpu --json >"$OUT/gpu.json" 2>"$OUT/gpu.stderr"
echo "mltools gpu --json exit $?" >>"$OUT/gpu.stderr"

compare() {
    "$PY" - "$OUT/smi.csv" "$OUT/gpu.json" <<'PYEOF'
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1]), skipinitialspace=True))
doc = json.load(open(sys.argv[2]))
gpus = {g["index"]: g for g in doc["gpus"]}
MiB = 2**20
bad = 0
def num(s):
    try:
        return float(s)
    except ValueError:
        return None  # [N/A], [Not Supported]
for r in rows:
    (idx, name, uuid, bus, mtot, mused, temp, pdraw, plim, util, csm, cmem, pstate, persist,
     cmode, mig) = r
    g = gpus[int(idx)]
    checks = [
        ("name", g["name"] == name),
        ("uuid", g["uuid"] == uuid),
        ("pci_bus_id", (g["pci_bus_id"] or "").upper() == bus.upper()),
        ("memory_total", num(mtot) is None or abs(g["memory_total_bytes"] / MiB - num(mtot)) <= 1),
        # used moves between the two reads; 64 MiB slack
        ("memory_used", num(mused) is None or abs((g["memory_used_bytes"] or 0) / MiB - num(mused)) <= 64),
        ("temperature", num(temp) is None or abs(g["temperature_gpu_celsius"] - num(temp)) <= 3),
        ("power_draw", num(pdraw) is None or abs(g["power_draw_watts"] - num(pdraw)) <= 30),
        ("power_limit", num(plim) is None or abs(g["power_limit_watts"] - num(plim)) <= 1),
        ("utilization", num(util) is None or g["utilization_gpu_percent"] is not None),
        ("clock_sm", num(csm) is None or g["clock_sm_mhz"] is not None),
        ("clock_mem", num(cmem) is None or abs(g["clock_memory_mhz"] - num(cmem)) <= 50),
        ("pstate", pstate.startswith("[") or g["performance_state"] == pstate),
        ("persistence", persist.startswith("[") or g["persistence_mode"] == (persist == "Enabled")),
        ("compute_mode", g["compute_mode"] == {"Default": "default", "Exclusive_Process": "exclusive_process", "Prohibited": "prohibited"}.get(cmode, g["compute_mode"])),
        ("mig", mig.startswith("[") or g["mig_mode"] == (mig == "Enabled")),
    ]
    for field, ok in checks:
        print(("ok  " if ok else "BAD ") + f"GPU {idx} {field}")
        bad += not ok
sys.exit(1 if bad else 0)
PYEOF
}
check compare_fields compare

# 2. a real CUDA process with ~1 GiB
"$PY" - >"$OUT/holder.log" 2>&1 <<'PYEOF' &
import os, sys, time, torch
x = torch.empty(1024**3, dtype=torch.uint8, device="cuda:0")
torch.cuda.synchronize()
open(os.environ.get("OUT", ".") + "/holder.ready", "w").write(str(os.getpid()))
time.sleep(120)
PYEOF
HOLDER=$!
for _ in $(seq 120); do [ -e "$OUT/holder.ready" ] && break; sleep 0.5; done
process_listed() {
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | tee "$OUT/smi-apps.csv"
    "$PY" -m mltools gpu --json >"$OUT/gpu-busy.json"
    "$PY" - "$HOLDER" "$OUT/gpu-busy.json" "$OUT/smi-apps.csv" <<'PYEOF'
import csv, json, sys
pid = int(sys.argv[1])
doc = json.load(open(sys.argv[2]))
smi = {int(r[0]): float(r[1]) for r in csv.reader(open(sys.argv[3]), skipinitialspace=True) if r and r[1].strip().isdigit()}
procs = [p for g in doc["gpus"] for p in g.get("processes") or []]
mine = [p for p in procs if p["pid"] == pid]
print("mltools:", mine)
print("nvidia-smi MiB:", smi.get(pid))
print("ghost:", [g["ghost_memory_bytes"] for g in doc["gpus"]])
assert mine, "the torch process is not listed"
mem = mine[0]["gpu_memory_bytes"]
assert mem is not None and mem >= 2**30, mem
if pid in smi:
    assert abs(mem / 2**20 - smi[pid]) <= 2, (mem, smi[pid])
assert mine[0]["user"] and mine[0]["command"] and "python" in mine[0]["command"]
PYEOF
}
check process_listed process_listed
check kill_preview bash -c "'$PY' -m mltools gpu kill --gpu 0 --json | tee /dev/stderr | '$PY' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"dry_run\"] and $HOLDER in [t[\"pid\"] for t in d[\"targets\"]]'"
check hang_discovery "$PY" -c "from mltools.ddp.hang import _gpu_pids; p=_gpu_pids(); print(p); assert $HOLDER in p"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null

# 3. pick and run on the device
check pick bash -c "set -e; vars=\$('$PY' -m mltools gpu pick --max-util 100) || exit; export \$vars; echo \$vars; '$PY' -c 'import torch; assert torch.cuda.device_count() == 1, torch.cuda.device_count(); print(torch.cuda.get_device_name(0))'"
check pick_json bash -c "'$PY' -m mltools gpu pick --json --max-util 100 | '$PY' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"indices\"], d'"
check run bash -c "'$PY' -m mltools gpu run --max-util 100 -- '$PY' -c 'import os, torch; print(os.environ[\"CUDA_VISIBLE_DEVICES\"]); assert torch.cuda.device_count() == 1; torch.ones(1, device=\"cuda\")'"
check topo bash -c "'$PY' -m mltools gpu topo --json | '$PY' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"gpus\"]' && nvidia-smi topo -m"

echo "$fails check(s) failed; evidence in $OUT"
exit $((fails > 0))
