"""Run the real ``mltools`` CLI with the fake NVML from ``$MLTOOLS_TEST_FAKE_NVML``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._fake_nvml import install_from_env

install_from_env()

from mltools.cli.app import main  # noqa: E402

main()
