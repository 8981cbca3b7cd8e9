"""Minimal streamer subscriber in Python (pyzmq): prints every result as one JSON line.

    python subscribe.py [tcp://127.0.0.1:5556] [STREAM ...]

Messages are ZeroMQ multipart ``[topic, payload]``: topic = stream name (UTF-8), payload = JSON.
Status and event messages arrive on the reserved topics ``_status`` and ``_events`` and are skipped here.
"""

from __future__ import annotations

import contextlib
import json
import sys

import zmq


def main(argv: list[str]) -> None:
    endpoint = argv[0] if argv else "tcp://127.0.0.1:5556"
    streams = set(argv[1:])
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sock.connect(endpoint)
    # ZeroMQ filters by prefix ("cam1" also matches "cam10"): subscribe, then compare exactly.
    for name in streams or {""}:
        sock.setsockopt_string(zmq.SUBSCRIBE, name)
    while True:
        topic, payload = sock.recv_multipart()
        stream = topic.decode("utf-8")
        if stream.startswith("_") or (streams and stream not in streams):  # _status, _events: not results
            continue
        result = json.loads(payload)  # plain JSON: never pickle on the wire
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(sys.argv[1:])
