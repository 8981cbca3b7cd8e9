"""Event clips end to end in one process: real JPEG ring, real H.264 MP4 written by PyAV, decoded back."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import pytest

from streamer.clip_events import ClipError, ClipFailed, ClipStarted, event_dict
from streamer.clip_file import ClipSpec
from streamer.clip_ring import encode_frame
from streamer.codec import result_dict
from streamer.records import Detection, Image, ModelOutput, Result
from tests.support.clipframes import decode, image, info
from tests.support.cliprig import FPS, Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "clips")
    r.writer.start()
    yield r
    r.writer.stop()


def test_a_clip_holds_pre_event_and_post(rig: Rig) -> None:
    rig.feed(range(200), person=set(range(100, 125)))
    [done] = rig.done()
    started = [e for e in rig.told if isinstance(e, ClipStarted)]
    assert len(started) == 1 and started[0].path == done.path and started[0].rule == "person"
    assert started[0].t_capture == pytest.approx(info(100, FPS).t_capture_wall)
    # pre_s 2 s before frame 100 is frame 50; post_s 1.02 s after frame 124 (the last with a person) is 149.
    indices, duration, size, _ = decode(Path(done.path))
    assert indices == list(range(50, 150))
    assert done.frames == 100 and done.seconds == pytest.approx(4.0)
    assert duration == pytest.approx(4.0, abs=0.05)
    assert size == (320, 180)
    cap = cv2.VideoCapture(done.path)  # and OpenCV (its bundled FFmpeg) reads it as well
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 100 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 320
    cap.release()
    assert done.bytes == Path(done.path).stat().st_size + Path(done.path).with_suffix(".json").stat().st_size
    assert Path(done.path).parent == rig.store.root / "cam"
    sidecar = json.loads(Path(done.path).with_suffix(".json").read_text())
    assert (sidecar["stream"], sidecar["rule"], sidecar["video"]) == ("cam", "person", Path(done.path).name)
    assert [row["seq"] for row in sidecar["frames"]] == list(range(50, 150))
    assert sidecar["frames"][60]["result"]["models"]["det"]["detections"][0]["label"] == "person"
    assert sidecar["frames"][0]["pts_s"] == 0 and sidecar["frames"][-1]["pts_s"] == pytest.approx(99 / FPS)
    assert not list(rig.store.root.rglob("*.part"))
    assert event_dict(done)["event"] == "clip_done" and event_dict(done)["frames"] == 100


def test_the_rule_firing_again_extends_the_clip(rig: Rig) -> None:
    rig.feed(range(300), person=set(range(100, 110)) | set(range(130, 140)))
    [done] = rig.done()
    assert decode(Path(done.path))[0] == list(range(50, 165))


def test_two_events_apart_make_two_clips_without_overlap(rig: Rig) -> None:
    rig.feed(range(400), person={100, 160})  # the second's pre-roll reaches into the first clip
    first, second = rig.done()
    assert decode(Path(first.path))[0] == list(range(50, 126))
    assert decode(Path(second.path))[0] == list(range(126, 186))


def test_max_s_caps_a_clip_and_a_rule_still_firing_starts_the_next(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_s=3.01)  # off the frame grid: no float ties at the cap
    rig.writer.start()
    rig.feed(range(300), person=set(range(100, 220)))
    clips = rig.done()
    spans = [decode(Path(c.path))[0] for c in clips]
    assert spans[0] == list(range(50, 126))  # frames spanning 3 s from frame 50
    assert spans[1] == list(range(126, 202))
    assert spans[2] == list(range(202, 245))  # the rule stops after 219: post_s ends it
    assert len(clips) == 3 and all(c.seconds <= 3.01 + 1 / FPS for c in clips)


def test_frames_inference_skipped_are_in_the_clip_without_results(rig: Rig) -> None:
    rig.feed(range(200), person=set(range(100, 125)), processed=set(range(0, 200, 3)))
    [done] = rig.done()
    indices = decode(Path(done.path))[0]
    assert indices == list(range(52, 149))  # the rule fired on frame 102, the last person seen on 123
    rows = json.loads(Path(done.path).with_suffix(".json").read_text())["frames"]
    assert all((row["result"] is None) == (row["seq"] % 3 != 0) for row in rows)


def test_a_stream_that_goes_quiet_ends_its_clip_on_tick(rig: Rig) -> None:
    rig.feed(range(120), person=set(range(100, 120)))
    assert rig.recorder.recording
    rig.recorder.tick(info(119, FPS).t_capture_mono + 0.5)
    assert rig.recorder.recording  # still inside post_s
    rig.recorder.tick(info(119, FPS).t_capture_mono + 1.02 + 1.01)
    assert not rig.recorder.recording
    [done] = rig.done()
    assert decode(Path(done.path))[0] == list(range(50, 120))


def test_close_ends_the_clip_with_what_it_has(rig: Rig) -> None:
    rig.feed(range(110), person=set(range(100, 110)))
    rig.recorder.close()
    [done] = rig.done()
    assert decode(Path(done.path))[0] == list(range(50, 110))


def test_a_camera_back_at_another_size_is_scaled_to_the_clip(rig: Rig) -> None:
    for i in range(60):
        size = (640, 360) if i < 30 else (1280, 720)
        rig.recorder.on_frame(info(i, FPS, size=size), image(i, size))
        det = (Detection("person", 0.9, (0, 0, 9, 9)),)
        result = Result(info(i, FPS, size=size), (ModelOutput("det", "detector", detections=det),))
        rig.recorder.on_result(result, result_dict(result, 0.0))
    rig.recorder.close()
    [done] = rig.done()
    indices, _, size, _ = decode(Path(done.path))
    assert indices == list(range(60)) and size == (320, 180)


def red_box(img: Image, result: Mapping[str, Any]) -> Image:
    """A stand-in for the annotation module: boxes scaled from source pixels to the clip."""
    scale = img.shape[1] / result["frame"]["width"]
    for model in result["models"].values():
        for det in model.get("detections", []):
            x1, y1, x2, y2 = (round(v * scale) for v in det["box"])
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), thickness=-1)
    return img


def test_annotations_are_burnt_in(tmp_path: Path) -> None:
    rig = Rig(tmp_path, draw=red_box)
    rig.writer.start()
    rig.feed(range(150), person=set(range(100, 110)))
    [done] = rig.done()
    _, _, _, frames = decode(Path(done.path))
    # The box (10,10)-(50,90) in 640-px source pixels is (5,5)-(25,45) in the 320-px clip: sample its middle.
    reds = [bool(f[25, 15, 2] > 180 and f[25, 15, 1] < 90) for f in frames]
    assert reds == [False] * 50 + [True] * 10 + [False] * (len(frames) - 60)


def test_a_failing_drawer_costs_only_the_annotations(tmp_path: Path) -> None:
    def broken(img: Image, result: Mapping[str, Any]) -> Image:
        raise RuntimeError("bug")

    rig = Rig(tmp_path, draw=broken)
    rig.writer.start()
    rig.feed(range(150), person=set(range(100, 110)))
    [done] = rig.done()
    assert done.frames == 85  # frames 50 to 134, written plain


def test_a_writer_that_falls_behind_cuts_the_clip_and_never_blocks(tmp_path: Path) -> None:
    frame_bytes = len(encode_frame(image(0), 320, 80))
    rig = Rig(tmp_path, queue_bytes=20 * frame_bytes)  # the writer thread not started yet
    t = time.perf_counter()
    rig.feed(range(200), person=set(range(100, 125)))
    elapsed = time.perf_counter() - t
    assert not rig.recorder.recording and elapsed < 10
    rig.writer.start()
    [done] = rig.done()
    assert done.cut_short and 15 < done.frames <= 20
    assert decode(Path(done.path))[0] == list(range(50, 50 + done.frames))
    assert rig.writer.counts().errors == {ClipError.BEHIND: 1}


def test_stale_temporaries_are_removed_at_start(tmp_path: Path) -> None:
    stream_dir = tmp_path / "cam"
    stream_dir.mkdir()
    (stream_dir / ".20260101T000000.000Z-r.mp4.part").write_bytes(b"half")
    (stream_dir / ".20260101T000000.000Z-r.json.part").write_bytes(b"{")
    (stream_dir / "20250101T000000.000Z-r.mp4").write_bytes(b"a finished clip")
    (stream_dir / ".download.part").write_bytes(b"not ours")
    rig = Rig(tmp_path)
    rig.writer.start()
    rig.done()
    assert sorted(p.name for p in stream_dir.iterdir()) == [".download.part", "20250101T000000.000Z-r.mp4"]


def test_the_disk_budget_deletes_the_oldest_clips_first(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_bytes="1MiB")
    old = tmp_path / "other"
    old.mkdir()
    for n, age in enumerate((300, 200, 100)):
        clip = old / f"2025010{n}T000000.000Z-r.mp4"
        clip.write_bytes(b"x" * 600_000)
        clip.with_suffix(".json").write_bytes(b"{}")
        t = time.time() - age
        for p in (clip, clip.with_suffix(".json")):
            os.utime(p, (t, t))
    (old / "holiday.mp4").write_bytes(b"x" * 2_000_000)  # not a clip: neither counted nor deleted
    rig.writer.start()
    rig.feed(range(200), person={100})
    [done] = rig.done()
    left = sorted(p.name for p in old.iterdir())
    assert left == ["20250102T000000.000Z-r.json", "20250102T000000.000Z-r.mp4", "holiday.mp4"]  # the two oldest went
    assert Path(done.path).exists() and rig.writer.counts().deleted == 2
    assert sum(size for _, size, _ in rig.store.usage()) <= 2**20


def test_a_new_epoch_restarts_the_rules(tmp_path: Path) -> None:
    rig = Rig(tmp_path, rules=[{"name": "p", "label": "person", "min_frames": 3}])
    det = (Detection("person", 0.9, (10, 10, 50, 90)),)
    fired = []
    for i in range(6):
        frame_info = info(i, FPS, epoch=0 if i < 2 else 1)  # the camera reconnected after frame 1
        result = Result(frame_info, (ModelOutput("det", "detector", detections=det),))
        fired.append(rig.recorder.on_result(result, result_dict(result, 0.0)).started)
    assert fired == [(), (), (), (), ("p",), ()]


@pytest.mark.parametrize(("cut_short", "reason"), [(True, ClipError.BEHIND), (False, ClipError.NO_FRAMES)])
def test_a_clip_without_frames_fails_once(tmp_path: Path, cut_short: bool, reason: ClipError) -> None:
    rig = Rig(tmp_path)
    spec = ClipSpec(99, "cam", "r", rig.store.paths("cam", "r", 0.0))
    rig.writer.open(spec)
    rig.writer.close(99, cut_short)
    rig.writer.start()
    assert rig.done() == []
    assert [(e.reason, e.path) for e in rig.told if isinstance(e, ClipFailed)] == [(reason, str(spec.paths.mp4))]
    assert rig.writer.counts().errors == {reason: 1}
    assert not any(tmp_path.rglob("*.*"))


def test_a_frame_that_cannot_be_encoded_is_skipped(rig: Rig) -> None:
    rig.recorder.on_frame(info(0), image(0)[:0])  # empty pictures
    rig.recorder.on_frame(info(1), image(1)[:0, :0])
    assert rig.recorder.bad_frames == 2 and len(rig.recorder.ring) == 0
