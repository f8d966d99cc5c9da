"""The wheel carries the built-in task specs and their data: `evalkit run demo` works from an install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from _venvs import fresh_venv

REPO = Path(__file__).resolve().parent.parent


def test_every_package_in_the_tree_is_listed_for_the_wheel():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "evalkit").rglob("__init__.py")}
    assert found | {"evalkit.tasks"} == listed
    assert config["package-dir"] == {"evalkit.tasks": "tasks"}


def test_installed_wheel_in_a_fresh_venv_runs_the_demo(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(REPO)], check=True, capture_output=True)
    wheel = next(wheels.glob("evalkit-*.whl"))
    venv = tmp_path / "venv"
    # dependencies come from this interpreter's site-packages; evalkit itself only from the wheel
    py = fresh_venv(venv)
    alone = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a source checkout on it would win
    installed = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)],
                               capture_output=True, text=True, env=alone)
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(py), "-c", "import evalkit; print(evalkit.__file__)"], cwd=work, capture_output=True,
                           text=True, env=alone)
    assert where.returncode == 0, where.stderr
    where = where.stdout.strip()
    assert where.startswith(str(venv)), where
    tasks = subprocess.run([str(venv / "bin" / "evalkit"), "tasks"], cwd=work, capture_output=True, text=True)
    assert tasks.returncode == 0 and "math500" in tasks.stdout and "demo" in tasks.stdout
    # the suites and the CC BY-NC-SA competitions ship too, their license beside them
    assert "matharena" in tasks.stdout and "aime26" in tasks.stdout
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"evalkit/tasks/data/matharena/LICENSE.md", "evalkit/tasks/data/matharena/hmmt_feb26.jsonl",
            "evalkit/tasks/suites/aime.yaml", "evalkit/tasks/data/README.md",
            "evalkit/tasks/data/build_bundled.py"} <= names  # the script that README says rebuilds the data
    # the project's own license text, and the bundled data's sources and licenses (tasks/data/README.md)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)[-12:]
    demo = subprocess.run([str(venv / "bin" / "evalkit"), "run", "demo", "--no-progress"], cwd=work,
                          capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert demo.returncode == 0, demo.stderr
    run_dir = work / "reports" / "demo--completions"
    assert sum(1 for _ in open(run_dir / "samples.jsonl")) == 110
    assert len(json.loads((run_dir / "results.json").read_text())["results"]) == 4
    # the reflection model's weights ship too: re-analyze the demo's samples with it
    analyzed = subprocess.run([str(venv / "bin" / "evalkit"), "analyze", str(run_dir / "samples.jsonl"),
                               "--verifier", "none", "--detector", "model", "--think-open"], cwd=work,
                              capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert analyzed.returncode == 0, analyzed.stderr
    assert "110 completions" in analyzed.stdout and "markers per 1k" in analyzed.stdout


def test_the_fresh_venv_sees_the_dependencies_of_an_interpreter_that_is_itself_in_a_venv(tmp_path):
    # the user's virtualenv holds a dependency the base interpreter does not have
    outer = tmp_path / "users-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(outer)], check=True)
    outer_py = outer / "bin" / "python"
    site = subprocess.run([str(outer_py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "only_in_the_users_venv.py").write_text("VALUE = 42\n")
    # from inside that venv, build the tests' fresh environment the way the packaging test does
    build = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from _venvs import fresh_venv; "
             f"print(fresh_venv(__import__('pathlib').Path({str(tmp_path / 'fresh')!r}), with_pip=False))")
    fresh_py = subprocess.run([str(outer_py), "-c", build], check=True, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    seen = subprocess.run([fresh_py, "-c", "import only_in_the_users_venv as m; print(m.VALUE)"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert seen.returncode == 0 and seen.stdout.strip() == "42", seen.stderr


# import names whose distribution is spelled otherwise (the rest: the import name, `_` as `-`)
DISTRIBUTION_OF = {"yaml": "pyyaml", "ahocorasick": "pyahocorasick"}


def test_every_package_evalkit_imports_is_a_declared_dependency():
    import ast
    import re

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    declared = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-") for r in requirements}
    imported: dict[str, str] = {}
    for path in (REPO / "evalkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                imported.setdefault(top, str(path.relative_to(REPO)))
    # the sandbox server's own modules, imported by file name inside the sandbox
    local = {p.stem for p in (REPO / "evalkit").rglob("*.py")}
    third_party = {m: where for m, where in imported.items()
                   if m not in sys.stdlib_module_names and m != "evalkit" and m not in local}
    undeclared = {m: where for m, where in third_party.items()
                  if DISTRIBUTION_OF.get(m, m.replace("_", "-")).lower() not in declared}
    assert not undeclared, f"imported but not in pyproject.toml's dependencies or extras: {undeclared}"


def test_the_sdist_carries_what_its_tests_need(tmp_path):
    import shutil
    import tarfile

    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "reports", "build",
                                                                 "dist", ".pytest_cache", ".venv*", "test-artifacts"))
    built = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; print(b.build_sdist('dist'))"],
                           cwd=source, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    # setuptools stops building a configuration it has deprecated (the `license` table, for one)
    assert "SetuptoolsDeprecationWarning" not in built.stderr, built.stderr[-3000:]
    [sdist] = (source / "dist").glob("evalkit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    # the helpers every test file imports and the data the tests read, beside the tests themselves
    needed = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert {"tests/conftest.py", "tests/_venvs.py"} <= needed
    assert not needed - names, sorted(needed - names)[:10]
    assert {"docs/contracts.md", "scripts/test.sh"} <= names


def test_no_declared_math_verify_gives_other_verdicts():
    # math-verify 0.7 (with latex2sympy2_extended 1.10.1) reads mixed numbers and other golds otherwise:
    # 25 of tests/test_verify_math.py fail and the demo's scores drop, with every pin satisfied; 0.8 passes them
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    [pin] = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "math-verify"]
    assert not pin.specifier.contains("0.7.0") and pin.specifier.contains("0.8.0") and pin.specifier.contains("0.9.0")
