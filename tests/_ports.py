"""Ports for the daemons tests start (torchrun's store, sshd), kept from everyone else.

A port picked with bind(0) and closed can be taken before the daemon binds it: any
process's bind(0) or outgoing connection draws from the same ephemeral range (8 test runs
share this machine). ``free_port`` keeps a socket bound to the port, with SO_REUSEADDR and
never listening, until this process exits. On Linux that socket

- keeps the port out of everyone's bind(0) and outgoing connections (the kernel skips a
  port with a bound socket when it chooses one), and refuses a plain bind of it;
- lets a daemon that sets SO_REUSEADDR, as torch's TCPStore (torchrun, init_process_group),
  sshd and ``ddp-doctor check``'s port probe do, bind and listen on it as if it were free.

So the port is free for the test's own daemon and for nobody else, from the moment it is
picked. (A daemon that binds without SO_REUSEADDR would be refused: use it for daemons
that set it.)
"""

from __future__ import annotations

import socket

_HELD: list[socket.socket] = []


def free_port() -> int:
    """A TCP port on every address, reserved for this process's daemons (see above)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", 0))
    _HELD.append(sock)  # closed when the process exits
    return int(sock.getsockname()[1])
