"""A fresh virtual environment for tests that install evalkit from its wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def fresh_venv(path: Path, with_pip: bool = True) -> Path:
    """A new virtualenv at `path` whose dependencies are the running interpreter's own; returns its python.

    The running interpreter may itself be inside a virtualenv (where many users run the tests):
    `venv --system-site-packages` would then see the *base* interpreter's site-packages, which lack
    evalkit's dependencies. So the new environment is plain, and a .pth file puts the running
    interpreter's site-packages folders after its own (a plain path in a .pth adds the folder
    without running the .pth files inside it, so an editable evalkit there does not leak in).
    """
    subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(path)],
                   check=True, capture_output=True)
    python = path / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    outer = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    (Path(own) / "_outer_site_packages.pth").write_text("".join(p + "\n" for p in outer))
    return python
