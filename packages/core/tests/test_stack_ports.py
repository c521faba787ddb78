from __future__ import annotations

import contextlib
import socket

from callscope_core.stack import free_sip_port


def test_a_sip_port_is_free_for_udp_and_tcp_alike() -> None:
    # Ports held on TCP only (as client connections hold theirs) must not be handed out.
    with contextlib.ExitStack() as held:
        for _ in range(200):
            tcp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            tcp.bind(("127.0.0.1", 0))
            tcp.listen()
        for _ in range(50):
            port = free_sip_port()
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            ):
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
