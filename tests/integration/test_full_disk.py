"""A full disk under the run storage while a training checkpoints: one `ganlab: error:` line naming the folder,
the space left and the fix -- not Ray Tune's tracebacks ending in "EOFError: Ran out of input" -- and a run
finished before it is kept. The storage is a 40 KiB tmpfs mounted over `.ganlab/` in the command's own mount
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


def _train_on_a_full_storage(project: Path, size: str) -> subprocess.CompletedProcess:
    (project / ".ganlab").mkdir(exist_ok=True)
    script = (f"mount -t tmpfs -o size={size} tmpfs .ganlab && "
              "exec ganlab train --dataset ring8 --variant hinge --seed 0")
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=project, env=command_env(),
                          capture_output=True, text=True, timeout=600)


def test_a_full_run_storage_is_one_line_naming_it(prepared, in_tmp):
    require_namespaces()
    params = tiny_config(train={"steps": 200, "log_every": 20, "eval_every": 100, "checkpoint_every": 20},
                         ray={"cpus_per_worker": 1}).to_dict()
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    result = _train_on_a_full_storage(in_tmp, "40k")
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("ganlab: error:")]
    assert lines == [lines[-1]] and lines[0].startswith(f"ganlab: error: the disk holding {in_tmp / '.ganlab'} is "
                                                        "full ("), result.stderr[-3000:]
    assert "free space there" in lines[0] and result.stderr.rstrip().endswith(lines[0])
    for hidden in ("EOFError", "Saving experiment state", "Trial task failed"):
        assert hidden not in result.stderr, hidden
