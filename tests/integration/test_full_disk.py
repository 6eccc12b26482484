"""A full disk under the run storage while a training checkpoints, or under `runs/` when its files come back: one
`ganlab: error:` line naming the folder, the space left and the fix -- not Ray Tune's tracebacks ending in
"EOFError: Ran out of input". The full disk is a 40 KiB tmpfs mounted over the folder in the command's own mount
namespace (root and util-linux's `unshare`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config
from tests.integration.commands import command_env
from tests.integration.hidden_cluster import require_namespaces

pytestmark = pytest.mark.slow


def _train_on_a_full_disk(project: Path, folder: str, size: str) -> subprocess.CompletedProcess:
    (project / folder).mkdir(exist_ok=True)
    script = (f"mount -t tmpfs -o size={size} tmpfs {folder} && "
              "exec ganlab train --dataset ring8 --variant hinge --seed 0")
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=project, env=command_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("folder", [".ganlab", "runs"])
def test_a_full_disk_is_one_line_naming_it(prepared, in_tmp, folder):
    """`.ganlab`: the run storage fills while the training checkpoints; `runs`: the finished run's files cannot
    come back to the driver (its checkpoint stays in the storage: the next call only exports it)."""
    require_namespaces()
    params = tiny_config(train={"steps": 200, "log_every": 20, "eval_every": 100, "checkpoint_every": 20},
                         ray={"cpus_per_worker": 1}).to_dict()
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    result = _train_on_a_full_disk(in_tmp, folder, "40k")
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("ganlab: error:")]
    assert len(lines) == 1 and lines[0].startswith(f"ganlab: error: the disk holding {in_tmp / folder}"), \
        result.stderr[-3000:]
    assert "is full (" in lines[0] and "free space there" in lines[0] and result.stderr.rstrip().endswith(lines[0])
    for hidden in ("EOFError", "Saving experiment state", "Trial task failed"):
        assert hidden not in result.stderr, hidden
