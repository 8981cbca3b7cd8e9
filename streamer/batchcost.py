"""What one inference run costs, ``seconds(n) ~ fixed + per_frame * n``, and how long a batch should wait.

Waiting for another stream's frame pays only when running it with the ready ones saves more than
the wait adds. With ``k`` frames ready and one more due in ``g`` seconds:

- run now, and the late frame waits for this run, then pays ``fixed`` again in a run of its own;
- wait, and each of the ``k`` ready frames is ``g + per_frame`` later, the late one ``fixed - g``
  earlier.

So waiting lowers the frames' total latency only while ``(k + 1) * g + k * per_frame < fixed``:
the patience is ``(fixed - k * per_frame) / (k + 1)``. On a CPU a frame costs about the same in
any batch (``fixed`` near 0): frames go as soon as the inference thread is free, and batches still
form under load from the frames that arrive while it is busy. On a GPU, where a batch of eight
costs little more than a batch of one, ready frames wait briefly for frames due soon.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

from streamer.runtime import Model, warmup_feeds

SMOOTHING = 0.05  # weight of each new run in the per-size running mean
CALIBRATION_RUNS = 3


class BatchCost:
    """Running mean cost per batch size, fitted to a line."""

    def __init__(self) -> None:
        self._mean: dict[int, float] = {}

    def observe(self, n: int, seconds: float) -> None:
        old = self._mean.get(n)
        self._mean[n] = seconds if old is None else old + SMOOTHING * (seconds - old)

    def line(self) -> tuple[float, float] | None:
        """(fixed, per_frame) seconds by least squares over the sizes seen; None before two sizes."""
        if len(self._mean) < 2:
            return None
        sizes = list(self._mean)
        mx = statistics.fmean(sizes)
        my = statistics.fmean(self._mean.values())
        sxx = sum((n - mx) ** 2 for n in sizes)
        slope = sum((n - mx) * (t - my) for n, t in self._mean.items()) / sxx
        per_frame = max(0.0, slope)
        return max(0.0, my - per_frame * mx), per_frame

    def patience(self, ready: int) -> float | None:
        """Seconds ``ready`` frames should wait for one more; None while the cost is unknown."""
        fit = self.line()
        if fit is None:
            return None
        fixed, per_frame = fit
        return max(0.0, (fixed - ready * per_frame) / (ready + 1))


def calibrate(models: Iterable[Model], max_batch: int) -> BatchCost:
    """Time every model together at batch 1 and ``max_batch`` (median of a few runs) as a first estimate."""
    cost = BatchCost()
    models = list(models)
    for n in sorted({1, max_batch}):
        feeds = [(model, warmup_feeds(model.spec, n)) for model in models]
        runs = []
        for _ in range(CALIBRATION_RUNS):
            t0 = time.perf_counter()
            for model, feed in feeds:
                model.run(feed)
            runs.append(time.perf_counter() - t0)
        cost.observe(n, statistics.median(runs))
    return cost
