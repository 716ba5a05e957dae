"""PyTorch DDP helpers: setup, seeding, rank-aware logging, and triage of hangs and failures."""
