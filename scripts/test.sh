#!/usr/bin/env bash
# The README's one test command, and what .ci/run runs: installs what the tests need
# (system packages from scripts/test-packages.txt, torch, the test extra), then runs every
# stage in order, stopping at the first failure:
#   1. lint (ruff check, ruff format --check)
#   2. the whole suite on the current pandas
#   3. the DataFrame tests on pandas 2.2, where pandarallel imports (its backend tested too)
#   4. the GPU tests on the lowest nvidia-ml-py pyproject allows, over the NVML double
# Run it in the virtual environment the README's set-up line makes and activates.
# With CI=true a test that skips for want of a tool or privilege CI provides fails
# (tests/ci_provides.py). TORCH_INDEX_URL, when set, is the index torch comes from
# (https://download.pytorch.org/whl/cpu on a machine without a GPU).
#
# `set -e` does not stop at a failure inside `a && b && c` (only at the last command), so
# no line here chains with `&&`.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

if [ -z "${VIRTUAL_ENV:-}" ]; then
    echo "scripts/test.sh: run it in the virtual environment (. .venv/bin/activate)" >&2
    exit 2
fi

# -- system packages: only the missing ones, as root or through sudo
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]//g' scripts/test-packages.txt)
missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# -- Python packages: torch first, so that pip takes that exact build
pip install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
pip install -q -e ".[all,test]"

echo "== stage 1/4: lint"
python -m ruff check .
python -m ruff format --check .

echo "== stage 2/4: the whole suite"
python -m pytest -q

echo "== stage 3/4: the DataFrame tests on pandas 2.2 (pandarallel imports there)"
python -m venv .venv-pandas22
.venv-pandas22/bin/pip install -q -e ".[frame,pandarallel,dask,test-base]" "pandas==2.2.3"
MLTOOLS_TEST_STAGE=pandas22 .venv-pandas22/bin/python -m pytest -q tests/test_frame_apply.py tests/test_frame_cli.py tests/test_frame_dask.py tests/test_frame_pandas_suite.py

echo "== stage 4/4: the GPU tests on nvidia-ml-py 12.535.77"
python -m venv .venv-nvml-old
.venv-nvml-old/bin/pip install -q -e ".[test-base]" "nvidia-ml-py==12.535.77"
MLTOOLS_TEST_STAGE=nvml-old .venv-nvml-old/bin/python -m pytest -q tests/test_gpu_cli.py tests/test_gpu_kill.py tests/test_gpu_nvml_double.py tests/test_gpu_remote.py tests/test_gpu_select.py tests/test_gpu_snapshot.py tests/test_gpu_topo.py
