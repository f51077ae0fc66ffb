"""The planted ladder (strategies/clip_mismatch.py): clip with q % of its pairs mismatched, a fixed
derangement per pretraining run that the generic loop applies to the reports (and their labels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import random_corpus_arrays, smoke_context
from vlpbench.core.registry import STRATEGIES
from vlpbench.datasets.base import PretrainCorpus
from vlpbench.engine.pretraining import pretrain
from vlpbench.strategies.base import Batch
from vlpbench.strategies.clip import Clip
from vlpbench.strategies.clip_mismatch import LADDER, mismatched_pairing


@pytest.mark.parametrize("percent", LADDER)
def test_pairing_mismatches_exactly_q_percent_of_the_training_pairs(percent):
    train = np.arange(10, 410)  # 400 training pairs; indices below 10 are validation
    pairing = mismatched_pairing(train, 410, percent, seed=3)
    moved = np.flatnonzero(pairing != np.arange(410))
    assert len(moved) == round(400 * percent / 100) and set(moved) <= set(train)
    assert sorted(pairing[moved]) == sorted(moved)  # the chosen pairs swap reports among themselves
    assert (pairing[:10] == np.arange(10)).all()
    assert (mismatched_pairing(train, 410, percent, seed=3) == pairing).all()  # fixed per run
    assert (mismatched_pairing(train, 410, percent, seed=4) != pairing).any()  # another run, another derangement


def test_ladder_is_registered_planted_and_ordered():
    for percent in LADDER:
        info = STRATEGIES.info(f"clip-mismatch-{percent}")
        assert "planted" in info.tags and f"planted:clip:{percent}" in info.tags
        assert STRATEGIES.get(f"clip-mismatch-{percent}").percent == percent
    assert "planted" not in STRATEGIES.info("clip").tags


class _Recording(Clip):
    """clip whose every image is paired with report 0, recording the reports it is given."""

    registered_name = "clip"
    seen: list[torch.Tensor]

    def report_pairing(self, train_indices: np.ndarray, seed: int) -> np.ndarray:
        return np.zeros(int(train_indices.max()) + 1, dtype=int)

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.seen.append(batch.input_ids.clone())
        return super().training_step(batch)


def test_the_loop_feeds_each_image_its_paired_report():
    context = smoke_context(["pretrain.steps=2", "pretrain.batch_size=8"])
    model = _Recording(context)
    model.seen = []
    images, reports, labels = random_corpus_arrays(40, 32)
    ids, mask = context.tokenizer.encode(reports, context.config.encoders.text.max_length)
    pretrain(model, "clip", PretrainCorpus("tiny", images, reports, labels, np.arange(4)), ids, mask,
             context.config.pretrain, 32, seed=0, out_dir=None, device=torch.device("cpu"))
    assert len(model.seen) == 2
    for batch_ids in model.seen:
        assert (batch_ids == ids[0]).all()  # report 0 for every image, as the pairing says


def _ladder_grid(root, rungs=True) -> None:
    from test_leaderboard import write_record

    rng = np.random.default_rng(0)
    gain = {"random-init": -8, "clip": 0, "wsc": 0.5, "mae": -5}
    if rungs:
        gain |= {"clip-mismatch-10": -0.5, "clip-mismatch-25": -3, "clip-mismatch-50": -7}
    for k in range(5):
        for s, g in gain.items():
            run = rng.normal(0, 0.8)
            for d, offset in (("syn-a", 80), ("syn-b", 70), ("syn-c", 90)):
                write_record(root, s, "linear-probe", d, k, {"auc": offset + g + run + rng.normal(0, 0.4)})


def test_leaderboard_shows_the_ladder_apart_and_says_what_it_can_detect(tmp_path):
    import pandas as pd

    from test_leaderboard import table
    from vlpbench.report.leaderboard import build_leaderboards

    _ladder_grid(tmp_path / "r")
    build_leaderboards(tmp_path / "r", tmp_path / "lb", html=tmp_path / "site")
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    assert list(table(md)) == ["random-init", "mae", "clip", "wsc"]  # the real strategies' table
    ladder = md.split("Planted ladder (known order by construction")[1]
    assert "| clip-mismatch-50 |" in ladder and "| clip             |" in ladder
    assert ("recovered in the true order: yes (Kendall τ 1.00); smallest rung separated from `clip`: `clip-mismatch-25`"
            in md)
    pairs = pd.read_csv(tmp_path / "lb" / "linear-probe-pairwise.csv")
    assert not (pairs.a.str.startswith("clip-mismatch") | pairs.b.str.startswith("clip-mismatch")).any()  # not ranked
    assert {"clip-mismatch-10", "clip-mismatch-50"} <= set(pd.read_csv(tmp_path / "lb" / "linear-probe.csv").strategy)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "What this grid can detect" in index and "clip-mismatch-25" in index
    assert "Planted ladder" in (tmp_path / "site" / "linear-probe.html").read_text()


def test_without_a_ladder_the_table_says_so(tmp_path):
    from vlpbench.report.leaderboard import build_leaderboards

    _ladder_grid(tmp_path / "r", rungs=False)
    build_leaderboards(tmp_path / "r", tmp_path / "lb")
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    assert "no planted ladder in this grid (its resolution is known only through the MDD); MDD" in md
    assert "Planted ladder (known order" not in md
