"""Waiting longer after each failure: the back-off of failing refreshes and failing webhook
deliveries."""

from __future__ import annotations

import random


def backoff(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter over the upper half: base * 2^(n-1), capped."""
    ceiling = min(cap, base * 2 ** max(failures - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)
