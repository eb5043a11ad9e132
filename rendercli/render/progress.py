"""Overall progress across render steps: weighted percent, ETA, throttled and monotonic."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

ProgressCallback = Callable[[float, float | None], None]


class ProgressTracker:
    """Turns per-step fractions into one percent (0..100) weighted by each step's work.

    ``on_progress(percent, eta_seconds)`` is called at most once per ``interval`` while
    running, never with a smaller percent than before, and exactly once with 100 by
    ``finish()``. The ETA is None until there is enough progress to extrapolate from.
    """

    def __init__(self, weights: Mapping[str, float], on_progress: ProgressCallback | None,
                 *, interval: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self._weights = {name: max(0.0, w) for name, w in weights.items()}
        self._total = sum(self._weights.values())
        self._callback = on_progress
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last_emit: float | None = None
        self.percent = 0.0  # the highest percent computed so far

    def update(self, fractions: Mapping[str, float]) -> None:
        """Record the current fraction (0..1) of each step and report if it is time to."""
        if self._total <= 0:
            return
        done = sum(self._weights.get(name, 0.0) * min(1.0, max(0.0, f))
                   for name, f in fractions.items())
        percent = min(99.9, 100.0 * done / self._total)  # 100 only once everything is published
        if percent <= self.percent:
            return
        self.percent = percent
        now = self._clock()
        if self._last_emit is not None and now - self._last_emit < self._interval:
            return
        self._last_emit = now
        if self._callback:
            self._callback(round(percent, 1), self._eta(now))

    def finish(self) -> None:
        """Report completion: exactly 100 with no time remaining."""
        self.percent = 100.0
        if self._callback:
            self._callback(100.0, 0.0)

    def _eta(self, now: float) -> float | None:
        elapsed = now - self._started
        if self.percent < 1.0 or elapsed < 0.5:
            return None
        return round(elapsed * (100.0 - self.percent) / self.percent, 1)
