"""Issue "Layers you can see": one home per fact — plugin options in the plugin's file, cache keys
that hash only what a result depends on, seeds derived in one module, the public face."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import vlpbench
from vlpbench.core.config import resolve_config
from vlpbench.core.registry import STRATEGIES
from vlpbench.engine.grid import Job, record_key, run_grid
from vlpbench.engine.run_cache import checkpoint_key

SRC = Path(vlpbench.__file__).parent
#: the seeding module (torch and numpy generators) and its numpy-only part for data recipes
SEEDING = (SRC / "core" / "seeding.py", SRC / "core" / "data_seeding.py")
#: calls that seed or create a random generator; only the seeding modules may make them
SEEDING_CALLS = re.compile(r"manual_seed\(|default_rng\(|torch\.Generator\(|PCG64\(|np\.random\.seed\(|random\.seed\(|fork_rng\(")


def test_only_the_seeding_module_seeds_generators():
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py")) if path not in SEEDING
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SEEDING_CALLS.search(line)
    ]
    assert offenders == []


def test_a_strategy_option_changes_only_that_strategys_checkpoint():
    base = resolve_config("smoke")
    changed = resolve_config("smoke", overrides=["strategy.mae.mask_ratio=0.5"])
    assert checkpoint_key(base, "clip", 0) == checkpoint_key(changed, "clip", 0)
    assert checkpoint_key(base, "mae", 0) != checkpoint_key(changed, "mae", 0)


def test_a_teachers_option_changes_its_students_checkpoint():
    base = resolve_config("smoke")
    # the teacher's key enters deit's through `requires`, so a change to the teacher reaches both
    changed = resolve_config("smoke", overrides=["strategy.deit.alpha=0.25"])
    assert checkpoint_key(base, "clip-resnet", 0) == checkpoint_key(changed, "clip-resnet", 0)
    assert checkpoint_key(base, "deit", 0) != checkpoint_key(changed, "deit", 0)
    assert checkpoint_key(base, "deit", 0) != checkpoint_key(base, "deit", 1)
    teacher_changed = resolve_config("smoke", overrides=["strategy.clip-resnet.output_stride=32"])
    assert checkpoint_key(base, "clip-resnet", 0) != checkpoint_key(teacher_changed, "clip-resnet", 0)
    assert checkpoint_key(base, "deit", 0) != checkpoint_key(teacher_changed, "deit", 0)
    assert checkpoint_key(base, "clip", 0) == checkpoint_key(teacher_changed, "clip", 0)


def test_a_task_option_changes_only_that_tasks_records():
    base = resolve_config("smoke")
    changed = resolve_config("smoke", overrides=["task.seg.steps=5"])
    probe = Job("linear-probe", "syn-fives", "clip", 0, 1.0, 0)
    seg = Job("seg", "syn-idrid", "clip", 0, 1.0, 0)
    assert record_key(base, probe) == record_key(changed, probe)
    assert record_key(base, seg) != record_key(changed, seg)


def test_pretraining_seed_is_separate_from_the_corpus_seed():
    base = resolve_config("smoke")
    other_run = resolve_config("smoke", overrides=["pretrain.seed=1"])
    assert other_run.corpus == base.corpus
    assert checkpoint_key(base, "clip", 0) != checkpoint_key(base, "clip", 1)


def test_changing_a_task_option_recomputes_no_other_tasks_records(tmp_path):
    where = [f"runs_dir={tmp_path / 'runs'}", f"results_dir={tmp_path / 'results'}", "eval.seeds=1"]
    first = run_grid(resolve_config("smoke", overrides=where), ["clip"], ["linear-probe"], ["syn-fives"])
    again = run_grid(resolve_config("smoke", overrides=[*where, "task.seg.steps=5", "task.finetune.epochs=3"]),
                     ["clip"], ["linear-probe"], ["syn-fives"])
    assert [r["created"] for r in again] == [r["created"] for r in first]
    assert [r["record_key"] for r in again] == [r["record_key"] for r in first]
    recomputed = run_grid(resolve_config("smoke", overrides=[*where, "task.linear-probe.c_grid=[1.0]"]),
                          ["clip"], ["linear-probe"], ["syn-fives"])
    assert recomputed[0]["record_key"] != first[0]["record_key"]
    assert recomputed[0]["config"]["task"]["linear-probe"]["c_grid"] == [1.0]


PLUGIN = '''
    """A strategy written outside vlpbench: one file with its class, Options and metadata."""
    from dataclasses import dataclass

    from vlpbench import PluginInfo, register_strategy
    from vlpbench.strategies.base import DualEncoderStrategy
    from vlpbench.strategies.losses import clip_loss


    @dataclass
    class ScaledClipOptions:
        scale: float = 1.0


    @register_strategy("scaled-clip-test", description="CLIP loss times a factor",
                       info=PluginInfo(title="Scaled CLIP", order=5, reference="test"))
    class ScaledClip(DualEncoderStrategy):
        Options = ScaledClipOptions

        def training_step(self, batch):
            image, text = self.embed(batch)
            loss = self.options.scale * clip_loss(image, text, self.logit_scale())
            return {"loss": loss}
'''


def test_a_new_strategy_with_its_own_option_is_one_file(tmp_path, monkeypatch):
    (tmp_path / "scaled_clip_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("scaled_clip_plugin")
    try:
        where = [f"runs_dir={tmp_path / 'runs'}", f"results_dir={tmp_path / 'results'}", "eval.seeds=1"]
        config = resolve_config("smoke", overrides=[*where, "strategy.scaled-clip-test.scale=2.5"])
        assert config.strategy["scaled-clip-test"].scale == 2.5
        records = run_grid(config, ["scaled-clip-test"], ["linear-probe"], ["syn-fives"])
        assert records[0]["status"] == "ok" and records[0]["config"]["strategy"]["scaled-clip-test"] == {"scale": 2.5}
        # its metadata orders it: after the reference rows (colour-only 0, random-init 1, supervised 2), before MAE (10)
        assert [e.name for e in STRATEGIES.ordered()][:5] == ["colour-only", "random-init", "supervised", "scaled-clip-test", "mae"]
    finally:
        STRATEGIES._entries.pop("scaled-clip-test", None)
        sys.modules.pop("scaled_clip_plugin", None)


def test_the_old_registry_path_still_works_with_a_deprecation_warning():
    sys.modules.pop("vlpbench.benchmark.registry", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("vlpbench.benchmark.registry")
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert old.register_strategy is vlpbench.register_strategy


def test_public_face_and_version():
    assert vlpbench.run_grid is run_grid and vlpbench.resolve_config is resolve_config
    assert callable(vlpbench.build_leaderboards) and isinstance(vlpbench.__version__, str)
    with pytest.raises(AttributeError):
        vlpbench.not_a_name  # noqa: B018
