"""File chores against the one-liners they replace, on a generated tree of mixed files.

    python benchmarks/bench_files.py            # 20,000 files, 5 rounds
    python benchmarks/bench_files.py --quick    # 20,000 files, 3 rounds
    python benchmarks/bench_files.py --files 50000

Contenders (interleaved, median of N):
  filetype: `find TREE -type f -print0 | xargs -0 -P2 file --mime-type -b` vs
            `mltools filetype TREE --json` (one libmagic pass: MIME + ML refinement +
            extension check) and `--summary`; `... | xargs -0 -P2 file -b` vs the table
            and `--json --describe` (two libmagic passes: MIME type and description)
  du:       `du -sx TREE` vs `mltools du TREE --json` and `disk_usage()` in-process, forked
            workers (the default on 2+ CPUs) and one process (`mltools --version` shows the
            interpreter + Typer startup floor)
  du /usr:  GNU `du -sx /usr` vs `mltools du /usr --json` and `disk_usage("/usr")`, the same
  du slow:  both again with --latency-us added to every openat/fstatat (an LD_PRELOAD shim
            built with gcc, for both tools alike: storage with latency, NFS- or FUSE-like)
  clean:    `find TREE ( -name .DS_Store -o -name '._*' ) -type f` vs
            `mltools clean TREE -p mac-junk --json` (dry run) and `find_candidates()`
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import Case, compare, mltools_argv, save

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _mp4() -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    return (
        box(b"ftyp", b"isom\0\0\2\0isomiso2") + box(b"moov", b"\0" * 64) + box(b"mdat", b"\0" * 512)
    )


def make_tree(root: Path, n_files: int, seed: int = 0) -> None:
    """``n_files`` files of a dozen kinds in nested folders, a few hard links and junk files."""
    rng = random.Random(seed)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    kinds = [
        ("txt", lambda: b"some log line\n" * rng.randint(1, 200)),
        ("json", lambda: json.dumps({"id": rng.random(), "tags": ["a", "b"]}).encode()),
        ("jsonl", lambda: b"".join(b'{"i": %d}\n' % i for i in range(rng.randint(2, 50)))),
        ("py", lambda: b"import os\n\ndef f(x):\n    return x * 2\n" * rng.randint(1, 20)),
        ("png", lambda: PNG),
        ("bin", lambda: rng.randbytes(rng.randint(100, 20000))),
        (
            "html",
            lambda: (
                b"<!DOCTYPE html><html><body>" + b"x" * rng.randint(10, 500) + b"</body></html>"
            ),
        ),
        ("mp4", _mp4),
        ("safetensors", lambda: struct.pack("<Q", len(header)) + header + b"\0" * 16),
        ("csv", lambda: b"a,b,c\n" + b"1,2,3\n" * rng.randint(1, 300)),
        ("tmp", lambda: b""),
    ]
    made = 0
    while made < n_files:
        folder = root / f"run{made // 2000:03d}" / f"shard{(made // 100) % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        ext, content = kinds[made % len(kinds)]
        path = folder / f"f{made:06d}.{ext}"
        path.write_bytes(content())
        made += 1
        if made % 500 == 0:
            (folder / ".DS_Store").write_bytes(b"\0" * 64)
            (folder / "._f.png").write_bytes(b"\0" * 32)
            os.link(path, folder / f"hardlink{made}.{ext}")
            made += 3


DELAY_SHIM = r"""
#define _GNU_SOURCE
#define fstatat64 fstatat64_hidden
#define openat64 openat64_hidden
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#undef fstatat64
#undef openat64
static void pause_(void) {
    static long ns = -1;
    if (ns < 0) { const char *s = getenv("DELAY_US"); ns = s ? atol(s) * 1000 : 0; }
    if (ns > 0) { struct timespec t = {ns / 1000000000, ns % 1000000000}; nanosleep(&t, 0); }
}
#define OPENAT(N) int N(int fd, const char *p, int fl, ...) { \
    static int (*real)(int, const char *, int, ...); if (!real) real = dlsym(RTLD_NEXT, #N); \
    mode_t m = 0; if (fl & (O_CREAT | O_TMPFILE)) { va_list a; va_start(a, fl); \
    m = va_arg(a, int); va_end(a); } pause_(); return real(fd, p, fl, m); }
#define FSTATAT(N) int N(int fd, const char *p, struct stat *st, int fl) { \
    static int (*real)(int, const char *, struct stat *, int); \
    if (!real) real = dlsym(RTLD_NEXT, #N); pause_(); return real(fd, p, st, fl); }
OPENAT(openat)
OPENAT(openat64)
FSTATAT(fstatat)
FSTATAT(fstatat64)
"""


def delay_shim(folder: Path) -> Path | None:
    """Build the LD_PRELOAD shim that sleeps ``$DELAY_US`` in openat/fstatat (None: no gcc)."""
    if shutil.which("gcc") is None:
        return None
    src, lib = folder / "delay.c", folder / "delay.so"
    src.write_text(DELAY_SHIM)
    import subprocess

    done = subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src), "-ldl"])
    return lib if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000, help="files in the generated tree")
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    parser.add_argument(
        "--latency-us", type=int, default=200, help="delay per openat/fstatat for 'du slow'"
    )
    args = parser.parse_args()
    repeat = 3 if args.quick else 5
    tmp = Path(tempfile.mkdtemp(prefix="bench-files-"))
    tree = tmp / "tree"
    make_tree(tree, args.files)
    count = sum(len(f) for _, _, f in os.walk(tree))
    print(f"tree: {tree} ({count} files), {os.cpu_count()} CPUs; machine shared, numbers are noisy")
    t = str(tree)
    results = []
    try:
        find = f"find {t} -type f -print0 | xargs -0 -P2 file"
        results.append(
            compare(
                f"filetype --json on {count} files (MIME types)",
                [
                    Case(
                        "find | xargs -0 -P2 file --mime-type -b",
                        ["sh", "-c", f"{find} --mime-type -b"],
                    ),
                    Case("mltools filetype --json", mltools_argv("filetype", t, "--json")),
                    Case("mltools filetype --summary", mltools_argv("filetype", t, "--summary")),
                ],
                baseline="find | xargs -0 -P2 file --mime-type -b",
                repeat=repeat,
            )
        )
        results.append(
            compare(
                f"filetype table on {count} files (MIME types and descriptions)",
                [
                    Case("find | xargs -0 -P2 file -b", ["sh", "-c", f"{find} -b"]),
                    Case("mltools filetype (table)", mltools_argv("filetype", t)),
                    Case(
                        "mltools filetype --json --describe",
                        mltools_argv("filetype", t, "--json", "--describe"),
                    ),
                ],
                baseline="find | xargs -0 -P2 file -b",
                repeat=repeat,
            )
        )
        from mltools.files import disk_usage
        from mltools.files.clean import CleanSpec, find_candidates

        results.append(
            compare(
                f"du on {count} files",
                [
                    Case("du -sx", ["du", "-sx", t]),
                    Case("mltools du --json", mltools_argv("du", t, "--json")),
                    Case("disk_usage() in-process", func=lambda: disk_usage(t)),
                    Case(
                        "disk_usage(processes=1) in-process",
                        func=lambda: disk_usage(t, processes=1),
                    ),
                    Case("mltools --version (startup floor)", mltools_argv("--version")),
                ],
                baseline="du -sx",
                repeat=repeat * 3,
            )
        )
        if os.path.isdir("/usr"):
            results.append(
                compare(
                    "du on /usr (the system's own tree)",
                    [
                        Case("du -sx /usr", ["du", "-sx", "/usr"], ok_codes=(0, 1)),
                        Case(
                            "mltools du /usr --json",
                            mltools_argv("du", "/usr", "--json"),
                            ok_codes=(0, 6),  # 6: some entries unreadable (du says so too)
                        ),
                        Case("disk_usage('/usr') in-process", func=lambda: disk_usage("/usr")),
                        Case(
                            "disk_usage('/usr', processes=1) in-process",
                            func=lambda: disk_usage("/usr", processes=1),
                        ),
                        Case("mltools --version (startup floor)", mltools_argv("--version")),
                    ],
                    baseline="du -sx /usr",
                    repeat=repeat * 2,
                )
            )
        results.append(
            compare(
                f"clean dry run on {count} files",
                [
                    Case(
                        "find -name .DS_Store -o -name '._*'",
                        [
                            "find",
                            t,
                            "(",
                            "-name",
                            ".DS_Store",
                            "-o",
                            "-name",
                            "._*",
                            ")",
                            "-type",
                            "f",
                        ],
                    ),
                    Case(
                        "mltools clean -p mac-junk --json",
                        mltools_argv("clean", t, "-p", "mac-junk", "--json"),
                    ),
                    Case(
                        "find_candidates() in-process",
                        func=lambda: find_candidates([t], CleanSpec(presets=["mac-junk"])),
                    ),
                ],
                baseline="find -name .DS_Store -o -name '._*'",
                repeat=repeat * 3,
            )
        )
        shim = delay_shim(tmp)
        if shim is not None and args.latency_us > 0:
            slow = {"LD_PRELOAD": str(shim), "DELAY_US": str(args.latency_us)}
            results.append(
                compare(
                    f"du on {count} files, {args.latency_us} us added per openat/fstatat",
                    [
                        Case("du -sx", ["du", "-sx", t], env=slow),
                        Case("mltools du --json", mltools_argv("du", t, "--json"), env=slow),
                    ],
                    baseline="du -sx",
                    repeat=repeat,
                )
            )
        print(f"\nsaved {save('bench_files', results)}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
