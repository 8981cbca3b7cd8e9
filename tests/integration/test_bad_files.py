"""Bad file inputs: each fails its own stream with a clear reason (or the config, for a path that
cannot be a video), while a good stream in the same daemon runs on untouched."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.robust_rig import (
    Ports,
    Running,
    config_data,
    file_stream,
    report,
    start_daemon,
    tiny_models,
    value,
    write_config,
)
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import wait_until

pytestmark = pytest.mark.integration

NOMINAL_FPS = Clips.FPS


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_models(tmp_path_factory.mktemp("models"))


def failed_detail(running: Running, stream: str) -> str:
    """The reason the daemon gave for failing a stream (its log line; the status message may have
    gone out before the subscription took effect)."""
    for line in running.logs().splitlines():
        if f"stream {stream}: failed (" in line:
            return line
    return ""


def epochs_seen(running: Running, stream: str, at_least: int) -> bool:
    """Whether the stream's results so far span ``at_least`` epochs (passes over a looping file)."""
    return len({m.body["epoch"] for m in running.sub.results(stream)}) >= at_least


def test_bad_files_fail_their_own_stream(
    tmp_path: Path, models: dict[str, Any], clips: Clips, daemon_process: DaemonFactory
) -> None:
    vanishing = tmp_path / "vanishing.mp4"
    vanishing.write_bytes(clips.mp4v.read_bytes())
    expected_failures = {
        "truncated_once": "truncated or corrupt",  # opens, declares 150 frames, ends after 50
        "truncated_no_index": "cannot open",  # the mp4 index was cut off: does not open
        "corrupt_once": "truncated or corrupt",  # the middle overwritten by noise: 23 of 50 frames
        "zero_length": "cannot open",
        "still_png": "still image",
        "still_jpg": "still image",
        "vanishing": "cannot open",  # deleted while playing: fails at the next loop
    }
    streams = [
        file_stream("good", clips.h264_long),
        file_stream("truncated", clips.truncated),  # with loop: plays the 50 frames that decode, loops
        file_stream("truncated_once", clips.truncated, loop=False),
        file_stream("truncated_no_index", clips.truncated_no_index),
        file_stream("corrupt", clips.corrupt),  # with loop: plays what decodes, loops
        file_stream("corrupt_once", clips.corrupt, loop=False),
        file_stream("zero_length", clips.zero_length),
        file_stream("still_png", clips.still_png),
        file_stream("still_jpg", clips.still_jpg, loop=False),
        file_stream("vanishing", vanishing),
        file_stream("ends", clips.h264, loop=False),
        file_stream("loops", clips.mp4v),
    ]
    ports = Ports()
    path = write_config(tmp_path / "bad.toml", config_data(ports, models, streams))
    running = start_daemon(daemon_process, path, ports, wait_streams=("good",))
    try:
        t0 = time.monotonic()
        start = running.scrape()
        vanishing.unlink()  # mid-play: the current pass ends, the next open fails
        for name, reason in expected_failures.items():
            wait_until(partial(failed_detail, running, name), 10, 0.1, f"{name} failed")
            assert reason in failed_detail(running, name), (name, failed_detail(running, name))
        wait_until(lambda: running.sub.state_changes("ends", "stopped"), 10, 0.1, "ends stopped")
        for name in ("loops", "truncated", "corrupt"):
            wait_until(partial(epochs_seen, running, name, 3), 10, 0.1, name)
        time.sleep(max(0.0, t0 + 6.0 - time.monotonic()))
        end = running.scrape()
        dt = time.monotonic() - t0
        assert running.alive()

        # The good stream ran at its native rate throughout, on one epoch per 150-frame pass.
        good_fps = (
            value(end, "streamer_frames_processed_total", stream="good")
            - value(start, "streamer_frames_processed_total", stream="good")
        ) / dt
        good = [m.body for m in running.sub.results("good")]
        seqs = [r["seq"] for r in good]
        missing = seqs[-1] - seqs[0] + 1 - len(seqs)
        dropped = sum(
            value(end, "streamer_frames_dropped_total", stream="good", reason=r)
            for r in ("superseded", "max_fps", "publish", "error", "corrupt")
        )
        assert seqs == sorted(seqs), "the good stream restarted"
        assert missing <= dropped, f"{missing} frames of the good stream lost, {dropped} drops counted"
        assert value(end, "streamer_stream_up", stream="good") == 1
        assert good_fps >= 0.95 * NOMINAL_FPS, good_fps

        for name in expected_failures:
            assert value(end, "streamer_stream_state", stream=name, state="failed") == 1, name
            assert value(end, "streamer_stream_up", stream=name) == 0, name
        # A still image or a broken file never reaches inference as if it were a video.
        for name in ("still_png", "still_jpg", "zero_length", "truncated_no_index"):
            assert value(end, "streamer_frames_processed_total", stream=name) <= 1, name

        # A file without loop plays once, to the end, then stops; with loop it restarts on a new
        # epoch with fresh sequence state.
        ends = [m.body for m in running.sub.results("ends")]
        assert ends[-1]["seq"] == Clips.H264_FRAMES - 1
        assert value(end, "streamer_stream_state", stream="ends", state="stopped") == 1
        loops = [m.body for m in running.sub.results("loops")]
        for prev, cur in itertools.pairwise(loops):
            if cur["epoch"] != prev["epoch"]:
                assert cur["epoch"] == prev["epoch"] + 1 and cur["sequence"]["steps"] == 1
        # A looping file whose frames stop decoding partway plays the part that decodes, with one
        # warning and the frames it lost counted: 100 of the truncated file's 150 on each pass.
        logs = running.logs()
        for name, lost in (("truncated", 100), ("corrupt", 27)):
            assert value(end, "streamer_stream_up", stream=name) == 1, name
            passes = len({m.body["epoch"] for m in running.sub.results(name)})
            counted = value(end, "streamer_frames_dropped_total", stream=name, reason="corrupt")
            assert lost * (passes - 1) <= counted <= lost * (passes + 1), (name, counted, passes)
            assert (
                sum(
                    f"stream {name}: " in line and "looping over the frames that decode" in line
                    for line in logs.splitlines()
                )
                == 1
            ), name
        report(
            "bad files",
            good_fps=good_fps,
            good_missing_counted=f"{missing}/{dropped}",
            failures={n: failed_detail(running, n) for n in expected_failures},
            ends_frames=len(ends),
            loops_epochs=len({r["epoch"] for r in loops}),
        )
        assert "Traceback" not in running.logs()
        # The status messages say the same, where the subscriber was connected in time.
        for name, reason in expected_failures.items():
            for msg in running.sub.state_changes(name, "failed"):
                assert reason in msg.body["detail"], msg.body
    finally:
        running.sub.close()


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_path_that_cannot_be_a_video_is_a_config_error(
    tmp_path: Path, models: dict[str, Any], clips: Clips, command: str, kind: str
) -> None:
    source = tmp_path / "no-such-clip.mp4" if kind == "missing" else clips.directory
    streams = [file_stream("good", clips.h264), file_stream("bad", source)]
    path = write_config(tmp_path / "c.toml", config_data(Ports(), models, streams))
    proc = subprocess.run(
        [sys.executable, "-m", "streamer", command, "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("streamer: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "streams[bad].source" in errors[0]
    assert ("no such file" if kind == "missing" else "is a directory") in errors[0]
