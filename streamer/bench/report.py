"""A bench report as a table for people."""

from __future__ import annotations

from streamer.bench.records import CAMERA_FPS, BenchReport, StageFigures, fraction_of_limit


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _limit_line(s: StageFigures, streams: int) -> str:
    limit = s.limit(streams)
    return (
        f"machine limit with {streams} stream(s) = the slowest resource alone: "
        f"decode on {_threads(streams)} {s.decode_alone_fps(streams):.1f} frames/s, "
        f"inference (batch {s.best.batch}) {s.best.fps:.1f} frames/s -> {limit.fps:.1f} frames/s, "
        f"limited by {limit.limited_by}"
    )


def format_report(r: BenchReport) -> str:
    """The report as aligned text."""
    s = r.stages
    lines = [
        f"machine: {r.machine}",
        f"clip: {r.clip} ({r.frame_size[0]}x{r.frame_size[1]}); models: {', '.join(r.models)}",
        "",
        f"  {'stage (alone)':<33}figure",
        f"  {'decode, 1 thread':<33}{s.decode_fps:8.1f} frames/s",
    ]
    for d in s.decode_alone:
        lines.append(f"  {'decode alone, ' + _threads(d.threads):<33}{d.fps:8.1f} frames/s")
        if d.opencv_fps:
            lines.append(f"  {'OpenCV read() alone, ' + _threads(d.threads):<33}{d.opencv_fps:8.1f} frames/s")
    lines += [
        f"  {'preprocess, 1 thread':<33}{s.preprocess_ms:8.3f} ms/frame",
        f"  {'decode+preprocess, ' + _threads(s.capture_threads):<33}{s.capture_fps:8.1f} frames/s",
        f"  {'JSON encoding':<33}{s.json_us:8.1f} us/message",
        "",
        "inference (all models)   batch   ms/batch   frames/s",
    ]
    for p in s.inference:
        mark = "  <- best" if p is s.best else ""
        lines.append(f"                          {p.batch:5d}   {p.batch_ms:8.3f}   {p.fps:8.1f}{mark}")
    line = s.batch_cost()
    if line is not None:
        wait = line.patience(1)
        lines.append(
            f"batch cost: {line.per_run * 1000:.3f} ms per run + {line.per_frame * 1000:.3f} ms per frame; "
            f"with batch_wait = auto a ready frame waits at most {wait * 1000:.3f} ms for another stream "
            "(and never past batch_deadline_ms)"
        )
    if r.limit_streams is not None:
        lines.append(_limit_line(s, r.limit_streams))
    if r.pipeline:
        lines += [
            "",
            "pipeline   streams   frames/s      limit   limited by   ratio   p50 ms   p99 ms   batch   drops   cpu %",
        ]
        for q in r.pipeline:
            limit = s.limit(q.streams)
            share = fraction_of_limit(q.fps, limit)
            ratio = "    -" if share is None else f"{share:5.2f}"
            lines.append(
                f"           {q.streams:7d}   {q.fps:8.1f}   {limit.fps:8.1f}   {limit.limited_by:>10}   {ratio}"
                f"   {q.latency_p50_ms:6.1f}   {q.latency_p99_ms:6.1f}"
                f"   {q.mean_batch:5.2f}   {q.dropped:5d}   {q.cpu_percent:5.0f}"
            )
        if r.ratio is not None and r.limit is not None:
            lines.append(
                f"pipeline / limit at {r.limit_streams} stream(s): {r.ratio:.2f} (limited by {r.limit.limited_by})"
            )
            top = max(r.pipeline, key=lambda p: p.streams)
            baseline = s.opencv_read_fps(top.streams)
            if baseline > 0:
                lines.append(f"pipeline / OpenCV read() alone at {top.streams} stream(s): {top.fps / baseline:.2f}")
    lines.append(f"cameras at {CAMERA_FPS:g} fps this box sustains: {r.cameras}")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
