"""Latent-finding sampler, report writer, and the converter's agreement with the latent truth."""

import re
from fractions import Fraction

import numpy as np
import pytest

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS, load_knowledge_base
from vlpbench.datasets.labels.label_stats import mean_label_entropy
from vlpbench.datasets.synthetic.latent import EyeFindings
from vlpbench.datasets.synthetic.reports import STYLES, ratio_forms, write_report
from vlpbench.datasets.synthetic.sampler import findings_to_labels, sample_findings

EYES = sample_findings(np.random.default_rng(0), 2000)
TRUTH = findings_to_labels(EYES)


# --- sampler ------------------------------------------------------------------------------------

def test_sampler_is_deterministic():
    assert sample_findings(np.random.default_rng(0), 2000) == EYES
    assert sample_findings(np.random.default_rng(1), 50) != EYES[:50]
    assert sample_findings(np.random.default_rng(3), 300, target_mle=0.1) == \
        sample_findings(np.random.default_rng(3), 300, target_mle=0.1)


def test_sampler_shares_and_long_tail():
    labels = TRUTH
    assert labels.shape == (2000, 33) and labels.dtype == np.uint8
    assert labels[:, 0].mean() == pytest.approx(0.35, abs=0.04)
    assert labels[:, -1].mean() == pytest.approx(0.03, abs=0.015)
    prevalence = labels[:, 1:-1].mean(axis=0)
    assert prevalence.max() > 10 * np.sort(prevalence)[3]  # long-tailed
    ones = sample_findings(np.random.default_rng(5), 500, normal_share=1.0, others_share=0.0)
    assert all(eye.keys == ("normal",) for eye in ones)
    with pytest.raises(VlpbenchError, match="sum to at most 1"):
        sample_findings(np.random.default_rng(0), 10, normal_share=0.9, others_share=0.2)


def test_latent_values_agree_with_keys():
    order = {k: i for i, k in enumerate(CATEGORY_KEYS)}
    rare = set(load_knowledge_base("zh").rare_ids)
    for eye in EYES:
        keys = set(eye.keys)
        assert list(eye.keys) == sorted(eye.keys, key=order.get)
        assert (eye.cup_disc_ratio > 0.5) == ("large_optic_cup" in keys)
        assert (Fraction(eye.av_ratio).limit_denominator(20) < Fraction(2, 3)) == ("thin_arteries" in keys)
        assert (eye.av_ratio < 2 / 3) == ("thin_arteries" in keys)
        assert (eye.dr_stage > 0) == ("dr" in keys)
        if eye.dr_stage:
            assert ("neovascularization" in keys) or eye.dr_stage < 4
            assert ("fibrous_proliferation" in keys) or eye.dr_stage < 5
            assert ("retinal_detachment" in keys) or eye.dr_stage < 6
            assert keys & {"microaneurysm", "hemorrhage"}
        assert ("normal" in keys) == (keys == {"normal"})
        assert (eye.others_term is not None) == ("others" in keys)
        assert eye.others_term is None or eye.others_term in rare
        assert 0.0 <= eye.severity <= 1.0
    subtle_cups = {eye.cup_disc_ratio for eye in EYES}
    assert {0.5, 0.55} <= subtle_cups  # near the threshold, on either side
    assert {2 / 3, 0.6} <= {eye.av_ratio for eye in EYES}


def test_co_occurrence():
    def rate(given: str, then: str) -> float:
        rows = TRUTH[:, CATEGORY_KEYS.index(given)] == 1
        return TRUTH[rows, CATEGORY_KEYS.index(then)].mean()

    assert rate("glaucoma", "large_optic_cup") > 0.85
    assert rate("amd", "drusen") > 0.7
    assert rate("pathologic_myopia", "tessellation") > 0.8
    assert rate("rvo", "hemorrhage") == 1.0
    assert rate("arteriosclerosis", "thin_arteries") > 0.65
    assert rate("dr", "microaneurysm") > 0.7
    assert rate("normal", "hemorrhage") == 0.0


@pytest.mark.parametrize("target", [0.05, 0.1, 0.15])
def test_mle_knob_hits_target(target):
    eyes = sample_findings(np.random.default_rng(11), 2000, target_mle=target)
    assert mean_label_entropy(findings_to_labels(eyes)) == pytest.approx(target, abs=0.01)


def test_unreachable_mle_target():
    with pytest.raises(VlpbenchError, match="target mLE 0.6 is outside"):
        sample_findings(np.random.default_rng(0), 500, target_mle=0.6)


# --- report writer ------------------------------------------------------------------------------

def test_ratio_forms_are_exact():
    assert ratio_forms(2 / 3) == ["2:3", "1:1.5"]
    assert ratio_forms(0.5) == ["1:2", "0.5"]
    assert ratio_forms(0.4) == ["2:5", "1:2.5", "0.4"]
    assert ratio_forms(1 / 3) == ["1:3"]
    assert ratio_forms(0.75) == ["3:4", "0.75"]


def test_writer_is_deterministic_and_varied():
    eye = EyeFindings(("dr", "hemorrhage", "microaneurysm", "neovascularization"), dr_stage=4,
                      cup_disc_ratio=0.3, av_ratio=0.5)
    texts = {write_report(eye, np.random.default_rng(seed)) for seed in range(40)}
    assert write_report(eye, np.random.default_rng(1)) == write_report(eye, np.random.default_rng(1))
    assert len(texts) > 30
    joined = "".join(texts)
    assert "4期" in joined and "IV期" in joined.replace(" ", "") and "Ⅳ期" in joined
    normal = EyeFindings(("normal",), cup_disc_ratio=0.3, av_ratio=2 / 3)
    assert len({write_report(normal, np.random.default_rng(s)) for s in range(40)}) > 15
    with pytest.raises(VlpbenchError, match="no report style for language 'fr'"):
        write_report(eye, np.random.default_rng(0), "fr")


def test_measurements_in_reports_match_the_latent_values():
    eye = EyeFindings(("glaucoma", "large_optic_cup", "thin_arteries"), cup_disc_ratio=0.7, av_ratio=0.5)
    values = set()
    for seed in range(60):
        text = write_report(eye, np.random.default_rng(seed), "zh")
        values.update(re.findall(r"(?:杯盘比|C/D|CDR)\D{0,3}(\d\.\d+)", text))
        values.update(re.findall(r"(?:动静脉比|A:V|A/V|AVR)\D{0,3}(\d[\d.:]*)", text))
    assert values <= {"0.7", "1:2", "0.5"} and "0.7" in values and "1:2" in values


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_converter_recovers_latent_truth(lang):
    rng = np.random.default_rng(7)
    reports = [write_report(eye, rng, lang) for eye in EYES]
    labels, stats = ReportConverter(load_knowledge_base(lang)).convert_many(reports)
    exact = (labels == TRUTH).all(axis=1).mean()
    assert exact >= 0.99
    assert stats.empty_reports == 0
    style = STYLES[lang]
    expected_noise = {text.lower() for text in (*style.noise, *style.hazy)}
    assert set(stats.counter) <= expected_noise  # the knowledge base covers the writer's vocabulary
    assert 0 < stats.unmapped_phrases < 0.1 * stats.phrases
