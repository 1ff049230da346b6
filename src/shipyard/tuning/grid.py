"""Grid search: every combination of the categorical values, once, in a fixed order.

SageMaker allows Grid only over CategoricalParameterRanges (checked by :class:`SearchSpace`); the number
of training jobs is the product of the value counts. Combinations already seen (a warm-start parent's
jobs) are skipped.
"""

from __future__ import annotations

import itertools

from .strategy import Strategy, key_of


class GridStrategy(Strategy):
    name = "Grid"

    def _combos(self):
        cats = self.space.categorical
        for values in itertools.product(*(c.values for c in cats)):
            yield {c.name: v for c, v in zip(cats, values)}

    def _seen(self) -> set[str]:
        return {key_of(self.space.canonical(t["params"])) for t in self.trials}

    def _next(self) -> dict[str, str] | None:
        seen = self._seen()
        for combo in self._combos():
            if key_of(combo) not in seen:
                return combo
        return None

    @property
    def exhausted(self) -> bool:
        return len(self._seen()) >= self.space.grid_size()
