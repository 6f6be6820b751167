"""Fixtures for the server tests: one live server per session, a fresh key (organisation) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reperform_harness import (
    CREATE_LIMIT_PER_MIN,
    UPLOAD_LIMIT_BYTES,
    FileHost,
    LiveServer,
    child_env,
    media_dir,
)
from sync import Sync


@pytest.fixture(scope="session")
def media() -> Path:
    root = media_dir()
    if not (root / "videos" / "pcavs_00373.mp4").exists():
        pytest.fail(f"shared test media not found at {root}; set REPERFORM_SHARED_MEDIA")
    return root


@pytest.fixture(scope="session")
def file_host(media: Path) -> Iterator[FileHost]:
    host = FileHost()
    host.files.update({
        "clip.mp4": media / "videos" / "pcavs_00373.mp4",
        "voice.wav": media / "audio" / "sadtalker_RD_Radio36_000.wav",
        "voice_b.wav": media / "audio" / "echomimic_movie_0_clip_0.wav",
        "silent.mp4": media / "videos" / "liveportrait_d13.mp4",
        "face.png": media / "images" / "sadtalker_people_0.png",
        "notes.txt": b"these are not the bytes you are looking for\n" * 50,
    })
    yield host
    host.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = child_env(REPERFORM_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT_BYTES),
                    REPERFORM_RATE_LIMIT_CREATE_PER_MIN=str(CREATE_LIMIT_PER_MIN))
    srv = LiveServer(tmp_path_factory.mktemp("server"), "--allow-private-urls", "--workers", "1", env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def key(server: LiveServer) -> str:
    return server.make_key()


@pytest.fixture
def client(server: LiveServer, key: str) -> Sync:
    return Sync(base_url=server.url, api_key=key)
