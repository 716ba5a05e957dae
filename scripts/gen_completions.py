"""Write completions/mltools.bash, completions/_mltools and completions/mltools.fish.

Run after changing the command tree: ``python scripts/gen_completions.py``.
tests/test_completion.py fails when the committed files drift from this output.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mltools.cli.completion import FILES, completion_script  # noqa: E402


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for shell, name in FILES.items():
        path = out_dir / name
        path.write_text(completion_script(shell))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "completions"):
        print(path)
