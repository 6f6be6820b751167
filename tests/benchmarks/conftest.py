"""Make the repository's ``benchmarks`` package importable from its tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The shared real clips; tests that need them skip when the folder is absent."""
    path = Path(os.environ.get("REPERFORM_SHARED_MEDIA", REPO_ROOT.parent / "shared" / "media"))
    if not (path / "videos").is_dir():
        pytest.skip(f"shared media not found at {path}")
    return path
