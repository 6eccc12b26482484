"""What a finished training leaves in its run folder, ``runs/<dataset>/<variant>/seed<k>/`` on the driver (the train
stage's DVC outs). The trial that ran the training writes them into a folder of its own node and sends them
through the run storage (:mod:`pipeline.training.outputs`):

* ``model/state.pt`` — the full final checkpoint (resumable);
* ``model/generators.pt`` — the final and best weights of every sampler of the family (by name), with the
  family, its settings and the data spec that rebuild them (:func:`pipeline.scoring.sampling.load_sampler`);
* ``history.csv`` — per-``log_every`` metrics (``dvc plots``);
* ``train_summary.json`` — run id, steps, speed, best step, workers (``dvc metrics``);
* ``samples.png`` — a sample grid (images) or scatter (2-D points).
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.plots import sample_grid_png, scatter_png
from models.families import get_family
from pipeline.common.files import atomic_path, write_json
from pipeline.common.layout import GENERATORS, HISTORY, MODEL, SAMPLES, STATE, SUMMARY
from pipeline.data.shipping import DatasetFolders
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.sampling import Sampler, load_sampler
from pipeline.training.checkpoint import STATE_FILE
from pipeline.training.job import TrainingJob

SAMPLE_SEED = 4321
#: Samples per row of the sample grid (a class-conditional run's grid has one row per class).
GRID_COLUMNS = 8


def final_and_best(job: TrainingJob, state: dict[str, Any]) -> dict[str, dict[str, dict[str, torch.Tensor]]]:
    """The weights ``evaluate`` scores, by sampler name: ``final`` (e.g. the EMA) and ``best`` (falls back to
    final)."""
    family = get_family(job.family)
    final = {name: family.sampler_weights(state["model"], name) for name in family.sampler_names()}
    best = state["best"]["samplers"] if state["best"] is not None else copy.deepcopy(final)
    return {"final": final, "best": best}


def export_run(job: TrainingJob, state: dict[str, Any], checkpoint_dir: Path, summary: dict[str, Any],
               data: DatasetFolders, out: Path) -> dict[str, Path]:
    """Write the run folder's files into ``out`` from the final checkpoint (atomically, file by file)."""
    if (out / MODEL).exists():
        shutil.rmtree(out / MODEL)
    (out / MODEL).mkdir(parents=True)
    shutil.copy2(checkpoint_dir / STATE_FILE, out / STATE)
    samplers = final_and_best(job, state)
    family = get_family(job.family)
    generators = {"family": job.family, "variant": job.variant, "settings": dataclasses.asdict(job.settings),
                  "data": dataclasses.asdict(job.data), "final": samplers["final"], "best": samplers["best"],
                  "final_step": state["step"], "best_step": state["best"]["step"] if state["best"] else state["step"],
                  "sampler": family.sampler_kind(state["model"]), "fingerprint": job.fingerprint()}
    with atomic_path(out / GENERATORS) as tmp, open(tmp, "wb") as handle:
        torch.save(generators, handle)  # a file object: the archive inside is not named after the temporary file
    with atomic_path(out / HISTORY) as tmp:
        pd.DataFrame(state["history"]).to_csv(tmp, index=False)
    write_json(out / SUMMARY, summary)
    samples = sample_figure(job, load_sampler(generators, "final"), data, out / SAMPLES)
    return {"history": out / HISTORY, "summary": out / SUMMARY, "samples": samples}


def sample_figure(job: TrainingJob, sampler: Sampler, data: DatasetFolders, path: Path) -> Path:
    """Generated vs real points with the modes marked (2-D), a grid of one row per class for class-conditional
    generators, or a grid of 64 samples."""
    title = f"{job.dataset} · {job.variant} · seed {job.seed}"
    prepared = data.load()
    if job.data.kind == "points":
        samples = sampler.draw(2500, SAMPLE_SEED, conditions=conditions_for(sampler.family.task, prepared, 2500))
        return scatter_png(samples, prepared.train_x[:2500], np.asarray(prepared.manifest["modes"]), path, title)
    if sampler.family.task == "class-conditional":
        labels = np.repeat(np.arange(prepared.n_classes), GRID_COLUMNS)
        samples = sampler.draw(len(labels), SAMPLE_SEED, conditions={"y": labels})
        return sample_grid_png(samples, path, f"{title} · one row per class", columns=GRID_COLUMNS)
    samples = sampler.draw(64, SAMPLE_SEED, conditions=conditions_for(sampler.family.task, prepared, 64))
    return sample_grid_png(samples, path, title, columns=GRID_COLUMNS)
