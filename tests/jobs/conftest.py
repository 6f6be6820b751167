"""The job tests share the live-process harness of the server tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from reperform_harness import FileHost, media_dir  # noqa: E402  (found through the path above)


@pytest.fixture(scope="module")
def file_host(request: pytest.FixtureRequest) -> Iterator[FileHost]:
    """The test module's ``CLIP`` (a file of the shared media's videos) served over HTTP as ``clip.mp4``."""
    host = FileHost()
    host.files["clip.mp4"] = media_dir() / "videos" / request.module.CLIP
    yield host
    host.close()
