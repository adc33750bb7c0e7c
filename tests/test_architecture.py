"""The arrows between the folders (ARCHITECTURE.md) hold, and the checker that guards them
fails when one runs back up: `lint-imports` with the contracts of pyproject.toml, run on the
real tree and on a copy of it with a planted import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "studies", "readers", "inference", "reports", "api", "demo", "analysis")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
        env={"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)}, timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    """The packages and the contracts, without weights, caches or data."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pt", "shipped"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(root: Path, module: str, source: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(textwrap.dedent(source))


def test_every_contract_is_kept_on_the_tree():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copy_without_a_plant_keeps_every_contract(tree_copy):
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "source", "contract", "chain"), [
    ("studies._planted", "from readers.models import Read\n",
     "studies imports no other app", "studies._planted -> readers.models"),
    ("inference._planted", "def f():\n    from readers import selectors\n",
     "inference never imports reading", "inference._planted -> readers.selectors"),
    ("readers._planted", "import reports.models\n",
     "readers imports studies and inference, never reports", "readers._planted -> reports.models"),
    ("analysis.roc._planted", "from django.db import models\n",
     "analysis is pure", "analysis.roc._planted -> django"),
    ("inference.engine._planted", "from inference.models import ModelVersion\n",
     "the inference engine is pure", "inference.engine._planted -> inference.models"),
    ("reports.services._planted", "from reports.tasks import build_study_report\n",
     "services never import tasks", "reports.services._planted -> reports.tasks"),
    ("analysis.metrics._planted", "from analysis.compare import comparison\n",
     "analysis sub-packages import each other one way", "- .metrics -> .compare"),
])
def test_a_planted_import_running_back_up_breaks_its_contract(tree_copy, module, source,
                                                              contract, chain):
    plant(tree_copy, module, source)
    result = lint_imports(tree_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert [line for line in broken if line.startswith(contract)], result.stdout
    assert chain in result.stdout


def test_the_pure_packages_load_without_django():
    """At run time too (a dynamic import would escape the static graph): importing every
    module of analysis and of the inference engine leaves Django and the apps unloaded."""
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import analysis, inference.engine
        for pkg in (analysis, inference.engine):
            for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                if not info.name.endswith("__main__"):
                    importlib.import_module(info.name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                        {"django", "celery", "rest_framework", "studies", "readers", "reports",
                         "api", "demo", "config"} or m in {"inference.models",
                                                          "inference.services"})
        print(loaded)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_url_configuration_loads_no_model_or_analysis_code():
    """Issue 15 R5: a new web worker answers its first request without importing torch, the
    analysis (pandas, scipy, statsmodels) or matplotlib; they load when a researcher's page or
    a worker needs them."""
    code = textwrap.dedent("""
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django
        django.setup()
        from django.urls import get_resolver
        get_resolver().url_patterns
        heavy = {"torch", "monai", "matplotlib", "pandas", "scipy", "statsmodels", "analysis"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
    """)
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "DATABASE_URL"}}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={**env, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
