"""Adaptive request rate (AIMD): halve the budget on a rate block, win it back slowly.

Where it sits: the collector owns one ``AimdRate``; it calls ``on_block()`` once per 403 rate
block (not per request refused while the client cools off) and ``on_success_tick()`` after each
tick that saw no block, and plans with ``current``. The status shows ``current``. Pure state
machine: no clock, no I/O.

Why these defaults: a block costs minutes of no data (NSE blocks for ~10 minutes), so the rate
comes back cautiously: 2 % of the configured budget per clean tick, i.e. from half to full in
25 ticks (25 minutes at 60 s ticks), and never below an eighth of the budget.
"""

from __future__ import annotations

__all__ = ["AimdRate"]


class AimdRate:
    """Multiplicative decrease on ``on_block``, additive increase on ``on_success_tick``."""

    def __init__(
        self,
        budget: float,
        *,
        decrease: float = 0.5,
        increase: float | None = None,
        floor: float | None = None,
    ) -> None:
        if budget <= 0 or not 0 < decrease < 1:
            raise ValueError("AIMD: budget must be > 0 and decrease in (0, 1)")
        self.budget = budget
        self.decrease = decrease
        self.increase = budget * 0.02 if increase is None else increase
        self.floor = budget / 8 if floor is None else min(floor, budget)
        self.blocks = 0
        self._current = budget

    @property
    def current(self) -> float:
        """The effective budget (req/s) to plan with now."""
        return self._current

    @property
    def reduced(self) -> bool:
        return self._current < self.budget

    def on_block(self) -> float:
        self.blocks += 1
        self._current = max(self.floor, self._current * self.decrease)
        return self._current

    def on_success_tick(self) -> float:
        # Snap to the budget when within rounding of it, so "reduced" ends exactly.
        self._current = min(self.budget, self._current + self.increase)
        if self.budget - self._current < 1e-9:
            self._current = self.budget
        return self._current

    def __repr__(self) -> str:
        return f"AimdRate(current={self._current:.3f}, budget={self.budget}, blocks={self.blocks})"
