"""A bench report as a table for people."""

from __future__ import annotations

from streamer.bench.records import CAMERA_FPS, BenchReport


def format_report(r: BenchReport) -> str:
    """The report as aligned text."""
    s = r.stages
    lines = [
        f"machine: {r.machine}",
        f"clip: {r.clip} ({r.frame_size[0]}x{r.frame_size[1]}); models: {', '.join(r.models)}",
        "",
        "stage (alone)                      figure",
        f"  decode, 1 thread                 {s.decode_fps:8.1f} frames/s",
        f"  preprocess, 1 thread             {s.preprocess_ms:8.3f} ms/frame",
        f"  decode+preprocess, {s.capture_threads} threads     {s.capture_fps:8.1f} frames/s",
        f"  JSON encoding                    {s.json_us:8.1f} us/message",
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
    lines.append(f"sum-of-parts bound: {s.bound_fps:.1f} frames/s")
    if r.pipeline:
        lines += ["", "pipeline   streams   frames/s   p50 ms   p99 ms   batch   drops   cpu %"]
        for q in r.pipeline:
            lines.append(
                f"           {q.streams:7d}   {q.fps:8.1f}   {q.latency_p50_ms:6.1f}   {q.latency_p99_ms:6.1f}"
                f"   {q.mean_batch:5.2f}   {q.dropped:5d}   {q.cpu_percent:5.0f}"
            )
        if r.ratio is not None:
            lines.append(f"pipeline / bound: {r.ratio:.2f}")
    lines.append(f"cameras at {CAMERA_FPS:g} fps this box sustains: {r.cameras}")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
