"""A process tree whose phases a test drives: commands arrive one a line on a FIFO.

``spawn NAME MB``: start a worker (fork) that touches MB MiB, then spins until told to
stop (marked as it starts, and once it is up); ``stop NAME``: stop it, and mark its own CPU seconds and wall time; ``quit``.
Every phase change is marked twice: ``mltools.mark()`` and a ``phase ...`` output line.
"""

import multiprocessing as mp
import sys
import time

import mltools


def worker(mb: int, stop, ready, report) -> None:
    block = bytearray(mb << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    started = time.monotonic()
    cpu0 = time.process_time()
    ready.set()
    x = 0
    while not stop.is_set():
        for _ in range(20000):
            x += 1
    report.put((time.process_time(), time.process_time() - cpu0, time.monotonic() - started))


def main(control: str) -> None:
    ctx = mp.get_context("fork")
    workers = {}
    with open(control) as fh:
        for line in fh:
            cmd, *args = line.split()
            if cmd == "spawn":
                name, mb = args[0], int(args[1])
                stop, ready, report = ctx.Event(), ctx.Event(), ctx.Queue()
                proc = ctx.Process(target=worker, args=(mb, stop, ready, report), name=name)
                mltools.mark(f"{name} start")  # (before the fork: nothing can list it earlier)
                print(f"phase {name} start", flush=True)
                proc.start()
                ready.wait()
                workers[name] = (proc, stop, report)
                mltools.mark(f"{name} up {proc.pid}")
                print(f"phase {name} up", flush=True)
            elif cmd == "stop":
                proc, stop, report = workers.pop(args[0])
                stop.set()
                total, spun, wall = report.get()
                proc.join()
                mltools.mark(f"{args[0]} down {proc.pid} {total:.4f} {spun:.4f} {wall:.4f}")
                print(f"phase {args[0]} down", flush=True)
            elif cmd == "quit":
                return


if __name__ == "__main__":
    main(sys.argv[1])
