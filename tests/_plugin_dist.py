"""A plugin distribution for tests: one module and its dist-info in a site folder, which a Python run
with that folder on PYTHONPATH finds through its entry points, as it would an installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def write_distribution(site: Path, module: str, code: str, dist: str, entry_points: str) -> Path:
    """`site` holding `module`.py (`code`) and the dist-info of distribution `dist` (a name such as
    `evalkit-units`) with `entry_points` (the text of entry_points.txt)."""
    (site / f"{module}.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return site


def python_with(site: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python *args` in `cwd`, offline, with `site` on PYTHONPATH."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
