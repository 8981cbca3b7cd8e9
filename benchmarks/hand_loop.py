"""The loop users write by hand: a thread per stream; read, preprocess, run at batch 1, RNN step, JSON, send.

This is the peer the daemon is compared with (``compare.py``): same clip, same models, same
machine, default ONNX Runtime settings, no batching, no dropping. ``paced_fps`` plays the clip
like a camera: frame n becomes readable at ``t0 + n / fps``; a loop slower than that reads frames
ever later, which is the lag that grows.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import onnxruntime as ort
import zmq

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass
class HandLoopResult:
    """(t since start, lag seconds, stream) per published message."""

    t0: float
    published: list[tuple[float, float, int]] = field(default_factory=list)


def _meta(session: ort.InferenceSession) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def run_hand_loop(
    cnn_path: str, rnn_path: str, clip: str, streams: int, seconds: float, *, paced_fps: float | None = None
) -> HandLoopResult:
    """Run ``streams`` threads for ``seconds``; every message is recorded with its lag behind the frame."""
    cnn = ort.InferenceSession(cnn_path, providers=["CPUExecutionProvider"])
    rnn = ort.InferenceSession(rnn_path, providers=["CPUExecutionProvider"])
    h, w = json.loads(_meta(cnn)["input_size"])
    hidden = json.loads(_meta(rnn)["state"])
    cnn_in = cnn.get_inputs()[0].name
    cnn_out = json.loads(_meta(cnn)["outputs"])
    cnn_names = [cnn_out["logits"], cnn_out["embedding"]]
    rnn_names = [json.loads(_meta(rnn)["outputs"])["logits"], hidden["output"]]
    feat_in = _meta(rnn)["features_input"]
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    endpoint = f"inproc://hand-{time.monotonic_ns()}"
    result = HandLoopResult(time.monotonic())
    stop = threading.Event()
    lock = threading.Lock()
    socks = [ctx.socket(zmq.PUB) for _ in range(streams)]
    for i, s in enumerate(socks):
        s.bind(f"{endpoint}-{i}")

    def work(i: int) -> None:
        cap = cv2.VideoCapture(clip)
        state = np.zeros((hidden["layers"], 1, hidden["size"]), np.float32)
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            if paced_fps:
                due = start + n / paced_fps
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
            else:
                due = time.monotonic()
            ok, frame = cap.read()
            if not ok:
                cap.release()
                cap = cv2.VideoCapture(clip)
                continue
            n += 1
            img = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
            x = ((img - MEAN) / STD).transpose(2, 0, 1)[None]
            logits, emb = cnn.run(cnn_names, {cnn_in: np.ascontiguousarray(x)})
            seq_logits, state = rnn.run(rnn_names, {feat_in: emb, hidden["input"]: state})
            msg = {
                "stream": f"cam{i}",
                "seq": n,
                "top": int(np.argmax(logits[0])),
                "score": float(np.max(logits[0])),
                "sequence": int(np.argmax(seq_logits[0])),
            }
            socks[i].send_multipart([f"cam{i}".encode(), json.dumps(msg).encode()])
            now = time.monotonic()
            with lock:
                result.published.append((now - result.t0, now - due, i))
        cap.release()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(5)
    for s in socks:
        s.close(linger=0)
    return result
