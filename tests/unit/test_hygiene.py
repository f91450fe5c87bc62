"""Project hygiene that must not regress: lint, types, and layering."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_backend_never_imports_the_ui() -> None:
    code = (
        "import sys, backend.cli.parser, backend.cli.dispatch, backend.server.server, backend.client.client, "
        "backend.ops.supervisor, "
        "backend.client.control, backend.client.status, backend.db.direct, backend.ops.demoload\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'mttui'))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_watcher_and_client_side_load_no_sqlite() -> None:
    # The monitor's watcher and the client side must not drag in the db layer.
    code = (
        "import sys, mttui.watch, backend.client.client, backend.client.launcher, "
        "backend.client.control, backend.client.status\n"
        "bad = sorted(m for m in sys.modules if m == 'sqlite3' or m.startswith(('backend.db', 'backend.server')))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.skip("import-linter not installed")
    r = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff not installed")
def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    r = subprocess.run([ruff, "check", "backend", "mttui", "bench", "tests"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_mypy_strict_is_clean_on_backend() -> None:
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]
