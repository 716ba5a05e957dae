"""DDP triage and training-script helpers.

Importing this package is cheap: the helpers are loaded on first use, and
none of them imports torch until it runs.

    from mltools.ddp import setup, seed_everything, is_main_process, rank_zero_only
    info = setup()                      # rank, world_size, local_rank, device
    seed_everything(1234)               # seed + rank, per process
    log = setup_logging("logs/")        # [rankN] records, console on rank 0
"""

from __future__ import annotations

from mltools._lazy import attach

_LAZY: dict[str, str] = {
    "setup": "mltools.ddp.helpers",
    "DistInfo": "mltools.ddp.helpers",
    "DistributedSetupError": "mltools.ddp.helpers",
    "seed_everything": "mltools.ddp.helpers",
    "is_main_process": "mltools.ddp.helpers",
    "get_rank": "mltools.ddp.helpers",
    "rank_zero_only": "mltools.ddp.helpers",
    "setup_logging": "mltools.ddp.helpers",
    "analyze_log": "mltools.ddp.logscan",
    "analyze_text": "mltools.ddp.logscan",
    "LogReport": "mltools.ddp.logscan",
    "Finding": "mltools.ddp.logscan",
    "run_checks": "mltools.ddp.check",
    "CheckContext": "mltools.ddp.check",
    "preset_names": "mltools.ddp.presets",
    "resolve_preset": "mltools.ddp.presets",
    "run_guarded": "mltools.ddp.launch",
}

_RENAMED = {"ddp_setup": "setup", "resolve_preset": "resolve"}

__getattr__, __dir__, _public = attach("mltools.ddp", _LAZY, renamed=_RENAMED)
__all__ = _public
