"""Leaderboards from result records: layout, bold/markers, seeds, n/a, CIs, ablation, determinism."""

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from vlpbench.core.errors import VlpbenchError
from vlpbench.report.leaderboard import build_leaderboards
from vlpbench.report.records_frame import load_records
from vlpbench.report.statistics import paired_bootstrap_p

GOLDEN = Path(__file__).parent / "golden"
SEEDS = range(5)

# linear-probe fixture (strategy, dataset) → metric → five seeds. Designed outcomes:
# syn-odir AUC: wsc best, beats clip by +2 ± 0.35 every seed (†) and mae (†).
# syn-odir mAP: wsc best by 0.36 over clip, noisy differences (p = 0.14: no † on clip), † on mae.
# syn-rfmid AUC: clip 90.30 vs wsc 90.30 → both bold (tie at 2 decimals), † on mae only.
# syn-rfmid mAP: clip best, † on wsc and mae.
LP = {
    ("mae", "syn-odir"): {"auc": [70.1, 71.3, 69.8, 70.6, 70.2], "map": [40.0, 41.2, 39.5, 40.4, 40.9]},
    ("clip", "syn-odir"): {"auc": [80.0, 81.0, 82.0, 83.0, 84.0], "map": [50.0, 51.0, 52.0, 53.0, 54.0]},
    ("wsc", "syn-odir"): {"auc": [82.0, 83.5, 83.5, 85.0, 86.0], "map": [50.5, 50.8, 53.0, 53.3, 54.2]},
    ("mae", "syn-rfmid"): {"auc": [75.0, 75.5, 74.8, 75.2, 75.1], "map": [30.0, 30.5, 30.1, 30.2, 30.4]},
    ("clip", "syn-rfmid"): {"auc": [90.0, 90.4, 90.2, 90.6, 90.3], "map": [60.0, 61.0, 60.5, 60.8, 60.2]},
    ("wsc", "syn-rfmid"): {"auc": [90.1, 90.3, 90.2, 90.5, 90.4], "map": [58.0, 58.5, 58.2, 58.9, 58.1]},
}
PRETRAIN = {"mae": 40.0, "clip": 50.0, "clip-be": 60.0, "wsc-sa": 55.0, "wsc": 65.0}


def write_record(root: Path, strategy: str, task: str, dataset: str, seed: int, metrics: dict,
                 fraction: float = 1.0, status: str = "ok", **extra) -> Path:
    rec = {
        "schema_version": 1, "strategy": strategy, "task": task, "dataset": dataset, "seed": seed,
        "fraction": fraction, "status": status, "metrics": metrics, "warnings": [],
        "profile": "quick", "config_hash": "ab12cd34ef56", "checkpoint_hash": f"ck-{strategy}",
        "corpus": {"name": "syn-corpus", "size": 6000, "mle": 0.11},
        "encoders": {"image": "vit d=64 depth=2 patch=4 @32px", "text": "bert d=64 layers=2"},
        "pretrain": {"wall_time_s": PRETRAIN.get(strategy, 10.0), "peak_memory_mb": 800.0 + len(strategy)},
        "wall_time_s": 2.0, "peak_memory_mb": 700.0, "versions": {"vlpbench": "0.1.0", "torch": "2.14.1"},
        "git_commit": "abc1234", "created": f"2026-11-2{seed}T10:00:00Z", "config": {"seed": seed},
        "pretrain_seed": seed,  # as `bench run` pairs them: seed k is pretraining run k
    }
    rec.update(extra)
    path = root / strategy / task / f"{dataset}-f{fraction:g}-s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec), encoding="utf-8")
    return path


def write_lp_grid(root: Path, skip=()) -> None:
    for (strategy, dataset), metrics in LP.items():
        for seed in SEEDS:
            if (strategy, dataset, seed) not in skip:
                write_record(root, strategy, "linear-probe", dataset, seed,
                             {m: v[seed] for m, v in metrics.items()})


def table(md: str, headline: bool = False) -> dict[str, dict[str, str]]:
    """Parse the wide table of a leaderboard (the first GitHub table under "## Details", or of the
    file without one; with `headline`, the first table of the file): row label → header → cell."""
    all_lines = md.splitlines()
    details = next((i for i, ln in enumerate(all_lines) if ln == "## Details"), 0) if not headline else 0
    start = next(i for i, ln in enumerate(all_lines) if ln.startswith("|") and i > details)
    lines = []
    for ln in all_lines[start:]:
        if not ln.startswith("|"):
            break
        lines.append(ln)
    split = lambda ln: [c.strip() for c in ln.strip("|").split("|")]
    headers = split(lines[0])
    return {split(ln)[0]: dict(zip(headers, split(ln))) for ln in lines[2:]}


def test_linear_probe_matches_golden(tmp_path):
    write_lp_grid(tmp_path / "results")
    paths = build_leaderboards(tmp_path / "results", tmp_path / "lb")
    assert [p.relative_to(tmp_path / "lb").as_posix() for p in paths] == [
        "figures/cd-linear-probe.png", "figures/cd-linear-probe.svg", "figures/winrate-linear-probe.png",
        "figures/winrate-linear-probe.svg", "linear-probe-pairwise.csv", "linear-probe-statistics.csv",
        "linear-probe.csv", "linear-probe.md", "variance-components.csv"]
    assert (tmp_path / "lb" / "linear-probe.md").read_text() == (GOLDEN / "linear-probe.md").read_text()


def test_bold_and_markers(tmp_path):
    write_lp_grid(tmp_path / "results")
    build_leaderboards(tmp_path / "results", tmp_path / "lb")
    t = table((tmp_path / "lb" / "linear-probe.md").read_text())
    assert list(t) == ["mae", "clip", "wsc"]  # fixed strategy order
    assert t["wsc"]["syn-odir AUC"] == "**84.00 (1.54)**"
    assert t["clip"]["syn-odir AUC"] == "82.00 (1.58)†"
    assert t["mae"]["syn-odir AUC"].endswith("†")
    assert t["wsc"]["syn-odir mAP"].startswith("**") and t["clip"]["syn-odir mAP"] == "52.00 (1.58)"  # p = 0.14
    assert t["clip"]["syn-rfmid AUC"] == "**90.30 (0.22)**" and t["wsc"]["syn-rfmid AUC"] == "**90.30 (0.16)**"
    assert t["clip"]["syn-rfmid mAP"].startswith("**") and t["wsc"]["syn-rfmid mAP"].endswith("†")
    # Avg per seed over datasets, then mean (std) over seeds
    avg = [(LP[("wsc", "syn-odir")]["auc"][s] + LP[("wsc", "syn-rfmid")]["auc"][s]) / 2 for s in SEEDS]
    assert t["wsc"]["Avg AUC"] == f"**{np.mean(avg):.2f} ({np.std(avg, ddof=1):.2f})**"
    assert t["wsc"]["Pretrain (s)"] == "65.0" and t["wsc"]["Peak mem (MB)"] == "803"


def test_csv_has_every_number_and_scipy_pvalues(tmp_path):
    write_lp_grid(tmp_path / "results")
    build_leaderboards(tmp_path / "results", tmp_path / "lb", correction="none")
    csv = pd.read_csv(tmp_path / "lb" / "linear-probe.csv")
    assert len(csv) == 3 * 6  # strategies × (2 datasets × 2 metrics + 2 Avg)
    row = csv[(csv.strategy == "clip") & (csv.dataset == "syn-odir") & (csv.metric == "auc")].iloc[0]
    expected = stats.ttest_rel(LP[("wsc", "syn-odir")]["auc"], LP[("clip", "syn-odir")]["auc"]).pvalue
    assert row.p == pytest.approx(expected, rel=1e-8) and row.p_adj == row.p and row.significant
    assert row["mean"] == pytest.approx(82.0) and row["std"] == pytest.approx(np.std([80, 81, 82, 83, 84], ddof=1))
    best = csv[(csv.strategy == "wsc") & (csv.dataset == "syn-odir") & (csv.metric == "auc")].iloc[0]
    assert best.best and np.isnan(best.p)


def test_holm_correction_removes_a_marker(tmp_path):
    root = tmp_path / "results"
    best = [80.0, 81.0, 82.0, 83.0, 84.0]
    rows = {"wsc": best, "clip": [79.0, 81.2, 80.9, 82.3, 83.3], "unicl": [79.3, 80.4, 81.4, 82.9, 82.7]}
    raw = [stats.ttest_rel(best, rows[s]).pvalue for s in ("clip", "unicl")]
    assert 0.025 < min(raw) and max(raw) < 0.05  # significant alone, not after Holm (×2, then ×1 but monotone)
    for s, values in rows.items():
        for seed in SEEDS:
            write_record(root, s, "finetune", "syn-odir", seed, {"auc": values[seed]})
    build_leaderboards(root, tmp_path / "none", correction="none")
    build_leaderboards(root, tmp_path / "holm")  # Holm is the default
    none = table((tmp_path / "none" / "finetune.md").read_text())
    holm_ = table((tmp_path / "holm" / "finetune.md").read_text())
    assert none["clip"]["syn-odir AUC"].endswith("†") and none["unicl"]["syn-odir AUC"].endswith("†")
    assert not holm_["clip"]["syn-odir AUC"].endswith("†") and not holm_["unicl"]["syn-odir AUC"].endswith("†")
    csv = pd.read_csv(tmp_path / "holm" / "finetune.csv").set_index("strategy")
    assert csv.loc[["clip", "unicl"], "p"].tolist() == pytest.approx(raw)
    # Holm over every pair of the column's rows (the best row is chosen from the data: correcting only its
    # comparisons would not hold the family-wise rate)
    family = raw + [stats.ttest_rel(rows["clip"], rows["unicl"]).pvalue]
    assert csv.loc[["clip", "unicl"], "p_adj"].tolist() == pytest.approx(multipletests(family, method="holm")[1][:2].tolist())
    assert "Holm-corrected" in (tmp_path / "holm" / "finetune.md").read_text()
    with pytest.raises(VlpbenchError, match="correction"):
        build_leaderboards(root, tmp_path / "x", correction="bonferroni")


def test_determinism_byte_identical(tmp_path):
    write_lp_grid(tmp_path / "a")
    # the same records written in another order and another folder layout
    items = [(k, s) for k in LP for s in SEEDS]
    random.Random(3).shuffle(items)
    for (strategy, dataset), seed in items:
        rec = write_record(tmp_path / "b", strategy, "linear-probe", dataset, seed,
                           {m: v[seed] for m, v in LP[(strategy, dataset)].items()})
        rec.rename(rec.parent / f"{seed}-{dataset[::-1]}.json")
    one = build_leaderboards(tmp_path / "a", tmp_path / "out1")
    two = build_leaderboards(tmp_path / "b", tmp_path / "out2")
    for p, q in zip(one, two):
        assert p.read_bytes() == q.read_bytes()
    text = next(p for p in one if p.name == "linear-probe.md").read_text()
    assert "- date: 2026-11-24" in text  # newest record's `created`, not today


def test_missing_seed_is_flagged(tmp_path):
    write_lp_grid(tmp_path / "results", skip={("clip", "syn-odir", 4)})
    build_leaderboards(tmp_path / "results", tmp_path / "lb")
    t = table((tmp_path / "lb" / "linear-probe.md").read_text())
    assert "clip (4/5 seeds)" in t and "wsc" in t and "mae" in t
    assert t["clip (4/5 seeds)"]["syn-odir AUC"] == "81.50 (1.29)†"  # mean over the 4 seeds that exist
    csv = pd.read_csv(tmp_path / "lb" / "linear-probe.csv")
    row = csv[(csv.strategy == "clip") & (csv.dataset == "syn-odir") & (csv.metric == "auc")].iloc[0]
    assert row.n == 4  # t-test paired on the 4 common seeds
    expected = stats.ttest_rel(LP[("wsc", "syn-odir")]["auc"][:4], LP[("clip", "syn-odir")]["auc"][:4]).pvalue
    assert row.p == pytest.approx(expected)
    # Avg only over seeds that have every dataset: seeds 0-3 for clip
    avg = csv[(csv.strategy == "clip") & (csv.dataset == "Avg") & (csv.metric == "auc")].iloc[0]
    per_seed = [(LP[("clip", "syn-odir")]["auc"][s] + LP[("clip", "syn-rfmid")]["auc"][s]) / 2 for s in range(4)]
    assert avg.n == 4 and avg["mean"] == pytest.approx(np.mean(per_seed))


def zsc_records(root: Path, strategies=("clip", "wsc"), with_mae=True, n_boot=1000) -> dict:
    """ood-zsc: seed 0 only, paired bootstrap replicates (same resample indices for every strategy)."""
    rng = np.random.default_rng(0)
    noise = {d: rng.normal(0.0, 1.0, size=n_boot) for d in ("syn-fives", "syn-refuge")}
    shift = {"clip": 0.0, "clip-be": 0.8, "wsc-sa": 1.5, "wsc": 3.0}
    reps = {}
    for s in strategies:
        for d, base in (("syn-fives", 80.0), ("syn-refuge", 70.0)):
            point = {"auc": base + shift[s], "map": base - 20 + shift[s]}
            r = {"auc": point["auc"] + noise[d] + 0.1 * rng.normal(size=n_boot),
                 "map": point["map"] + noise[d] + 0.5 * rng.normal(size=n_boot)}
            reps[(s, d)] = r
            write_record(root, s, "ood-zsc", d, 0, point,
                         ci={m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in r.items()},
                         bootstrap={m: v.tolist() for m, v in r.items()})
            if with_mae:
                write_record(root, "mae", "ood-zsc", d, 0, {}, status="n/a")
    return reps


def test_ood_zsc_ci_and_na_rendering(tmp_path):
    reps = zsc_records(tmp_path / "results")
    build_leaderboards(tmp_path / "results", tmp_path / "lb")
    md = (tmp_path / "lb" / "ood-zsc.md").read_text()
    t = table(md)
    assert list(t) == ["mae", "clip", "wsc"]  # one run each: no "(k/K seeds)" flags
    assert all(t["mae"][h] == "n/a" for h in t["mae"] if h not in ("Strategy", "Pretrain (s)", "Peak mem (MB)"))
    lo, hi = np.percentile(reps[("wsc", "syn-fives")]["auc"], [2.5, 97.5])
    assert t["wsc"]["syn-fives AUC"] == f"**83.00 [{lo:.2f}, {hi:.2f}]**"
    assert t["clip"]["syn-fives AUC"].startswith("80.00 [") and t["clip"]["syn-fives AUC"].endswith("]†")
    avg = (reps[("wsc", "syn-fives")]["auc"] + reps[("wsc", "syn-refuge")]["auc"]) / 2
    lo, hi = np.percentile(avg, [2.5, 97.5])
    assert t["wsc"]["Avg AUC"] == f"**78.00 [{lo:.2f}, {hi:.2f}]**"
    assert "paired bootstrap test" in md and "(std)" not in md.split("|")[1]
    csv = pd.read_csv(tmp_path / "lb" / "ood-zsc.csv")
    row = csv[(csv.strategy == "clip") & (csv.dataset == "syn-refuge") & (csv.metric == "map")].iloc[0]
    assert row.p == pytest.approx(paired_bootstrap_p(reps[("wsc", "syn-refuge")]["map"], reps[("clip", "syn-refuge")]["map"]))
    status = pd.read_csv(tmp_path / "lb" / "ood-zsc.csv", keep_default_na=False).set_index("strategy").status
    assert set(status["mae"]) == {"n/a"} and set(status["wsc"]) == {"ok"}


def test_ablation_table(tmp_path):
    root = tmp_path / "results"
    zsc_records(root, strategies=("wsc", "clip-be", "wsc-sa", "clip"), with_mae=False)
    for s, gain in (("clip", 0.0), ("wsc-sa", 0.5), ("clip-be", 0.3), ("wsc", 1.0), ("mae", -9.0)):
        for seed in SEEDS:
            write_record(root, s, "finetune", "syn-odir", seed, {"auc": 90 + gain + 0.1 * seed, "map": 60 + gain - 0.1 * seed})
    paths = build_leaderboards(root, tmp_path / "lb")
    assert [p.name for p in paths if p.parent.name != "figures" and not p.stem.endswith(("-statistics", "-pairwise"))] == [
        "ablation.csv", "ablation.md", "finetune.csv", "finetune.md", "ood-zsc.csv", "ood-zsc.md", "variance-components.csv"]
    md = (tmp_path / "lb" / "ablation.md").read_text()
    sections = md.split("## ")[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "Fully fine-tuned classification (`finetune`)", "Prompt-based out-of-distribution zero-shot classification (`ood-zsc`)"]
    ft = table(sections[0])
    assert list(ft) == ["clip", "wsc-sa", "clip-be", "wsc"]  # mae is not part of the ablation
    assert [(ft[s]["SA"], ft[s]["BE"]) for s in ft] == [("", ""), ("✓", ""), ("", "✓"), ("✓", "✓")]
    assert ft["wsc"]["syn-odir AUC"] == "**91.20 (0.16)**"
    assert ft["clip"]["syn-odir AUC"] == "90.20 (0.16)†"  # constant difference → p = 0
    assert list(ft["wsc"]) == ["Strategy", "SA", "BE", "syn-odir AUC", "Pretrain (s)"]  # headline: the primary metric
    assert "syn-odir mAP" in sections[0].split("Every metric:")[1]  # the other metrics follow in the wide table
    zs = table(sections[1])
    assert zs["wsc"]["syn-fives AUC"].startswith("**83.00 [")
    assert set(pd.read_csv(tmp_path / "lb" / "ablation.csv").task) == {"finetune", "ood-zsc"}


def test_mflag_ablation_table_follows_table4(tmp_path):
    """M-FLAG Table 4: rows mflag-align, mflag-orth, mflag with their losses checked, on the
    linear probe and segmentation; a second family's table sits in the same file."""
    root = tmp_path / "results"
    for s, gain in (("mflag", 1.0), ("mflag-align", 0.0), ("mflag-orth", 0.5), ("clip", 0.2)):
        for seed in SEEDS:
            write_record(root, s, "linear-probe", "syn-odir", seed, {"auc": 80 + gain + 0.1 * seed})
            write_record(root, s, "seg", "syn-idrid", seed, {"dsc": 30 + gain - 0.1 * seed})
    build_leaderboards(root, tmp_path / "lb")
    md = (tmp_path / "lb" / "ablation.md").read_text()
    assert md.startswith("# Ablation of M-FLAG (M-FLAG Table 4)") and "Weighted Similarity Coupling" not in md
    sections = md.split("## ")[1:]
    assert [s.splitlines()[0].split(" (`")[1] for s in sections] == ["linear-probe`)", "seg`)"]
    probe = table(sections[0])
    assert list(probe) == ["mflag", "mflag-align", "mflag-orth"]  # clip is not part of M-FLAG's ablation
    assert [(probe[s]["align"], probe[s]["orth"]) for s in probe] == [("✓", "✓"), ("✓", ""), ("", "✓")]
    assert set(pd.read_csv(tmp_path / "lb" / "ablation.csv").ablation) == {"mflag"}


def test_no_ablation_file_without_variants(tmp_path):
    write_lp_grid(tmp_path / "results")
    zsc_records(tmp_path / "results")
    names = [p.name for p in build_leaderboards(tmp_path / "results", tmp_path / "lb")]
    assert "ablation.md" not in names


def test_fractions_become_columns(tmp_path):
    root = tmp_path / "results"
    for s, gain in (("clip", 0.0), ("wsc", 1.0)):
        for f in (0.01, 0.1, 1.0):
            for seed in SEEDS:
                write_record(root, s, "finetune", "syn-odir", seed, {"auc": 80 + 10 * f + gain + 0.1 * seed}, fraction=f)
    build_leaderboards(root, tmp_path / "lb")
    t = table((tmp_path / "lb" / "finetune.md").read_text())
    assert list(t["wsc"])[1:4] == ["syn-odir 1% AUC", "syn-odir 10% AUC", "syn-odir 100% AUC"]
    assert t["wsc"]["syn-odir 10% AUC"] == "**82.20 (0.16)**"


def test_segmentation_metric_order(tmp_path):
    for seed in SEEDS:
        m = {"dsc": 50.0 + seed, "iou": 35.0, "dsc/hemorrhage": 52.0, "iou/hemorrhage": 37.0,
             "dsc/hard_exudate": 48.0, "iou/hard_exudate": 33.0}
        write_record(tmp_path / "r", "wsc", "seg", "syn-idrid", seed, m)
    build_leaderboards(tmp_path / "r", tmp_path / "lb")
    headers = list(table((tmp_path / "lb" / "seg.md").read_text())["wsc"])
    assert headers[1:7] == ["syn-idrid DSC hard_exudate", "syn-idrid IoU hard_exudate", "syn-idrid DSC hemorrhage",
                            "syn-idrid IoU hemorrhage", "syn-idrid DSC", "syn-idrid IoU"]
    assert "Avg DSC" not in headers  # a single dataset has no average


def test_header_provenance_and_compute(tmp_path):
    write_lp_grid(tmp_path / "results")
    build_leaderboards(tmp_path / "results", tmp_path / "lb")
    head = (tmp_path / "lb" / "linear-probe.md").read_text().split("## Details\n\n")[1].split("\n\n")[0]
    assert head.splitlines() == [
        "- profile: quick",
        "- corpus: syn-corpus (6000 pairs, mLE 0.11)",
        "- encoders: image vit d=64 depth=2 patch=4 @32px; text bert d=64 layers=2",
        "- config hash: ab12cd34ef56",
        "- code: vlpbench 0.1.0, git abc1234",
        "- date: 2026-11-24",
        # 30 records × 2 s + one pretraining per checkpoint (40 + 50 + 65)
        "- compute: 215.0 s in total (155.0 s pretraining 3 checkpoint(s), 60.0 s evaluating 30 record(s))",
        "- variance covered by the tests: pretraining *and* downstream — seed k is pretraining run k with "
        "downstream draw k (5 pretraining runs per strategy)",
    ]


def test_header_states_grid_wall_time_from_the_run_log(tmp_path):
    from vlpbench.core.records import append_run_log

    write_lp_grid(tmp_path / "results")
    append_run_log(tmp_path / "results" / "quick-ab12cd34ef56", {"wall_time_s": 1500.4, "records": 20, "workers": 2, "cpus": 2})
    append_run_log(tmp_path / "results" / "quick-ab12cd34ef56", {"wall_time_s": 600.0, "records": 10, "workers": 2, "cpus": 2})
    append_run_log(tmp_path / "results" / "quick-000000000000", {"wall_time_s": 9.0, "records": 1, "workers": 1, "cpus": 2})
    build_leaderboards(tmp_path / "results", tmp_path / "lb")
    head = (tmp_path / "lb" / "linear-probe.md").read_text().split("## Details\n\n")[1].split("\n\n")[0].splitlines()
    assert head[-1].startswith("- variance covered by the tests: ")
    assert head[-2] == ("- grid wall time: 2100 s over 2 `bench run` call(s) computing 30 record(s) of every task "
                        "in the grid (workers 2 on 2 CPUs)")  # the other grid's run is not counted
    (tmp_path / "results" / "quick-ab12cd34ef56" / "runs.jsonl").write_text("{oops\n")
    with pytest.raises(VlpbenchError, match="runs.jsonl: line 1 is not JSON"):
        build_leaderboards(tmp_path / "results", tmp_path / "lb")


def test_warnings_are_listed(tmp_path):
    write_record(tmp_path / "r", "clip", "linear-probe", "syn-odir", 0, {"auc": 80.0},
                 warnings=["class 'x' absent from test split; skipped"])
    build_leaderboards(tmp_path / "r", tmp_path / "lb")
    assert "- syn-odir: class 'x' absent from test split; skipped (1 record(s))" in (tmp_path / "lb" / "linear-probe.md").read_text()


def test_bad_records_name_the_file(tmp_path):
    write_lp_grid(tmp_path / "results")
    bad = tmp_path / "results" / "broken" / "x.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.raises(VlpbenchError, match="x.json"):
        load_records(tmp_path / "results")
    bad.write_text(json.dumps({"schema_version": 1, "strategy": "clip"}))
    with pytest.raises(VlpbenchError, match="x.json: missing field 'task'"):
        load_records(tmp_path / "results")
    bad.unlink()
    write_record(tmp_path / "results" / "copy", "clip", "linear-probe", "syn-odir", 0, {"auc": 1.0}, profile="smoke")
    with pytest.raises(VlpbenchError, match="same strategy/task/dataset/fraction/seed .grids quick-ab12cd34ef56 and smoke"):
        load_records(tmp_path / "results")
    with pytest.raises(VlpbenchError, match="not found"):
        load_records(tmp_path / "nowhere")


def test_load_records_frame(tmp_path):
    write_lp_grid(tmp_path / "results")
    df = load_records(tmp_path / "results")
    assert len(df) == 30 and df.iloc[0][["strategy", "dataset", "seed"]].tolist() == ["clip", "syn-odir", 0]
    assert df.iloc[0]["metrics"] == {"auc": 80.0, "map": 50.0}
    assert df["pretrain_wall_time_s"].dtype == float


def test_leaderboards_from_2000_records(tmp_path):
    root = tmp_path / "results"
    rng = np.random.default_rng(0)
    strategies = ["mae", "clip", "deit", "medclip", "unicl", "mflag", "wsc", "wsc-sa", "clip-be", "plugin"]
    datasets = ["syn-fives", "syn-messidor", "syn-odir", "syn-refuge", "syn-rfmid"]
    n = 0
    for task, fractions in (("linear-probe", (0.01, 0.1, 1.0)), ("finetune", (0.01, 0.1, 1.0)), ("seg", (0.01, 0.1, 1.0))):
        for s in strategies:
            for d in datasets[: 3 if task == "seg" else 5]:
                for f in fractions:
                    for seed in SEEDS:
                        m = {"auc": 80 + rng.normal(), "map": 50 + rng.normal()} if task != "seg" else \
                            {f"{k}/{les}": 40 + rng.normal() for k in ("dsc", "iou") for les in ("he", "se", "ex")}
                        write_record(root, s, task, d, seed, m, fraction=f)
                        n += 1
    for s in strategies:
        for d in datasets:
            write_record(root, s, "ood-zsc", d, 0, {"auc": 70.0, "map": 40.0},
                         bootstrap={"auc": rng.normal(70, 1, 1000).tolist(), "map": rng.normal(40, 1, 1000).tolist()})
            n += 1
    assert n == 2000
    paths = build_leaderboards(root, tmp_path / "lb")
    # 4 tasks × (md, csv, statistics csv, pairwise csv) + ablation md + csv, and 2 figures × (png, svg) per task
    # with ≥ 2 ranked runs (seg's records carry only per-lesion metrics: no primary metric to rank; ood-zsc has one run),
    # and variance-components.csv
    assert len(paths) == 4 * 4 + 2 + 2 * 4 + 1


def test_every_task_file_opens_with_a_headline_of_at_most_ten_columns(tmp_path):
    """The headline: strategy, the primary metric per dataset and Avg, Δ [CI], verdict, cost; the
    wide table follows under Details, and the CSV keeps every number."""
    write_lp_grid(tmp_path / "results")
    build_leaderboards(tmp_path / "results", tmp_path / "lb")
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    first_table = next(line for line in md.splitlines() if line.startswith("|"))
    columns = [c.strip() for c in first_table.strip("|").split("|")]
    assert columns == ["Strategy", "syn-odir", "syn-rfmid", "Avg", "Δ vs clip [95 % CI]", "Verdict", "Pretrain (s)"]
    headline = table(md, headline=True)
    assert headline["wsc"]["Avg"] == table(md)["wsc"]["Avg AUC"] == "**87.15 (0.84)**"
    assert headline["wsc"]["Δ vs clip [95 % CI]"] == "+1.00 [+0.79, +1.21]" and headline["wsc"]["Verdict"] == "better"
    assert headline["clip"]["Δ vs clip [95 % CI]"] == "baseline"
    assert md.index("**What this grid can detect**") < md.index("## Details") < md.index("| Strategy   | syn-odir AUC")
    csv = pd.read_csv(tmp_path / "lb" / "linear-probe.csv")
    assert set(csv.metric) == {"auc", "map"} and len(csv) == 3 * 6  # every column of the wide table


def test_reference_rows_are_listed_and_a_zero_shot_table_states_the_text_only_diagnostic(tmp_path):
    """Every registered reference row is named in the legend; the zero-shot table (task tagged
    "zero-shot") gives each strategy's text-only diagnostic, averaged over its checkpoints, and
    an image-only reference row is n/a in it."""
    root = tmp_path / "results"
    for seed in range(3):
        for strategy, text_auc in (("clip", 60.0 + seed), ("wsc", 70.0)):
            write_record(root, strategy, "ood-zsc", "syn-odir", seed, {"auc": 60.0 + seed + len(strategy)},
                         checkpoint_hash=f"ck-{strategy}-{seed}",
                         pretrain={"wall_time_s": 5.0, "peak_memory_mb": 9.0, "text_zero_shot_auc": text_auc})
        write_record(root, "colour-only", "ood-zsc", "syn-odir", seed, {}, status="n/a")
        write_record(root, "colour-only", "linear-probe", "syn-odir", seed, {"auc": 80.0 + seed})
        write_record(root, "clip", "linear-probe", "syn-odir", seed, {"auc": 70.0 + seed})
    build_leaderboards(root, tmp_path / "lb")
    zero_shot = (tmp_path / "lb" / "ood-zsc.md").read_text()
    assert "Text tower alone" in zero_shot and "clip 61.0 (3 run(s)), wsc 70.0 (3 run(s))." in zero_shot
    assert table(zero_shot)["colour-only"]["syn-odir AUC"] == "n/a"
    probe = (tmp_path / "lb" / "linear-probe.md").read_text()
    assert "Text tower alone" not in probe
    assert "Reference rows: `colour-only` — " in probe and "`random-init` — " in probe
    rows = table(probe)
    assert list(rows)[0] == "colour-only" and "**" in rows["colour-only"]["syn-odir AUC"]  # shown, and can be best
