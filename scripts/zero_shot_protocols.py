"""What the zero-shot prompt protocol does to the published grid's resolution: every `ood-zsc`
record also scores the `template-ensemble` and `knowledge` protocols (prompt-sensitivity table);
this prints, per protocol, the table's MDD (`report/power.py`, planted ladder left out as the
leaderboards do), the planted ladder's order and smallest separated rung (`report/planted.py`, Holm
over the ladder), and `clip`'s Avg AUC. The headline stays `term` (ViLReF §IV-C inputs the medical
terms directly); this shows what the protocol choice costs in resolution.

    python scripts/zero_shot_protocols.py [--records leaderboards/records]"""

from __future__ import annotations

import argparse

from vlpbench.core.registry import STRATEGIES
from vlpbench.report.planted import find_ladder, ladder_result
from vlpbench.report.power import task_components
from vlpbench.report.records_frame import load_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="leaderboards/records")
    records = load_records(parser.parse_args().records)
    zero_shot = records[(records["task"] == "ood-zsc") & (records["status"] == "ok")]
    names = sorted(zero_shot["strategy"].unique())
    ladder = find_ladder(names, {s: STRATEGIES.info(s).tags for s in names})
    protocols = sorted({p for extra in zero_shot["extra"] for p in extra.get("protocols", {})})
    print("| protocol | clip Avg AUC | MDD 5 runs | MDD 10 runs | ladder in order (τ) | smallest rung separated (Holm p) |")
    print("|---|---|---|---|---|---|")
    for protocol in protocols:
        rows = zero_shot.assign(metrics=[extra["protocols"][protocol] for extra in zero_shot["extra"]])
        metric, components = task_components(rows, without_planted=True)
        result = ladder_result(rows, metric, ladder) if ladder else None
        clip = rows[(rows["strategy"] == "clip") & ~rows["replicate"]]
        clip_avg = clip.assign(v=[m[metric] for m in clip["metrics"]]).groupby("seed")["v"].mean().mean()
        separated = f"{result.separated} ({result.p_holm[result.separated]:.3g})" if result and result.separated else "none"
        order = f"{'yes' if result and abs(result.tau - 1) < 1e-9 else 'no'} ({result.tau:.2f})" if result else "n/a"
        print(f"| {protocol} | {clip_avg:.2f} | {components.mdd():.2f} | {components.mdd(10):.2f} | {order} | {separated} |")


if __name__ == "__main__":
    main()
