"""Run every benchmark in this folder, one after the other, and print their ratios.

    python benchmarks/run.py            # all of them
    python benchmarks/run.py startup    # only bench_startup.py (names are substrings)

Extra arguments after ``--`` go to every script (e.g. ``-- --quick``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    passthrough: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, passthrough = argv[:index], argv[index + 1 :]
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    if not scripts:
        print(f"no benchmark matches {' '.join(argv)!r}", file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        print(f"\n# {script.name}", flush=True)
        code = subprocess.run([sys.executable, str(script), *passthrough], check=False).returncode
        if code:
            failed.append(f"{script.name} (exit {code})")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
