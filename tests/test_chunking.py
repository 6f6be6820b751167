"""Chunk boundaries: an exact tiling, balanced, on cuts or in pauses when one is near."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.chunking import MIN_CHUNK_S, chunk_count, plan_chunks


@pytest.mark.parametrize("n,k", [(1, 1), (10, 3), (1000, 7), (5, 9)])
def test_chunks_tile_every_frame_once_in_order(n, k):
    chunks = plan_chunks(n, k)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a < b for a, b in chunks)
    assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:], strict=False))
    assert len(chunks) == min(k, n)


def test_without_cuts_or_pauses_chunks_are_even():
    assert plan_chunks(1000, 4) == [(0, 250), (250, 500), (500, 750), (750, 1000)]


def test_a_boundary_moves_to_a_nearby_cut_before_a_pause():
    quiet = np.zeros(1000, bool)
    quiet[520:540] = True
    chunks = plan_chunks(1000, 2, quiet=quiet, cuts=[470])
    assert chunks == [(0, 470), (470, 1000)]
    assert plan_chunks(1000, 2, quiet=quiet) == [(0, 530), (530, 1000)]  # the pause's middle


def test_a_far_cut_or_pause_does_not_unbalance_the_chunks():
    quiet = np.zeros(1000, bool)
    quiet[100:120] = True
    assert plan_chunks(1000, 2, quiet=quiet, cuts=[900]) == [(0, 500), (500, 1000)]


def test_chunk_count_follows_workers_locally_and_chunk_length_on_a_queue():
    fps = 25.0
    ten_min = int(600 * fps)
    assert chunk_count(ten_min, fps, workers=2) == 2
    assert chunk_count(ten_min, fps, workers=2, chunk_s=30) == 20
    assert chunk_count(int(5 * fps), fps, workers=8) == 1  # too short to split
    assert chunk_count(int(3 * MIN_CHUNK_S * fps), fps, workers=8) == 3
