"""Random search: each suggestion is a uniform point of the (scaled) unit cube.

The random stream is derived from (seed, suggestion counter), so the state is just the counter and a
restored strategy continues the exact sequence it would have produced.
"""

from __future__ import annotations

import numpy as np

from .strategy import Strategy


def unit_point(seed: int, counter: int, dim: int) -> list[float]:
    return np.random.default_rng([seed, counter]).random(dim).tolist()


class RandomStrategy(Strategy):
    name = "Random"

    def _next(self) -> dict[str, str]:
        return self.space.decode(unit_point(self.seed, self.counter, self.space.dim))
