"""Grid-wide check of `eval.test_scale`: every published checkpoint scored on the linear probe
with 4 × the test images, against the published grid's records of the same checkpoints.
Prints, per task, the tables' pooled variance components and MDD (`report/power.py`, the planted
ladder left out as the leaderboards do) both ways, over the strategies whose checkpoints are the
same in both (a strategy re-pretrained since is left out, and named).

    python scripts/compare_test_scale.py [--published leaderboards/records] [--scaled leaderboards/records-test-scale]

Records: `leaderboards/records-test-scale` (made by `bench run --strategy all --task
linear-probe,ood-zsc --seeds 5 --set eval.test_scale=4 --results results-test-scale`; the zero-shot records, 7.7 MB of per-image scores, are not shipped)."""

from __future__ import annotations

import argparse

import numpy as np

from vlpbench.report.power import task_components
from vlpbench.report.records_frame import load_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", default="leaderboards/records")
    parser.add_argument("--scaled", default="leaderboards/records-test-scale")
    args = parser.parse_args()
    published, scaled = load_records(args.published), load_records(args.scaled)
    same = set(zip(published["strategy"], published["checkpoint_hash"])) & set(zip(scaled["strategy"], scaled["checkpoint_hash"]))
    kept = {s for s, _ in same}
    left_out = sorted((set(published["strategy"]) | set(scaled["strategy"])) - kept)
    print(f"strategies compared: {len(kept)}; left out (checkpoints differ): {', '.join(left_out) or 'none'}\n")
    print("| task | test images | strategies | SD run | SD cell | MDD 5 runs | MDD 10 runs |")
    print("|---|---|---|---|---|---|---|")
    for task in sorted(set(scaled["task"])):
        for label, records in (("recipe", published), ("× 4", scaled)):
            rows = records[(records["task"] == task) & records["strategy"].isin(kept)]
            fitted = task_components(rows, without_planted=True)
            if fitted is None:
                continue
            _, c = fitted
            print(f"| {task} | {label} | {c.strategies} | {np.sqrt(c.run):.2f} | {np.sqrt(c.cell):.2f} | {c.mdd():.2f} | {c.mdd(10):.2f} |")


if __name__ == "__main__":
    main()
