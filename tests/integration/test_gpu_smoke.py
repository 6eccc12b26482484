"""``benchmarks/gpu_smoke.py --device cpu``: the GPU smoke check's own logic, proven without a GPU.

The script runs as it will on a GPU machine -- a subprocess, real Ray, real ``ganlab prepare`` / ``ganlab train``,
two DDP processes, the real Inception extractor -- only on the CPU (gloo, no SyncBatchNorm, the "device" Inception
pass on the CPU again). It must exit 0 and write a JSON with every row of the CPU mode and sane numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.integration.commands import command_env

pytestmark = pytest.mark.slow

CPU_ROWS = ("env", "collective", "train-fp32", "train-fp16", "resume-fp16", "ddp-shared", "inception-dev",
            "inception-cpu", "fid-agreement")


def test_cpu_mode_passes_with_every_row(tmp_path: Path) -> None:
    out = tmp_path / "gpu_smoke.json"
    result = subprocess.run([sys.executable, str(PROJECT / "benchmarks" / "gpu_smoke.py"), "--device", "cpu",
                             "--out", str(out)], cwd=tmp_path, env=command_env(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"gpu_smoke failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "PASSED" in result.stdout
    report = json.loads(out.read_text())
    rows = {row["check"]: row for row in report["rows"]}
    assert tuple(rows) == CPU_ROWS, "the CPU mode has no nccl-1gpu or inception-tf32 row"
    assert report["passed"] and all(row["ok"] is not False for row in rows.values())
    for check in ("train-fp32", "train-fp16", "resume-fp16", "ddp-shared"):
        metrics = rows[check]["metrics"]
        assert metrics["steps_per_s"] > 0 and metrics["images_per_s"] > 0, check
        assert metrics["workers"] == 2, check
    plan = report["plan"]
    assert rows["train-fp16"]["metrics"]["vs_fp32"] > 0
    assert rows["resume-fp16"]["metrics"]["resumed_from"] == [plan["steps"]]
    assert rows["resume-fp16"]["metrics"]["steps"] == plan["steps"] + plan["steps"] // 2
    assert rows["ddp-shared"]["metrics"]["resumed_from"] == [plan["ddp_steps"] // 2]
    for check in ("inception-dev", "inception-cpu"):
        assert rows[check]["metrics"]["images_per_s"] > 0 and rows[check]["metrics"]["images"] == plan["n_fid"]
    agreement = rows["fid-agreement"]["metrics"]
    assert agreement["fid_cpu"] > 0 and agreement["fid_rel_diff"] <= report["fid_rtol"]
