"""The PUB socket's peer monitor on real sockets: connections counted, bad handshakes counted."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import zmq

from streamer.peers import EVENTS, PeerError, PeerMonitor
from tests.support.procs import wait_until


class Events:
    def __init__(self) -> None:
        self.connected = 0
        self.errors: list[PeerError] = []

    def publish_connections(self, open_now: int) -> None:
        self.connected = open_now

    def peer_error(self, reason: PeerError) -> None:
        self.errors.append(reason)


@pytest.fixture
def pub() -> Iterator[tuple[zmq.Socket[bytes], int, Events, PeerMonitor]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    events = Events()
    monitor = PeerMonitor(sock.get_monitor_socket(EVENTS), events)
    monitor.start()
    yield sock, port, events, monitor
    sock.disable_monitor()
    monitor.join(2)
    sock.close(0)
    ctx.term()


def test_subscribers_come_and_go_and_garbage_is_counted(
    pub: tuple[zmq.Socket[bytes], int, Events, PeerMonitor],
) -> None:
    sock, port, events, monitor = pub
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    subs = [ctx.socket(zmq.SUB) for _ in range(3)]
    for s in subs:
        s.connect(f"tcp://127.0.0.1:{port}")
    wait_until(lambda: events.connected == 3, 5, 0.02, "3 subscribers")
    subs[0].close(0)
    wait_until(lambda: events.connected == 2, 5, 0.02, "one left")
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n" * 10)
        time.sleep(0.2)
    wait_until(lambda: events.errors == [PeerError.HANDSHAKE], 5, 0.02, "handshake failure counted")
    wait_until(lambda: events.connected == 2, 5, 0.02, "the bad peer gone")
    for s in subs[1:]:
        s.close(0)
    sock.disable_monitor()
    monitor.join(2)
    assert not monitor.is_alive()
