"""The publisher on an ``inproc://`` endpoint, read by a real SUB socket in the same process."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import zmq

from streamer.codec import SCHEMA_VERSION, schema
from streamer.config import STATUS_TOPIC, PublishConfig
from streamer.errors import ConfigError
from streamer.publish import Publisher
from streamer.records import Classification, FrameInfo, ModelOutput, Result, SequenceOutput, StatusEvent, StatusKind

_endpoints = itertools.count()


def endpoint() -> str:
    return f"inproc://publish-test-{next(_endpoints)}"


class Events:
    """What the publisher reports, as the pipeline would count it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[str, float]] = []
        self.drops: list[tuple[str, str]] = []

    def published(self, stream: str, latency_s: float) -> None:
        with self.lock:
            self.sent.append((stream, latency_s))

    def dropped(self, stream: str, reason: str) -> None:
        with self.lock:
            self.drops.append((stream, reason))


def result(stream: str, seq: int) -> Result:
    info = FrameInfo(stream, seq, 0, time.time(), time.monotonic(), 320, 240)
    top = (Classification("square", 0.9), Classification("circle", 0.05))
    return Result(info, (ModelOutput("frame", "classifier", top=top),), SequenceOutput("motion", "left", 0.8, seq + 1))


class Rig:
    def __init__(self, tmp: Path, **publish: object) -> None:
        self.events = Events()
        self.cfg = PublishConfig.model_validate({"endpoint": endpoint(), **publish})
        self.publisher = Publisher(self.cfg, tmp, self.events)
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.subs: list[zmq.Socket[bytes]] = []

    def subscriber(self, *topics: str, rcvhwm: int = 1000) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self.ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        sock.setsockopt(zmq.LINGER, 0)
        for topic in topics or ("",):
            sock.setsockopt_string(zmq.SUBSCRIBE, topic)
        sock.connect(self.cfg.endpoint)
        self.subs.append(sock)
        return sock

    def join(self, sock: zmq.Socket[bytes]) -> None:
        """Send status events until the subscriber hears one (its subscription has reached the PUB)."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            self.publisher.status(StatusEvent(StatusKind.DAEMON_START, detail="sync"))
            if sock.poll(50):
                drain(sock)
                return
        raise AssertionError("the subscriber never joined")

    def close(self) -> None:
        self.publisher.close(1.0)
        for sock in self.subs:
            sock.close()


def drain(sock: zmq.Socket[bytes], wait_ms: int = 50) -> list[list[bytes]]:
    got = []
    while sock.poll(wait_ms):
        got.append(sock.recv_multipart())
    return got


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    r.publisher.start()
    yield r
    r.close()


def test_a_result_goes_out_on_its_stream_topic_and_validates(rig: Rig) -> None:
    sub = rig.subscriber()
    rig.join(sub)
    rig.publisher.submit(result("door", 41))
    assert sub.poll(2000)
    topic, payload = sub.recv_multipart()
    assert topic == b"door"
    message = json.loads(payload)
    jsonschema.validate(message, schema("result"))
    assert (message["stream"], message["seq"], message["v"]) == ("door", 41, SCHEMA_VERSION)
    assert message["sequence"] == {"model": "motion", "label": "left", "score": 0.8, "steps": 42}
    assert message["models"]["frame"]["top"][0] == {"label": "square", "score": 0.9}
    assert [s for s, _ in rig.events.sent] == ["door"]
    assert 0.0 <= rig.events.sent[0][1] == pytest.approx(message["latency_s"], abs=1e-3)


def test_status_events_go_on_the_reserved_topic(rig: Rig) -> None:
    sub = rig.subscriber(STATUS_TOPIC)
    rig.join(sub)
    rig.publisher.status(StatusEvent(StatusKind.STREAM_STATE, "door", "backoff", "stream lost; retry in 1.0s"))
    topic, payload = sub.recv_multipart()
    assert topic == STATUS_TOPIC.encode()
    message = json.loads(payload)
    jsonschema.validate(message, schema("status"))
    assert (message["event"], message["stream"], message["state"]) == ("stream_state", "door", "backoff")
    assert rig.events.sent == []  # status events are not results


def test_a_subscriber_gets_only_the_streams_it_subscribed_to(rig: Rig) -> None:
    sub = rig.subscriber("yard", STATUS_TOPIC)
    rig.join(sub)
    for seq, stream in enumerate(("door", "yard", "door", "yard")):
        rig.publisher.submit(result(stream, seq))
    got = [(t, json.loads(p)["seq"]) for t, p in drain(sub, 500)]
    assert got == [(b"yard", 1), (b"yard", 3)]


def test_close_sends_everything_already_queued(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.publisher.start()
    sub = rig.subscriber()
    rig.join(sub)
    for seq in range(50):
        rig.publisher.submit(result("door", seq))
    rig.publisher.close(2.0)
    seqs = [json.loads(p)["seq"] for t, p in drain(sub, 200) if t == b"door"]
    assert seqs == list(range(50))
    rig.close()


def test_a_full_queue_is_a_counted_drop_and_never_blocks(tmp_path: Path) -> None:
    # Not started: nothing drains the queue, as when the publisher thread falls behind.
    rig = Rig(tmp_path, queue_size=2)
    t0 = time.monotonic()
    for seq in range(5):
        rig.publisher.submit(result("door", seq))
    assert time.monotonic() - t0 < 0.5
    assert rig.events.drops == [("door", "publish")] * 3


def test_a_slow_subscriber_costs_it_messages_not_the_daemon_memory(tmp_path: Path) -> None:
    rig = Rig(tmp_path, send_hwm=10, queue_size=5000)
    rig.publisher.start()
    try:
        sub = rig.subscriber(rcvhwm=10)
        rig.join(sub)
        for seq in range(2000):  # the subscriber reads nothing meanwhile
            rig.publisher.submit(result("door", seq))
        deadline = time.monotonic() + 5.0
        while len(rig.events.sent) < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(rig.events.sent) == 2000  # the publisher never waited for the subscriber
        seqs = [json.loads(p)["seq"] for t, p in drain(sub) if t == b"door"]
        assert 0 < len(seqs) < 100  # libzmq kept what the two HWMs allow and dropped the rest
        assert seqs == sorted(seqs)
    finally:
        rig.close()


def test_an_endpoint_in_use_is_a_config_error(rig: Rig, tmp_path: Path) -> None:
    second = Publisher(rig.cfg, tmp_path, Events())
    with pytest.raises(ConfigError, match=r"^publish\.endpoint: cannot bind inproc://publish-test-\d+"):
        second.start()


def test_a_missing_curve_key_is_a_config_error(tmp_path: Path) -> None:
    if not zmq.has("curve"):
        pytest.skip("this libzmq has no CURVE support")
    cfg = {"secret_key_file": "missing.key_secret", "authorized_keys_dir": str(tmp_path)}
    rig = Rig(tmp_path, curve=cfg)
    with pytest.raises(ConfigError, match=r"^publish\.curve\.secret_key_file: "):
        rig.publisher.start()
