"""tests/_ports.py: a reserved port is free for the test's own daemons and nobody else's."""

from __future__ import annotations

import socket

from mltools.ddp.check import port_is_free
from tests._ports import free_port


def test_a_reserved_port_is_kept_from_others_and_free_for_reuseaddr_daemons():
    port = free_port()
    with socket.socket() as plain:  # another program binding it by number
        try:
            plain.bind(("127.0.0.1", port))
        except OSError:
            pass
        else:
            raise AssertionError(f"a plain bind took reserved port {port}")
    drawn = []
    for _ in range(2000):  # another program's bind(0): the kernel skips the reserved port
        with socket.socket() as s:
            s.bind(("", 0))
            drawn.append(s.getsockname()[1])
    assert port not in drawn
    assert port_is_free(port)  # what ddp-doctor check sees (torchrun's store binds the same way)
    with socket.socket() as daemon:  # a daemon with SO_REUSEADDR (TCPStore, sshd) listens on it
        daemon.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        daemon.bind(("127.0.0.1", port))
        daemon.listen(1)
        with socket.create_connection(("127.0.0.1", port), timeout=30):
            conn, _ = daemon.accept()
            conn.close()
