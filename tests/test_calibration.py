"""Calibration of the benchmark: the zero-shot scoring rule, class-0 semantics of the synthetic
sets, pretraining seeds paired by seed, the variance split and its minimum detectable
difference, the reference rows (random-init floor, supervised), the ▽ mark, the term-aware
tokenizer and content-token pooling, and the report-length shortcut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import optimize, stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.power import TTestPower

from helpers import REPORTS, random_batch, smoke_context
from vlpbench.core.config import resolve_config
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.core.seeding import seeded, strategy_init_seed
from vlpbench.datasets.base import DatasetOptions
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.synthetic.reports import write_report
from vlpbench.datasets.synthetic.sampler import sample_findings
from vlpbench.datasets.synthetic.sets import SETS, build_classification_set
from vlpbench.encoders.tokenizer import CharTokenizer
from vlpbench.encoders.towers import build_text_encoder
from vlpbench.engine.grid import Job, plan_jobs, record_key, run_grid, seed_plan
from vlpbench.engine.run_cache import Workspace, checkpoint_key
from vlpbench.report.leaderboard import build_leaderboards
from vlpbench.report.records_frame import load_records
from vlpbench.report.variance import covered_variance, downstream_cell_variance, variance_split
from vlpbench.report.variance_components import VarianceComponents
from vlpbench.strategies.base import StrategyContext
from vlpbench.tasks.prompt_texts import NEGATIONS
from vlpbench.tasks.prompts import calibrated_scores, prompt_scores

ZH = load_knowledge_base("zh")
NORMAL = ZH.term("normal")  # 正常眼底


# ------------------------------------------------------------------ a. the scoring rule


def _offset_case(n_normal: int = 100, n_abnormal: int = 100, seed: int = 0):
    """Columns [normal, finding 1, finding 2]. Healthy-looking images sit closer to *every*
    prompt (offset 0.3 vs 0.1, positive and negated alike); a finding adds 0.02 to its own
    positive cosine only."""
    rng = np.random.default_rng(seed)
    n = n_normal + n_abnormal
    findings = np.zeros((n, 2), int)
    findings[n_normal:] = rng.random((n_abnormal, 2)) < 0.5
    findings[n_normal:][findings[n_normal:].sum(1) == 0, 0] = 1  # an abnormal image has ≥ 1 finding
    labels = np.column_stack([findings.sum(1) == 0, findings]).astype(int)
    offset = np.where(labels[:, 0] == 1, 0.3, 0.1)[:, None]
    positive = offset + 0.02 * labels + rng.normal(0, 0.002, (n, 3))
    negative = offset + rng.normal(0, 0.002, (n, 3))
    return labels, positive, negative


def test_calibration_turns_below_chance_finding_auc_above_chance():
    labels, positive, negative = _offset_case()
    is_normal = [True, False, False]
    calibrated = calibrated_scores(positive, negative, is_normal)
    for c in (1, 2):
        raw = 100 * roc_auc_score(labels[:, c], positive[:, c])
        fixed = 100 * roc_auc_score(labels[:, c], calibrated[:, c])
        assert raw < 50, raw  # the per-image offset ranks the finding's positives low
        assert fixed >= 50 and fixed > 95, fixed
    assert 100 * roc_auc_score(labels[:, 0], calibrated[:, 0]) > 95


def test_calibrated_formula_on_a_hand_example():
    positive = np.array([[0.5, 0.2, 0.4], [0.1, 0.3, 0.1]])
    negative = np.array([[0.9, 0.1, 0.5], [0.0, 0.2, 0.3]])
    before = positive.copy(), negative.copy()
    scores = calibrated_scores(positive, negative, [True, False, False])
    # findings: positive − negated; normal: its cosine − the row mean of the findings' positive cosines
    expected = np.array([[0.5 - (0.2 + 0.4) / 2, 0.2 - 0.1, 0.4 - 0.5],
                         [0.1 - (0.3 + 0.1) / 2, 0.3 - 0.2, 0.1 - 0.3]])
    np.testing.assert_allclose(scores, expected, atol=1e-12)
    np.testing.assert_allclose(scores[:, 0], [0.2, -0.1], atol=1e-12)
    assert not np.allclose(scores[:, 0], positive[:, 0] - negative[:, 0])  # not the negation rule
    np.testing.assert_array_equal(positive, before[0])  # inputs untouched
    np.testing.assert_array_equal(negative, before[1])
    # the negated `normal` prompt ("no normal fundus" = abnormal) plays no part
    other = negative.copy()
    other[:, 0] = [-5.0, 7.0]
    np.testing.assert_allclose(calibrated_scores(positive, other, [True, False, False]), expected, atol=1e-12)
    # only a normal column: nothing to subtract, the raw cosine
    np.testing.assert_allclose(calibrated_scores(positive[:, :1], negative[:, :1], [True]), positive[:, :1])


class _TableModel:
    """Stands in for a strategy in `prompt_scores`: a fixed unit vector per text."""

    def __init__(self, dim: int = 16) -> None:
        self.dim, self.seen, self.vectors = dim, [], {}

    def text_embedding(self, texts: list[str]) -> torch.Tensor:
        self.seen += texts
        out = []
        for text in texts:
            if text not in self.vectors:
                g = torch.Generator().manual_seed(len(self.vectors) + 1)
                self.vectors[text] = torch.nn.functional.normalize(torch.randn(self.dim, generator=g), dim=0)
            out.append(self.vectors[text])
        return torch.stack(out)


def test_prompt_scores_use_the_reports_negation_and_the_calibrated_rule():
    model = _TableModel()
    terms = [NORMAL, ZH.term("glaucoma"), ZH.term("dr")]
    images = torch.nn.functional.normalize(torch.randn(6, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    scores = prompt_scores(model, images, terms, "zh", "term", "calibrated", multilabel=True)
    assert {NEGATIONS["zh"].format(t) for t in terms} <= set(model.seen)  # 未见{term}
    positive = (images @ torch.stack([model.vectors[t] for t in terms]).T).numpy()
    negative = (images @ torch.stack([model.vectors[NEGATIONS["zh"].format(t)] for t in terms]).T).numpy()
    np.testing.assert_allclose(scores, calibrated_scores(positive, negative, [True, False, False]), atol=1e-5)
    raw = prompt_scores(model, images, terms, "zh", "term", "cosine", multilabel=True)
    np.testing.assert_allclose(raw, positive, atol=1e-5)
    softmax = prompt_scores(model, images, terms, "zh", "term", "calibrated", multilabel=False)
    np.testing.assert_allclose(softmax.sum(1), 1.0, atol=1e-5)


# ------------------------------------------------------------------ b. class 0 = healthy eyes


@pytest.fixture(scope="module")
def eyes():
    return sample_findings(np.random.default_rng(7), 4000)


def _is_normal(eye) -> bool:
    return set(eye.keys) == {"normal"}


def test_sampler_never_mixes_normal_with_a_finding(eyes):
    assert any(_is_normal(e) for e in eyes) and any(not _is_normal(e) for e in eyes)
    assert all(_is_normal(e) for e in eyes if "normal" in e.keys)


@pytest.mark.parametrize("name, target, class0", [("syn-refuge", "glaucoma", "non-glaucoma"), ("syn-messidor", "dr", "grade0")])
def test_class_0_of_the_binary_and_grade_sets_holds_only_healthy_eyes(eyes, name, target, class0):
    spec = SETS[name]
    assert spec.classes[0].name == class0 and spec.classes[0].prompt_key == "normal"  # prompted 正常眼底
    accepted = {e: spec.accept(e) for e in eyes}
    zero = [e for e, c in accepted.items() if c == class0]
    assert zero and all(_is_normal(e) for e in zero)
    assert all(accepted[e] == class0 for e in eyes if _is_normal(e))
    # an abnormal eye without the target finding is neither class 0 nor a positive: rejected
    others = [e for e in eyes if not _is_normal(e) and target not in e.keys]
    assert len(others) > 500 and all(accepted[e] is None for e in others)
    # every eye with the target is accepted, as a positive class, and label_of agrees with the class name
    names = [c.name for c in spec.classes]
    for e in eyes:
        if target in e.keys:
            assert accepted[e] not in (None, class0)
        if accepted[e] is not None:
            assert spec.label_of(e) == names.index(accepted[e])


def test_fives_and_odir_normal_class_needs_the_normal_key(eyes):
    fives, odir = SETS["syn-fives"], SETS["syn-odir"]
    assert fives.classes[0].name == "N" and fives.classes[0].keys == ("normal",)
    for e in eyes:
        c = fives.accept(e)
        assert (c == "N") == _is_normal(e)
        if c is not None:
            assert fives.label_of(e) == [k.name for k in fives.classes].index(c)
    assert odir.classes[0].name == "N" and odir.classes[0].keys == ("normal",) and odir.multilabel
    for e in eyes:
        row = [int(any(k in e.keys for k in cls.keys)) for cls in odir.classes]
        assert row[0] == int(_is_normal(e))
        if row[0]:
            assert sum(row) == 1  # N excludes every other ODIR label


def test_small_refuge_set_builds_with_both_classes(tmp_path):
    options = DatasetOptions(image_size=16, size_scale=0.02, cache_dir=tmp_path)
    dataset = build_classification_set(SETS["syn-refuge"], options)
    assert dataset.prompts["zh"][0] == NORMAL
    for split in ("train", "val", "test"):
        labels = dataset.split(split).labels
        assert set(np.unique(labels)) == {0, 1} and (labels == 1).sum() == len(labels) // 4


# ------------------------------------------------------------------ c./f. pretraining seeds, reference rows


@pytest.fixture(scope="module")
def smoke_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibration")
    return [f"runs_dir={root / 'runs'}", f"results_dir={root / 'results'}", "eval.seeds=1"]


@pytest.fixture(scope="module")
def workspace(smoke_dirs):
    return Workspace(resolve_config("smoke", overrides=smoke_dirs))


def test_pretraining_seeds_give_different_checkpoints_on_the_same_corpus(workspace, smoke_dirs, tmp_path):
    first, second = workspace.checkpoint("clip", 0), workspace.checkpoint("clip", 1)
    assert first.directory != second.directory and first.sha256 != second.sha256
    assert (first.meta["seed"], second.meta["seed"]) == (0, 1)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    differing = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])]
    assert any(k.startswith("image_encoder.") for k in differing)
    assert any(k.startswith("text_encoder.") for k in differing)
    # the corpus is a data seed's: another pretrain.seed (and another runs folder) draws the same one
    other = Workspace(resolve_config("smoke", overrides=[f"runs_dir={tmp_path / 'runs'}", "pretrain.seed=7"]))
    assert other.corpus_summary() == workspace.corpus_summary()
    mine, theirs = workspace.corpus(), other.corpus()
    np.testing.assert_array_equal(np.asarray(mine.images), np.asarray(theirs.images))
    np.testing.assert_array_equal(np.asarray(mine.labels), np.asarray(theirs.labels))
    assert list(mine.reports) == list(theirs.reports)
    # the checkpoint of run seed k does not depend on which base seed asked for it
    assert checkpoint_key(other.config, "clip", 1) == checkpoint_key(workspace.config, "clip", 1)
    assert checkpoint_key(workspace.config, "clip", 0) != checkpoint_key(workspace.config, "clip", 1)


def test_random_init_checkpoint_is_its_initial_weights(workspace):
    checkpoint = workspace.checkpoint("random-init", 0)
    assert checkpoint.meta["pretrain"]["steps"] == 0
    assert not (checkpoint.directory / "loss.csv").exists()
    context = StrategyContext(workspace.config, workspace.tokens()[0], workspace.build_text_encoder, lambda other: None)
    with seeded(strategy_init_seed("random-init", 0)):
        fresh = STRATEGIES.get("random-init")(context)
    saved, built = checkpoint.model.state_dict(), fresh.state_dict()
    assert saved.keys() == built.keys()
    for key in saved:
        assert torch.equal(saved[key].cpu(), built[key]), key
    assert STRATEGIES.get("random-init").has_text_tower  # the floor of zero-shot too


def test_supervised_trains_the_image_encoder_and_has_no_text_tower(workspace, smoke_dirs):
    checkpoint = workspace.checkpoint("supervised", 0)
    assert checkpoint.meta["pretrain"]["steps"] > 0 and (checkpoint.directory / "loss.csv").exists()
    assert checkpoint.meta["text_zero_shot_auc"] is None
    assert not checkpoint.model.has_text_tower and checkpoint.model.text_encoder is None
    records = run_grid(resolve_config("smoke", overrides=smoke_dirs), ["supervised"], ["ood-zsc"], ["syn-refuge"])
    assert [r["status"] for r in records] == ["n/a"] and records[0]["metrics"] == {}


def test_supervised_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    context = smoke_context()
    model = STRATEGIES.get("supervised")(context)
    batch = random_batch(context, n=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = model.training_step(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


# ------------------------------------------------------------------ d. pairing by seed


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_seed_k_is_pretraining_run_k_for_every_strategy(profile):
    config = resolve_config(profile, overrides=["pretrain.seed=10"])
    seeds, replicates = config.eval.seeds, config.eval.downstream_replicates
    probe, zsc = TASKS.get("linear-probe"), TASKS.get("ood-zsc")
    assert seed_plan(config, probe) == [(k, 10 + k, False) for k in range(seeds)] + \
        [(seeds + j, 10, True) for j in range(replicates)]
    assert seed_plan(config, zsc) == [(k, 10 + k, False) for k in range(seeds)]  # one job per pretraining run
    jobs = plan_jobs(config, ["clip", "mae"], ["linear-probe", "ood-zsc"], ["syn-refuge"])
    cells = {s: sorted((j.task, j.dataset, j.seed, j.pretrain_seed, j.replicate, j.fraction) for j in jobs if j.strategy == s)
             for s in ("clip", "mae")}
    assert cells["clip"] == cells["mae"] and cells["clip"]
    assert all(not j.replicate or (j.pretrain_seed == 10 and j.seed >= seeds) for j in jobs)


def test_quick_profile_has_replicates_on_the_first_run_only():
    config = resolve_config("quick")
    assert config.eval.downstream_replicates > 0 and config.eval.pretrain_seeds == 0
    plan = seed_plan(config, TASKS.get("finetune"))
    flagged = [p for p in plan if p[2]]
    assert len(flagged) == config.eval.downstream_replicates and {p[1] for p in flagged} == {0}
    assert len({p[0] for p in plan}) == len(plan)  # every cell has its own downstream seed


def test_one_pretraining_run_behind_every_seed():
    config = resolve_config("quick", overrides=["eval.pretrain_seeds=1"])
    assert seed_plan(config, TASKS.get("linear-probe")) == [(k, 0, False) for k in range(config.eval.seeds)]  # no replicates
    assert seed_plan(config, TASKS.get("ood-zsc")) == [(0, 0, False)]
    config = resolve_config("quick", overrides=["eval.pretrain_seeds=2", "eval.downstream_replicates=0"])
    assert [p[1] for p in seed_plan(config, TASKS.get("linear-probe"))] == [k % 2 for k in range(config.eval.seeds)]
    assert seed_plan(config, TASKS.get("ood-zsc")) == [(0, 0, False), (1, 1, False)]


def test_adding_replicates_or_runs_keeps_existing_record_keys():
    base = resolve_config("quick")
    job = Job("linear-probe", "syn-refuge", "clip", 1, 1.0, pretrain_seed=1)
    more = resolve_config("quick", overrides=["eval.downstream_replicates=4", "eval.seeds=7"])
    assert record_key(base, job) == record_key(more, job)
    # a replicate and a main cell with the same seed and run are different records
    assert record_key(base, job) != record_key(base, Job("linear-probe", "syn-refuge", "clip", 1, 1.0, 1, replicate=True))
    assert record_key(base, job) != record_key(base, Job("linear-probe", "syn-refuge", "clip", 1, 1.0, pretrain_seed=0))


# ------------------------------------------------------------------ e. variance split and MDD


def test_minimum_detectable_difference_matches_the_noncentral_t():
    def power(effect: float, n: int) -> float:
        df, nc = n - 1, effect * np.sqrt(n)
        critical = stats.t.ppf(0.975, df)
        return 1 - stats.nct.cdf(critical, df, nc) + stats.nct.cdf(-critical, df, nc)

    def mdd(sd_difference: float, n: int) -> float:  # run = sd²/2 on one dataset: a paired difference of SD `sd_difference`
        return VarianceComponents(run=sd_difference**2 / 2, cell=0.0, interaction=0.0, downstream=np.nan, datasets=1, runs=n,
                                  strategies=2).mdd()

    effect5 = optimize.brentq(lambda d: power(d, 5) - 0.8, 0.1, 5.0)
    assert 1.6 < effect5 < 1.75
    assert mdd(1.0, 5) == pytest.approx(effect5, rel=1e-4)
    expected = TTestPower().solve_power(effect_size=None, nobs=10, alpha=0.05, power=0.8, alternative="two-sided")
    assert mdd(1.0, 10) == pytest.approx(expected, rel=1e-6)
    assert mdd(2.5, 5) == pytest.approx(2.5 * mdd(1.0, 5))
    assert mdd(1.0, 20) < mdd(1.0, 10) < effect5
    assert np.isnan(mdd(1.0, 1))
    # the run-level difference averages the private part over the datasets: 2·(σ²_run + σ²_cell / D)
    c = VarianceComponents(run=1.0, cell=4.0, interaction=9.0, downstream=np.nan, datasets=4, runs=5, strategies=3)
    assert c.sd_difference == pytest.approx(2.0) and c.mdd() == pytest.approx(2.0 * effect5, rel=1e-4)


def _row(strategy, seed, pretrain_seed, dataset, value, fraction=1.0, status="ok", bootstrap=None):
    return {"strategy": strategy, "seed": seed, "pretrain_seed": pretrain_seed, "dataset": dataset, "fraction": fraction,
            "status": status, "metrics": {"auc": value} if status == "ok" else {}, "bootstrap": bootstrap or {}}


def test_variance_split_on_known_draws():
    # strategy a: dataset-averaged AUC over runs 70 74 72 76 68 (variance 10); downstream draws on
    # run 0: 70 (seed 0) and the replicates 71, 69 (variance 1) → pretraining share 0.9
    total = [70.0, 74.0, 72.0, 76.0, 68.0]
    rows = [_row("a", k, k, d, v + shift) for k, v in enumerate(total) for d, shift in (("d1", 1.0), ("d2", -1.0))]
    rows += [_row("a", 0, 0, "d1", 5.0, fraction=0.1), _row("a", 1, 1, "d3", 0.0, status="n/a")]  # ignored
    # strategy b: no replicates; bootstrap replicates of variance 20/3 on every run, total variance 9
    boot = {"auc": [70.0, 72.0, 74.0, 76.0]}
    rows += [_row("b", k, k, d, v, bootstrap=boot) for k, v in enumerate([60.0, 66.0, 60.0, 66.0, 63.0]) for d in ("d1", "d2")]
    main = pd.DataFrame(rows)
    replicates = pd.DataFrame([_row("a", 5 + j, 0, d, v + shift) for j, v in enumerate([71.0, 69.0])
                               for d, shift in (("d1", 0.5), ("d2", -0.5))])
    split = variance_split(main, replicates, "auc").set_index("strategy")
    assert split.loc["a", "seeds"] == 5 and split.loc["a", "sd_total"] == pytest.approx(np.sqrt(10))
    assert split.loc["a", "sd_downstream"] == pytest.approx(1.0)
    assert split.loc["a", "pretraining_share"] == pytest.approx(0.9)
    assert split.loc["a", "downstream_source"].startswith("3 downstream draws")
    assert split.loc["b", "sd_total"] == pytest.approx(3.0)
    assert split.loc["b", "sd_downstream"] == pytest.approx(np.sqrt(20 / 3))
    assert split.loc["b", "pretraining_share"] == pytest.approx((9 - 20 / 3) / 9)
    assert split.loc["b", "downstream_source"] == "bootstrap over the test set"
    # a downstream variance above the total floors the pretraining share at 0
    noisy = pd.DataFrame([_row("a", 5, 0, d, 90.0) for d in ("d1", "d2")])
    assert variance_split(main[main.strategy == "a"], noisy, "auc").iloc[0]["pretraining_share"] == 0.0
    # σ²_down of a cell: run 0's record with the replicate draws on it, per (strategy, dataset), pooled
    cells = [np.var([71.0, 71.5, 69.5], ddof=1), np.var([69.0, 70.5, 68.5], ddof=1)]
    assert downstream_cell_variance(main[main.strategy == "a"], replicates, "auc") == pytest.approx(np.mean(cells))
    assert downstream_cell_variance(main[main.strategy == "b"], pd.DataFrame(), "auc") == pytest.approx(20 / 3)  # bootstrap
    assert np.isnan(downstream_cell_variance(main[main.strategy == "a"], pd.DataFrame(), "auc"))


def test_covered_variance_names_what_the_seeds_vary():
    both = pd.DataFrame([_row(s, k, k, "d", 1.0) for s in ("a", "b") for k in range(5)])
    assert "pretraining *and* downstream" in covered_variance(both) and "(5 pretraining runs per strategy)" in covered_variance(both)
    unknown = both.assign(pretrain_seed=None)
    assert "unknown" in covered_variance(unknown)
    one_run = pd.DataFrame([_row(s, k, 0, "d", 1.0) for s in ("a", "b") for k in range(5)])
    assert "downstream only" in covered_variance(one_run)


# ------------------------------------------------------------------ g. leaderboard: ▽ and prompt sensitivity


def _record(root: Path, strategy: str, task: str, dataset: str, seed: int, metrics: dict, **extra) -> None:
    record = {"schema_version": 1, "strategy": strategy, "task": task, "dataset": dataset, "seed": seed,
              "fraction": 1.0, "status": "ok", "metrics": metrics, "pretrain_seed": seed, "replicate": False,
              "profile": "quick", "config_hash": "ab12cd34ef56", "checkpoint_hash": f"ck-{strategy}-{seed}",
              "created": "2026-11-20T10:00:00Z", **extra}
    path = root / strategy / task / f"{dataset}-s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")


def _first_table(markdown: str) -> dict[str, dict[str, str]]:
    lines = markdown.splitlines()
    details = next((i for i, line in enumerate(lines) if line == "## Details"), 0)  # the wide table, not the headline
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and i > details)
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    split = lambda line: [c.strip() for c in line.strip("|").split("|")]
    headers = split(block[0])
    return {split(line)[0]: dict(zip(headers, split(line))) for line in block[2:]}


def test_rows_below_random_init_are_marked(tmp_path):
    root = tmp_path / "results"
    auc = {"random-init": 70.0, "supervised": 65.0, "clip": 66.0, "wsc": 80.0}
    map_ = {"random-init": 40.0, "supervised": 45.0, "clip": 50.0, "wsc": 55.0}
    for strategy in auc:
        for seed in range(5):
            _record(root, strategy, "linear-probe", "syn-odir", seed,
                    {"auc": auc[strategy] + 0.1 * seed, "map": map_[strategy] + 0.2 * seed})
    for j, seed in enumerate((5, 6)):  # downstream replicates of run 0: not table cells
        _record(root, "clip", "linear-probe", "syn-odir", seed, {"auc": 99.0, "map": 99.0}, pretrain_seed=0, replicate=True)
    build_leaderboards(root, tmp_path / "lb")
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    t = _first_table(md)
    assert t["clip"]["syn-odir AUC"] == "66.20 (0.16)▽†"  # below the floor (70.2), replicates left out
    assert "▽" not in t["wsc"]["syn-odir AUC"] and "▽" not in t["random-init"]["syn-odir AUC"]
    assert "▽" not in t["supervised"]["syn-odir AUC"]  # a reference row is not flagged
    assert "▽" not in t["clip"]["syn-odir mAP"]  # above the floor in that column
    assert "- variance covered by the tests: pretraining *and* downstream" in md
    assert "▽: below the `random-init` reference row" in md
    assert "Variance of the dataset-averaged AUC" in md and "Variance components of AUC" in md
    csv = pd.read_csv(tmp_path / "lb" / "linear-probe.csv")
    row = csv[(csv.strategy == "clip") & (csv.dataset == "syn-odir") & (csv.metric == "auc")].iloc[0]
    assert row.below_floor and row.n == 5
    assert len(load_records(root)) == 4 * 5 + 2


def test_prompt_sensitivity_from_the_records_protocols(tmp_path):
    root = tmp_path / "results"
    aucs = {"clip": {"term": 60.0, "template-ensemble": 62.0, "knowledge": 65.0},
            "wsc": {"term": 70.0, "template-ensemble": 69.0, "knowledge": 71.0}}
    for strategy, protocols in aucs.items():
        for seed in range(2):
            for dataset in ("syn-fives", "syn-refuge"):
                shift = seed + (1.0 if dataset == "syn-fives" else -1.0)
                extra = {"protocols": {p: {"auc": v + shift, "map": 10.0} for p, v in protocols.items()}, "protocol": "term"}
                _record(root, strategy, "ood-zsc", dataset, seed, {"auc": protocols["term"] + shift}, extra=extra)
    names = [p.name for p in build_leaderboards(root, tmp_path / "lb")]
    assert "prompt-sensitivity.md" in names and "prompt-sensitivity.csv" in names
    t = _first_table((tmp_path / "lb" / "prompt-sensitivity.md").read_text())
    # mean over datasets then runs: the protocol's value + 0.5 (seeds 0, 1)
    assert t["clip"]["term"] == "60.50" and t["clip"]["knowledge"] == "65.50" and t["clip"]["spread"] == "5.00"
    assert t["wsc"]["template-ensemble"] == "69.50" and t["wsc"]["spread"] == "2.00"
    no_protocols = tmp_path / "plain"
    _record(no_protocols, "clip", "ood-zsc", "syn-fives", 0, {"auc": 60.0})
    assert "prompt-sensitivity.md" not in [p.name for p in build_leaderboards(no_protocols, tmp_path / "lb2")]


# ------------------------------------------------------------------ h. tokenizer and pooling


def test_knowledge_base_terms_are_single_tokens_and_survive_save_load(tmp_path):
    tokenizer = CharTokenizer.build(REPORTS, terms=ZH.surface_forms())
    ids, mask = tokenizer.encode(["青光眼"], 8)
    assert mask[0].sum() == 3 and tokenizer.vocab[int(ids[0, 1])] == "青光眼"
    assert int(ids[0, 0]) == tokenizer.cls_id and int(ids[0, 2]) == tokenizer.sep_id
    chars = CharTokenizer.build(REPORTS)
    assert chars.encode(["青光眼"], 8)[1][0].sum() == 5  # without terms: one token per character
    tokenizer.save(tmp_path)
    loaded = CharTokenizer.load(tmp_path)
    text = ["视盘杯盘比0.7，疑似青光眼，眼底可见出血"]
    assert torch.equal(loaded.encode(text, 32)[0], tokenizer.encode(text, 32)[0])
    assert loaded.vocab[int(loaded.encode(["青光眼"], 8)[0][0, 1])] == "青光眼"


def test_mean_pooling_covers_content_tokens_only():
    config = resolve_config("smoke")
    tokenizer = CharTokenizer.build(REPORTS)
    torch.manual_seed(0)
    encoder = build_text_encoder(config.encoders, tokenizer).eval()
    assert config.encoders.text.pooling == "mean"
    with torch.no_grad():
        short = encoder.forward_features(*tokenizer.encode(["出血"], 8))
        long = encoder.forward_features(*tokenizer.encode(["出血"], 16))
        torch.testing.assert_close(short, long, atol=1e-5, rtol=0)
        ids, mask = tokenizer.encode(["出血", "黄斑区玻璃膜疣"], 12)
        hidden = encoder.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = encoder.forward_features(ids, mask)
        # [CLS] at 0, content at 1..n, [SEP] at n + 1
        expected = torch.stack([hidden[0, 1:3].mean(0), hidden[1, 1:8].mean(0)])
        torch.testing.assert_close(pooled, expected, atol=1e-5, rtol=0)
        assert not torch.allclose(pooled[0], hidden[0, :4].mean(0), atol=1e-4)  # not including [CLS]/[SEP]


# ------------------------------------------------------------------ i. report length shortcut


def test_report_length_does_not_predict_normal():
    rng = np.random.default_rng(3)
    findings = sample_findings(rng, 2000)
    lengths = np.array([len(write_report(eye, rng)) for eye in findings])
    normal = np.array([_is_normal(eye) for eye in findings])
    assert 300 < normal.sum() < 1700
    auc = roc_auc_score(normal, lengths)
    assert 0.35 <= auc <= 0.7, auc  # before the fix: 0.16 (short reports were the normal ones)


def test_test_scale_grows_only_the_test_split(tmp_path):
    """eval.test_scale draws more test images and leaves train and val image for image as they were."""
    base = build_classification_set(SETS["syn-fives"], DatasetOptions(image_size=16, size_scale=0.04, cache_dir=tmp_path / "a"))
    grown = build_classification_set(SETS["syn-fives"], DatasetOptions(image_size=16, size_scale=0.04, test_scale=3,
                                                                      cache_dir=tmp_path / "b"))
    for split in ("train", "val"):
        assert np.array_equal(np.asarray(base.split(split).images[:]), np.asarray(grown.split(split).images[:]))
    assert len(grown.split("test").labels) == 3 * len(base.split("test").labels)
