"""Per-run caching inside the grouped stages: what a run's key covers, and that dvc.yaml lists the same code."""

from __future__ import annotations

import json
import shutil

import yaml

from models.family import DataSpec
from pipeline.common.imports import reachable
from pipeline.config import parse
from pipeline.scoring.evaluate import SCORING_CODE
from pipeline.training.job import resolve_job
from pipeline.common.family_code import TRAINING_CODE, code_digest
from pipeline.training.run_cache import run_key
from tests.conftest import PROJECT

MANIFEST = {"splits": {"train": {"sha256": "a" * 64}}, "classifier": {"sha256": "b" * 64}}
DATA = DataSpec("points", (2,))


def _key(raw=None, manifest=MANIFEST, code="c" * 64, variant="hinge"):
    job = resolve_job(parse(raw or {}), "ring8", variant, 0, DATA)
    return run_key(job, manifest, code)


def test_the_key_changes_with_what_shapes_a_run():
    base = _key()
    assert _key({"train": {"steps": 3000}}) != base, "the budget"
    assert _key({"train": {"lr_d": 1e-3}}) != base, "a hyperparameter"
    assert _key({"eval": {"mode_sigmas": 2.0}}) != base, "the in-training metric (best-checkpoint selection)"
    assert _key({"ray": {"cpus_per_worker": 2}}) != base, "the thread count"
    on_gpu = _key({"ray": {"use_gpu": True}})
    assert on_gpu != base, "the device: switching on GPUs trains again"
    assert _key({"ray": {"use_gpu": True, "accelerator_type": "H100"}}) not in (base, on_gpu), "the GPU model"
    assert _key(variant="lsgan") != base
    assert _key(code="d" * 64) != base, "the training code"
    assert _key(manifest={**MANIFEST, "splits": {"train": {"sha256": "e" * 64}}}) != base, "the data"


def test_the_key_changes_with_the_domain_classifier_a_run_is_scored_with():
    """The in-training metric (and so the best checkpoint) is measured in the domain classifier's feature space:
    another classifier, same data and code, is another run."""
    other_classifier = {**MANIFEST, "classifier": {"sha256": "f" * 64}}
    assert _key(manifest=other_classifier) != _key()


def test_the_key_ignores_what_cannot_change_a_run():
    base = _key()
    for raw in ({"eval": {"inception": True, "inception_samples": 3000}}, {"mlflow": {"experiment": "other"}},
                {"ray": {"address": "10.0.0.1:6379", "max_failures": 3, "resource_timeout_s": 10.0}},
                {"overrides": {"digits": {"train": {"steps": 5}}}}, {"benchmark": {"seeds": [0, 1, 2]}}):
        assert _key(raw) == base, raw


def _stage_deps(stage: str) -> set[str]:
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    return {dep for dep in stages[stage]["deps"] if not dep.startswith(("data/", "runs"))}


def test_dvc_yaml_lists_the_code_the_run_keys_hash():
    assert _stage_deps("train") == set(TRAINING_CODE)
    assert _stage_deps("evaluate") == set(SCORING_CODE)
    assert set(TRAINING_CODE) <= _stage_deps("tune")
    assert set(TRAINING_CODE) | {"pipeline/tuning"} == _stage_deps("study")
    assert len(code_digest("gan")) == 64


def test_the_report_lists_every_analysis_module_its_code_imports():
    """A change of the statistics (significance, rank tests, budget curve) or the figures re-renders the report:
    the analysis modules the reporting code imports, and those they import."""
    from tests.test_house import GRAPH, MODULES

    seen = reachable([m for m in MODULES if m.startswith("pipeline.reporting")], GRAPH.__getitem__,
                     follow=lambda module: module.startswith("analysis."))
    imported = {MODULES[m].relative_to(PROJECT).as_posix() for m in seen if m.startswith("analysis.")}
    assert imported <= _stage_deps("report"), imported - _stage_deps("report")


def test_evaluate_lists_every_measuring_module_its_code_imports_and_no_other():
    """The scoring code's ``analysis`` modules, found by walking its imports: the report's modules (plots,
    report, significance) are not among them, so a change of the report does not re-score every run."""
    from tests.test_house import GRAPH, MODULES

    listed = {MODULES[m].relative_to(PROJECT).as_posix(): m for m in MODULES}
    roots = [m for path, m in listed.items() if not m.startswith("analysis")
             and any(path == code or path.startswith(f"{code}/") for code in SCORING_CODE)]
    seen = reachable(roots, GRAPH.__getitem__)
    imported = {MODULES[m].relative_to(PROJECT).as_posix() for m in seen if m.startswith("analysis.")}
    assert imported == {code for code in SCORING_CODE if code.startswith("analysis")}


def test_dvc_yaml_lists_exactly_the_eval_keys_a_training_reads():
    from pipeline.training.job import IN_TRAINING_EVAL

    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    for stage in ("train", "tune", "study"):
        keys = {p.split(".", 1)[1] for p in stages[stage]["params"] if p.startswith("eval.")}
        assert keys == set(IN_TRAINING_EVAL), stage


def test_dvc_yaml_reruns_the_stages_that_read_a_familys_options():
    """``families.<name>`` reaches a training (train, tune, study) through the family's settings and the
    evaluation through the generator it rebuilds from them; the report reads neither."""
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    reading = {name for name, stage in stages.items() if "families" in stage.get("params", [])}
    assert reading == {"train", "evaluate", "tune", "study"}
    assert "families" in yaml.safe_load((PROJECT / "params.yaml").read_text()), "dvc wants every params key it lists"


def test_a_runs_files_come_back_from_the_storage_only_whole_and_of_the_expected_key(in_tmp):
    from pipeline.cluster.storage import open_storage
    from pipeline.common.layout import RUN_FILES, SUMMARY, run_dir
    from pipeline.training.outputs import collect
    from pipeline.training.places import RunPlaces

    job = resolve_job(parse({}), "ring8", "hinge", 0, DATA)
    storage = open_storage(str(in_tmp / "storage"))
    sent = in_tmp / "sent"
    for name in RUN_FILES:
        (sent / name).parent.mkdir(parents=True, exist_ok=True)
        (sent / name).write_text(name)
    (sent / SUMMARY).write_text(json.dumps({"run_key": "k1", "steps": 7}))
    outputs = RunPlaces(storage, job.name).outputs
    outputs.upload(sent)
    assert collect(job, "k2", storage) is None and outputs.exists(), "files of another key are left alone"
    (outputs / "samples.png").unlink()
    assert collect(job, "k1", storage) is None and not run_dir("ring8", "hinge", 0).exists(), "a partial run is not"
    outputs.upload(sent)
    assert collect(job, "k1", storage) == {"run_key": "k1", "steps": 7}
    assert all((run_dir("ring8", "hinge", 0) / name).is_file() for name in RUN_FILES)
    assert not outputs.exists(), "collected files leave the storage"


FAMILY_EDITS = """
import json, pathlib, sys
import models.losses, tests.families.toy_conditional as toy
from models.families import get_family
from pipeline.common.family_code import code_digest
get_family("extra-cgan")  # the catalogue registered the added family
digests = [{family: code_digest(family) for family in ("gan", "toy-cgan")}]
for module in (toy, models.losses):
    path = pathlib.Path(module.__file__)
    path.write_text(path.read_text() + "# changed")
    digests.append({family: code_digest(family) for family in ("gan", "toy-cgan")})
print(json.dumps(digests))
"""


def test_a_runs_code_is_what_its_family_imports_and_no_other_family(tmp_path):
    """In a copy of the packages with one family more: the added family and a change of the toy family leave a gan
    run's key as it is here; a change of models/losses.py (gan imports it, and so does the toy family) changes both."""
    import subprocess
    import sys

    import tests.families.toy_conditional  # noqa: F401  (registers toy-cgan here)

    copy = tmp_path / "copy"
    for folder in ("models", "analysis", "pipeline", "tests/families"):
        shutil.copytree(PROJECT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "tests" / "__init__.py", copy / "tests" / "__init__.py")
    toy_source = (PROJECT / "tests" / "families" / "toy_conditional.py").read_text()
    (copy / "models" / "families" / "extra.py").write_text(toy_source.replace("toy-cgan", "extra-cgan"))
    out = subprocess.run([sys.executable, "-c", FAMILY_EDITS], env={"PYTHONPATH": str(copy), "PATH": ""}, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    added, toy_changed, losses_changed = json.loads(out)
    here = {family: code_digest(family) for family in ("gan", "toy-cgan")}
    assert added == here, "a new module in models/families/ is in no other family's code"
    assert toy_changed["gan"] == here["gan"] and toy_changed["toy-cgan"] != here["toy-cgan"]
    assert losses_changed["gan"] != here["gan"] and losses_changed["toy-cgan"] != toy_changed["toy-cgan"]
    assert _key(code=toy_changed["gan"]) == _key(code=here["gan"]) != _key(code=losses_changed["gan"])


def test_a_runs_code_lists_its_family_module_and_the_model_code_of_the_training_loop():
    from pipeline.common.family_code import SHARED_CODE, run_code

    code = set(run_code("gan"))
    assert set(SHARED_CODE) <= code and "models" not in code
    assert {"models/families/gan.py", "models/losses.py", "models/step.py", "models/schedule.py",
            "models/families/__init__.py"} <= code, "the family's imports and the loop's (models.schedule)"
    assert not any(path.startswith("tests/") for path in code)
