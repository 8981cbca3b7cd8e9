"""What one inference run costs, ``seconds(n) ~ per_run + per_frame * n``, and how long a batch should wait.

Waiting for another stream's frame pays only when running it with the ready ones saves more than
the wait adds. With ``k`` frames ready and one more due in ``g`` seconds:

- run now, and the late frame waits for this run, then pays ``per_run`` again in a run of its own;
- wait, and each of the ``k`` ready frames is ``g + per_frame`` later, the late one ``per_run - g``
  earlier.

So waiting lowers the frames' total latency only while ``(k + 1) * g + k * per_frame < per_run``:
the patience is ``(per_run - k * per_frame) / (k + 1)``. On a CPU a frame costs about the same in
any batch (``per_run`` near 0): frames go as soon as the inference thread is free, and batches still
form under load from the frames that arrive while it is busy. On a GPU, where a batch of eight
costs little more than a batch of one, ready frames wait briefly for frames due soon.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

SMOOTHING = 0.05  # weight of each new run in the per-size running mean
OUTLIER = 2.0  # a run counts as at most this many times the expected time (a preempted run, a new shape)


@dataclass(frozen=True)
class CostLine:
    """Seconds one inference run costs: ``per_run + per_frame * frames``."""

    per_run: float
    per_frame: float

    def seconds(self, frames: int) -> float:
        return self.per_run + self.per_frame * frames

    def patience(self, ready: int) -> float:
        """Seconds ``ready`` frames should wait for one more (see the module's docstring)."""
        return max(0.0, (self.per_run - ready * self.per_frame) / (ready + 1))


def fit_line(seconds_by_size: dict[int, float]) -> CostLine | None:
    """The least-squares line through (batch size, seconds); None with fewer than two sizes."""
    if len(seconds_by_size) < 2:
        return None
    mx = statistics.fmean(seconds_by_size)
    my = statistics.fmean(seconds_by_size.values())
    sxx = sum((n - mx) ** 2 for n in seconds_by_size)
    slope = sum((n - mx) * (t - my) for n, t in seconds_by_size.items()) / sxx
    per_frame = max(0.0, slope)
    return CostLine(max(0.0, my - per_frame * mx), per_frame)


class BatchCost:
    """Running mean cost per batch size, fitted to a line; all calls from one thread."""

    def __init__(self) -> None:
        self._mean: dict[int, float] = {}
        self._line: CostLine | None = None

    def observe(self, n: int, seconds: float) -> None:
        """Fold in one run of ``n`` frames.

        A size seen for the first time starts from the line's prediction (when there is a line),
        and no run moves a mean by more than ``OUTLIER`` times the expected time, so one slow run
        cannot make batching look worth waiting for.
        """
        old = self._mean.get(n)
        if old is None and self._line is not None:
            old = self._line.seconds(n)
        if old is None:
            self._mean[n] = seconds
        else:
            self._mean[n] = old + SMOOTHING * (min(seconds, OUTLIER * old) - old)
        self._line = fit_line(self._mean)

    def line(self) -> CostLine | None:
        """The line through the per-size means; None before two sizes were seen."""
        return self._line

    def patience(self, ready: int) -> float | None:
        """Seconds ``ready`` frames should wait for one more; None while the cost is unknown."""
        return None if self._line is None else self._line.patience(ready)
