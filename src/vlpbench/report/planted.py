"""What a grid can detect, shown with known truths planted in it: the planted ladder's rows (tag
"planted:<reference>:<level>", e.g. clip with 10 / 25 / 50 % of its pairs mismatched; a higher
level is worse by construction), whether the grid recovers their order, and the smallest rung the
corrected test separates from the reference. The unit is the pretraining run, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vlpbench.report.rank_statistics import Difference, equivalence, metric_name, metric_values, paired_difference
from vlpbench.report.run_tests import ALPHA, paired_t_pvalues
from vlpbench.report.statistics import holm_adjust
from vlpbench.report.variance_components import VarianceComponents, value_cube

PLANTED_TAG = "planted"


@dataclass(frozen=True)
class Ladder:
    """A planted ladder: its reference strategy and rungs (worst last) with their levels."""

    reference: str
    rungs: tuple[str, ...]
    levels: tuple[float, ...]

    @property
    def rows(self) -> list[str]:
        return [self.reference, *self.rungs]


def find_ladder(strategies: list[str], tags: dict[str, tuple[str, ...]]) -> Ladder | None:
    """The ladder among `strategies`, from their "planted:<reference>:<level>" tags (None without
    one; the first reference found when several are planted)."""
    rungs: dict[str, list[tuple[float, str]]] = {}
    for s in strategies:
        for tag in tags.get(s, ()):
            parts = tag.split(":")
            if len(parts) == 3 and parts[0] == PLANTED_TAG:
                rungs.setdefault(parts[1], []).append((float(parts[2]), s))
    if not rungs:
        return None
    reference, found = sorted(rungs.items())[0]
    found.sort()
    return Ladder(reference, tuple(s for _, s in found), tuple(level for level, _ in found))


def planted_rows(strategies: list[str], tags: dict[str, tuple[str, ...]]) -> list[str]:
    """The strategies tagged "planted": their own block, left out of the real strategies' ranks."""
    return [s for s in strategies if PLANTED_TAG in tags.get(s, ())]


@dataclass(frozen=True)
class LadderResult:
    """Means of the ladder's rows over complete runs, Kendall τ against the true order, and each
    rung's Holm-adjusted paired t-test against the reference (over runs)."""

    ladder: Ladder
    means: dict[str, float]
    runs: int
    tau: float
    p_holm: dict[str, float]
    deltas: dict[str, Difference]  # rung − reference over runs, with its t-interval
    verdicts: dict[str, str]  # better / worse / equivalent / can't tell, as the tables' verdicts

    @property
    def separated(self) -> str | None:
        """The smallest rung found below the reference (Holm p < α), or None."""
        return next((r for r in self.ladder.rungs if self.p_holm[r] < ALPHA and self.means[r] < self.means[self.ladder.reference]),
                    None)


def ladder_result(records: pd.DataFrame, metric: str, ladder: Ladder, margin: float = 1.0) -> LadderResult | None:
    """The ladder on one table's records (the dataset-averaged `metric` at fraction 1, complete
    runs); None without the reference and ≥ 2 runs."""
    values = metric_values(records, metric)
    rows = [s for s in ladder.rows if s in set(values["strategy"])]
    if ladder.reference not in rows or len(rows) < 2:
        return None
    cube, names, _, seeds = value_cube(values, rows)
    if len(seeds) < 2:
        return None
    runs = cube.mean(axis=1).T  # (runs, rows), the reference first
    means = dict(zip(names, runs.mean(axis=0)))
    p = holm_adjust(paired_t_pvalues(runs)[: len(names) - 1])  # the pairs (reference, rung) come first
    truth = [0.0] + [ladder.levels[ladder.rungs.index(s)] for s in names[1:]]
    tau = stats.kendalltau(-np.asarray(truth), runs.mean(axis=0)).statistic if len(names) >= 2 else np.nan
    present = Ladder(ladder.reference, tuple(names[1:]), tuple(truth[1:]))
    deltas = {s: paired_difference(runs[:, i], runs[:, 0]) for i, s in enumerate(names) if i}
    verdicts = {s: equivalence(runs[:, i], runs[:, 0], margin, p_difference=float(p[i - 1])).verdict
                for i, s in enumerate(names) if i}
    return LadderResult(present, means, len(seeds), float(tau), dict(zip(names[1:], p.tolist())), deltas, verdicts)


def detection_line(task: str, metric: str, result: LadderResult | None, components: VarianceComponents | None) -> str:
    """One line: what this table can detect (ladder order, smallest separated rung, MDD; unit)."""
    mdd = components.mdd() if components is not None else np.nan
    mdd_text = f"MDD {mdd:.2f} points of the dataset-averaged {metric_name(metric)}" if np.isfinite(mdd) else "MDD n/a"
    if result is None:
        ladder = "no planted ladder in this grid (its resolution is known only through the MDD)"
    else:
        lad = result.ladder
        order = "yes" if np.isclose(result.tau, 1.0) else "no"
        separated = result.separated
        smallest = (f"`{separated}` (Holm p = {result.p_holm[separated]:.3g})" if separated
                    else "none (every rung within what the runs can tell)")
        ladder = (f"planted ladder `{lad.reference}` > {' > '.join(f'`{r}`' for r in lad.rungs)} recovered in the true order: "
                  f"{order} (Kendall τ {result.tau:.2f}); smallest rung separated from `{lad.reference}`: {smallest}")
    return f"**What this grid can detect** ({task}, unit: the pretraining run): {ladder}; {mdd_text}."
