"""Segments as options (one home: reperform.options) and on the CLI (``--segment``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reperform import cli
from reperform.errors import InvalidOptions
from reperform.options import GenerateOptions, ModelMode, segments_from


def _seg(start: float, end: float, ref: str = "a", **extra: object) -> dict:
    return {"startTime": start, "endTime": end, "audioInput": {"refId": ref}, **extra}


def test_wire_keys_validate_into_engine_fields() -> None:
    (seg,) = segments_from([_seg(1, 2.5, "x", optionsOverride={"emotion": "happy", "temperature": 0.8})])
    assert (seg.start_s, seg.end_s, seg.audio.ref_id, seg.overrides.temperature) == (1, 2.5, "x", 0.8)
    opts = GenerateOptions(mode="face", segments=(seg,))
    assert opts.segment_options(0).emotion.value == "happy" and opts.segment_options(0).segments == ()


@pytest.mark.parametrize("segments,words", [
    ([_seg(2, 1)], ["segments[0]", "must be after"]),
    ([_seg(0, 1), {"startTime": 1, "endTime": 2, "audioInput": {"refId": "a", "startTime": 1}}],
     ["segments[1].audioInput", "pair"]),
    ([_seg(0, 1), {"startTime": 1, "endTime": 2, "audioInput": {"refId": "a", "startTime": 3, "endTime": 2}}],
     ["segments[1].audioInput", "after its startTime"]),
    ([_seg(0, 1, optionsOverride={"sync_mode": "loop"})], ["segments[0].optionsOverride.sync_mode",
                                                           "cannot vary per segment"]),
    ([{"startTime": -1, "endTime": 2, "audioInput": {"refId": "a"}}], ["segments[0].startTime"]),
    ([_seg(0, 1, ref="")], ["segments[0].audioInput.refId"]),
])
def test_a_malformed_segment_is_refused_naming_it(segments: list, words: list[str]) -> None:
    with pytest.raises(InvalidOptions) as err:
        segments_from(segments)
    for word in words:
        assert word in err.value.message


@pytest.mark.parametrize("values,words", [
    ({"segments": segments_from([_seg(0, 2), _seg(1.5, 3, "b")])}, ["segments[1] (1.5-3 s) overlaps segments[0]"]),
    ({"segments": segments_from([_seg(3, 4), _seg(0, 3.5, "b")])}, ["segments[0] (3-4 s) overlaps segments[1]"]),
    ({"segments": segments_from([_seg(0, 1)]), "sync_mode": "loop"}, ["sync_mode does not apply"]),
    ({"segments": segments_from([_seg(0, 1)]), "text": "hello"}, ["text"]),
    ({"segments": segments_from([_seg(0, 1, optionsOverride={"mode": "head"}), _seg(1, 2)])},
     ["segments[0] head", "segments[1] face", "one request per mode"]),
])
def test_segments_that_do_not_fit_together_are_refused_naming_them(values: dict, words: list[str]) -> None:
    with pytest.raises(InvalidOptions) as err:
        GenerateOptions.parse(**values)
    for word in words:
        assert word in err.value.message


def test_touching_segments_and_a_common_override_mode_are_fine() -> None:
    opts = GenerateOptions.parse(segments=segments_from([_seg(0, 1, optionsOverride={"mode": "lips"}),
                                                         _seg(1, 2, optionsOverride={"mode": "lips"})]))
    assert opts.render_mode is ModelMode.lips and opts.mode is ModelMode.face


def test_the_cli_builds_segments_from_repeatable_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(cli, "_run_generate", lambda video, audio, output, options, quiet, debug:
                        seen.append((audio, options)))
    got = CliRunner().invoke(cli.app, ["generate", "v.mp4", "-o", "o.mp4", "--emotion", "sad",
                                       "--segment", "0.5:2:a.wav", "--segment", "3:4.5:dir/b.wav:1:2.5"])
    assert got.exit_code == 0, got.output
    ((audios, options),) = seen
    assert audios == {"a.wav": Path("a.wav"), "dir/b.wav": Path("dir/b.wav")}
    a, b = options.segments
    assert (a.start_s, a.end_s, a.audio.ref_id, a.audio.start_s) == (0.5, 2, "a.wav", None)
    assert (b.start_s, b.end_s, b.audio.ref_id, b.audio.start_s, b.audio.end_s) == (3, 4.5, "dir/b.wav", 1, 2.5)
    assert options.emotion.value == "sad"


@pytest.mark.parametrize("args,words", [
    (["--segment", "1:x.wav"], ["segments[0]", "START:END:AUDIO"]),
    (["--segment", "0:1:a.wav", "--segment", "0.5:2:b.wav"], ["segments[1]", "overlaps"]),
    ([], ["AUDIO is required"]),
])
def test_bad_segment_flags_fail_in_one_line(args: list[str], words: list[str]) -> None:
    got = CliRunner().invoke(cli.app, ["generate", "v.mp4", "-o", "o.mp4", *args])
    assert got.exit_code == 2
    assert got.output.count("\n") == 1 and got.output.startswith("error [")
    for word in words:
        assert word in got.output
