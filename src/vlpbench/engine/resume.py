"""Resume state of an interrupted pretraining (a preempted, timed-out or killed job): every
`launcher.save_every` steps the loop saves model, optimizer, schedule, gradient scaler, step,
loss log and random streams, so a requeued job continues from its last saved step and ends with
the weights an uninterrupted run gets.

Tensors go to safetensors files (the optimizer's state flattened to `state.<param>.<name>`), the
rest to `state.json`, written last and atomically: it names the step whose files are complete, so
a save killed halfway leaves the previous one usable. Each data-parallel rank saves its own random
streams (`rng-<step>-rank<r>.safetensors`); rank 0 writes the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, load_model, save_file, save_model

from vlpbench.core.atomic import atomic_write, atomic_write_json
from vlpbench.core.console import print_warning
from vlpbench.core.distributed import is_distributed, is_main_process, rank, world_size

STATE = "state.json"


def save_training_state(folder: Path, step: int, model: torch.nn.Module, stepper: Any,
                        generators: dict[str, torch.Generator], extra: dict[str, Any]) -> None:
    """Save everything needed to continue after `step` completed steps (every rank calls this)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"rng-{step}-rank{rank()}.safetensors", lambda temp: save_file(_random_streams(generators), str(temp)))
    if is_distributed():
        dist.barrier()  # every rank's streams are on disk before rank 0 commits the step
    if not is_main_process():
        return
    atomic_write(folder / f"model-{step}.safetensors", lambda temp: save_model(model, str(temp)))
    tensors, structure = flatten_optimizer(stepper.optimizer.state_dict())
    atomic_write(folder / f"optimizer-{step}.safetensors", lambda temp: save_file(tensors, str(temp)))
    atomic_write_json(folder / STATE, {
        "step": step, "world_size": world_size(), "optimizer": structure, "scheduler": stepper.scheduler.state_dict(),
        "scaler": stepper.scaler.state_dict(), **extra,
    })
    for old in folder.glob("*.safetensors"):
        if f"-{step}." not in old.name and f"-{step}-" not in old.name:
            old.unlink(missing_ok=True)


def load_training_state(folder: Path | None, model: torch.nn.Module, stepper: Any,
                        generators: dict[str, torch.Generator]) -> dict[str, Any] | None:
    """Restore the last saved step into `model`, `stepper` and the random streams; returns the
    saved state (its "step" and extras), or None when there is nothing to resume from."""
    if folder is None or not (folder / STATE).exists():
        return None
    state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    step = state["step"]
    if state["world_size"] != world_size():
        print_warning(f"resume state {folder} was saved by {state['world_size']} process(es), this job has "
                      f"{world_size()}; pretraining starts over")
        return None
    load_model(model, str(folder / f"model-{step}.safetensors"), strict=True)
    tensors = load_file(str(folder / f"optimizer-{step}.safetensors"))
    stepper.optimizer.load_state_dict(unflatten_optimizer(tensors, state["optimizer"]))
    stepper.scheduler.load_state_dict(state["scheduler"])
    if state["scaler"]:
        stepper.scaler.load_state_dict(state["scaler"])
    _restore_random_streams(load_file(str(folder / f"rng-{step}-rank{rank()}.safetensors")), generators)
    return state


def flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer state_dict as (tensors for safetensors, JSON-able structure naming them)."""
    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for parameter, entries in state_dict["state"].items():
        state[str(parameter)] = {}
        for name, value in entries.items():
            if torch.is_tensor(value):
                key = f"state.{parameter}.{name}"
                tensors[key] = value.detach().cpu().contiguous()
                state[str(parameter)][name] = {"tensor": key}
            else:
                state[str(parameter)][name] = value
    return tensors, {"state": state, "param_groups": state_dict["param_groups"]}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], structure: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `flatten_optimizer`."""
    state = {
        int(parameter): {name: tensors[value["tensor"]] if isinstance(value, dict) and "tensor" in value else value
                         for name, value in entries.items()}
        for parameter, entries in structure["state"].items()
    }
    return {"state": state, "param_groups": structure["param_groups"]}


def _random_streams(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    streams = {"torch": torch.get_rng_state(), **{f"generator.{k}": g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        streams["cuda"] = torch.cuda.get_rng_state()
    return streams


def _restore_random_streams(streams: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(streams["torch"])
    for name, generator in generators.items():
        generator.set_state(streams[f"generator.{name}"])
    if "cuda" in streams and torch.cuda.is_available():
        torch.cuda.set_rng_state(streams["cuda"])
