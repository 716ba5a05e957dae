"""Minimal stand-ins for ``mpirun`` and ``srun`` (the real ones cannot run here).

Copied to a file named ``mpirun`` or ``srun`` and run as
``python DIR/mpirun -np N -- CMD...``: starts N copies of CMD with the rank
vocabulary the real launcher gives its tasks (Open MPI's ``OMPI_COMM_WORLD_*``;
Slurm's ``SLURM_PROCID``/``SLURM_LOCALID``/``SLURM_NTASKS`` in job step 0), then
waits for them, like the real launcher does.
"""

from __future__ import annotations

import os
import subprocess
import sys


def vocabulary(name: str, rank: int, n: int) -> dict[str, str]:
    if name == "srun":
        return {
            "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank), "SLURM_NTASKS": str(n),
            "SLURM_STEP_ID": "0", "SLURM_JOB_ID": "4242", "SLURM_NODEID": "0",
        }  # fmt: skip
    return {
        "OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_LOCAL_RANK": str(rank),
        "OMPI_COMM_WORLD_SIZE": str(n), "OMPI_COMM_WORLD_LOCAL_SIZE": str(n),
    }  # fmt: skip


def main() -> None:
    name = os.path.basename(sys.argv[0])
    n = int(sys.argv[sys.argv.index("-np") + 1])
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    procs = [subprocess.Popen(cmd, env={**os.environ, **vocabulary(name, r, n)}) for r in range(n)]
    sys.exit(max(p.wait() for p in procs))


if __name__ == "__main__":
    main()
