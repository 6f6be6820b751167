"""Segments as options (one home: reperform.options) and on the CLI (``--segment``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reperform import cli
from reperform.errors import InvalidOptions
from reperform.options import GenerateOptions, ModelMode, segments_from
from reperform.protocol.errors import WireError


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
    monkeypatch.setattr(cli, "_run_generate", lambda video, audio, output, options, quiet, debug, *_:
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


def test_a_segment_flag_may_name_its_own_speaker_and_emotion(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(cli, "_run_generate", lambda video, audio, output, options, quiet, debug, *_:
                        seen.append((audio, options)))
    got = CliRunner().invoke(cli.app, ["generate", "v.mp4", "-o", "o.mp4", "--mode", "lips",
                                       "--segment", "0:2:a.wav:speaker=160,120.5@5",
                                       "--segment", "2:4:x=y/b:1.wav:1:3:speaker=AUTO:emotion=happy",
                                       "--segment", "4:5:c.wav"])
    assert got.exit_code == 0, got.output
    ((audios, options),) = seen
    a, b, c = options.segments
    assert a.overrides.active_speaker.kind == "point"
    assert (a.overrides.active_speaker.frame_number, a.overrides.active_speaker.coordinates) == (5, (160, 120.5))
    # a path holding ':' and '=' still reads as one; the crop and the settings come after it
    assert (b.audio.ref_id, b.audio.start_s, b.audio.end_s) == ("x=y/b:1.wav", 1, 3)
    assert b.overrides.active_speaker.kind == "auto" and b.overrides.emotion.value == "happy"
    assert c.overrides.active_speaker is None and options.segments_choose_speakers
    assert set(audios) == {"a.wav", "x=y/b:1.wav", "c.wav"}


@pytest.mark.parametrize("args,words", [
    (["--segment", "0:2:a.wav:speaker=left"], ["segments[0]", "speaker= must be auto or X,Y@FRAME", "'left'"]),
    (["--segment", "0:2:a.wav:speaker=1,2@x"], ["segments[0]", "speaker= must be auto or X,Y@FRAME"]),
    (["--segment", "0:2:a.wav:speaker=auto:speaker=1,2@3"], ["segments[0]", "speaker= is given twice"]),
    (["--segment", "0:1:a.wav", "--segment", "1:2:b.wav:emotion=glum"], ["segments[1]", "emotion"]),
    (["--segment", "1:x.wav"], ["segments[0]", "START:STOP:AUDIO"]),
    (["--segment", "0:1:a.wav", "--segment", "0.5:2:b.wav"], ["segments[1]", "overlaps"]),
    ([], ["AUDIO is required"]),
])
def test_bad_segment_flags_fail_in_one_line(args: list[str], words: list[str]) -> None:
    got = CliRunner().invoke(cli.app, ["generate", "v.mp4", "-o", "o.mp4", *args])
    assert got.exit_code == 2
    assert got.output.count("\n") == 1 and got.output.startswith("error [")
    for word in words:
        assert word in got.output


# --- wire ---------------------------------------------------------------------------------------

V = {"type": "video", "url": "http://example.test/v.mp4"}


def _audio(ref: str | None = None, kind: str = "audio") -> dict:
    item = ({"type": "audio", "url": f"http://example.test/{ref}.wav"} if kind == "audio" else
            {"type": "text", "provider": {"name": "x", "script": "Hello there."}})
    return {**item, "refId": ref} if ref else item


def _wire(segments: object, inputs: list[dict] | None = None, model: str = "react-1") -> object:
    from reperform.protocol.requests import parse_generate

    return parse_generate({"model": model, "input": inputs or [V, _audio("a"), _audio("b", "text")],
                           "segments": segments})


def test_the_wire_accepts_segments_with_refids_and_echoes_them_as_sent() -> None:
    from reperform.protocol.requests import request_segments, to_generate_options

    sent = [_seg(0, 1.5, "a", optionsOverride={"prompt": "happy", "temperature": 0.9}),
            {"startTime": 2, "endTime": 3, "audioInput": {"refId": "b", "startTime": 0.5, "endTime": 1.5}}]
    req = _wire(json_text(sent))  # a multipart form sends it as JSON text
    assert req.segments == sent
    segments = request_segments(req.model, req.input, req.segments, fps=25.0)
    opts = to_generate_options(req.model, req.options, text=None, segments=segments)
    assert opts.segment_options(0).emotion.value == "happy" and opts.segment_options(1).emotion is None
    assert (segments[1].audio.start_s, segments[1].audio.end_s) == (0.5, 1.5)


def json_text(value: object) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize("segments,inputs,words", [
    ([_seg(0, 2), _seg(1, 3, "b")], None, ["segments[1] (1-3 s) overlaps segments[0] (0-2 s)"]),
    ([_seg(0, 1, "c")], None, ["segments[0].audioInput.refId 'c'", "refIds: a, b"]),
    ([_seg(0, 1)], [V, _audio("a"), _audio()], ["input[2].refId is required"]),
    ([_seg(0, 1)], [V, _audio("a"), _audio("a")], ["refId 'a' is given to more than one input"]),
    ([_seg(0, 1, optionsOverride={"prompt": "ecstatic"})], None, ["segments[0].optionsOverride.prompt"]),
    ([_seg(0, 1, optionsOverride={"sync_mode": "loop"})], None, ["segments[0].optionsOverride.sync_mode",
                                                                 "cannot vary per segment"]),
    ([_seg(0, 1, optionsOverride={"model_mode": "head"}), _seg(1, 2, "b")], None, ["one request per mode"]),
    ([{"startTime": 0, "endTime": 1, "audioInput": {"refId": "a", "endTime": 1}}], None, ["pair"]),
    (None, [V, _audio("a"), _audio("b")], ["several audio or text inputs need segments"]),
])
def test_bad_segments_are_a_400_naming_the_segment(segments: object, inputs: list[dict] | None,
                                                   words: list[str]) -> None:
    with pytest.raises(WireError) as err:
        _wire(segments, inputs)
    assert err.value.http_status == 400 and err.value.code == "generation_input_validation_failed"
    for word in words:
        assert word in err.value.message


def test_lipsync_models_ignore_react_only_overrides_per_segment_too() -> None:
    from reperform.protocol.requests import request_segments

    req = _wire([_seg(0, 1, optionsOverride={"model_mode": "head", "prompt": "sad"}), _seg(1, 2, "b")],
                model="sync-3")
    (a, _) = request_segments(req.model, req.input, req.segments, fps=None)
    assert a.overrides.mode is None and a.overrides.emotion is None


def test_the_videos_deprecated_spans_become_segments_on_the_audios_timeline() -> None:
    from reperform.protocol.requests import request_segments

    secs = _wire(None, [{**V, "segments_secs": [[0.5, 1.5], [2, 3]]}, _audio()])
    got = request_segments(secs.model, secs.input, secs.segments, fps=25.0)
    assert [(s.start_s, s.end_s, s.audio.ref_id, s.audio.start_s) for s in got] == [
        (0.5, 1.5, "audio", 0.5), (2, 3, "audio", 2)]
    frames = _wire(None, [{**V, "segments_frames": [[25, 50]]}, _audio("x")])
    (seg,) = request_segments(frames.model, frames.input, frames.segments, fps=25.0)
    assert (seg.start_s, seg.end_s, seg.audio.ref_id) == (1.0, 2.0, "x")
    for bad, words in (([[1, 0.5]], "must be after"), ([[0, 1, 2]], "[start, end] pairs")):
        with pytest.raises(WireError, match=words.replace("[", r"\[")):
            _wire(None, [{**V, "segments_secs": bad}, _audio()])
    with pytest.raises(WireError, match="not both"):
        _wire([_seg(0, 1)], [{**V, "segments_secs": [[0, 1]]}, _audio("a")])


def test_the_occlusion_switch_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[GenerateOptions] = []
    monkeypatch.setattr(cli, "_run_generate", lambda video, audio, output, options, quiet, debug, *_: seen.append(options))
    for args in ([], ["--occlusion"], ["--no-occlusion"]):
        assert CliRunner().invoke(cli.app, ["generate", "v.mp4", "a.wav", "-o", "o.mp4", *args]).exit_code == 0
    assert [o.occlusion for o in seen] == [False, True, False]


# --- a speaker per segment (one request dubs a conversation) -------------------------------------

LEFT = {"frame_number": 5, "coordinates": [160, 160]}
RIGHT = {"frame_number": 60, "coordinates": [480, 160]}


def test_each_segment_may_name_its_speaker_and_the_analysis_key_holds_every_choice() -> None:
    segs = segments_from([_seg(0, 2, optionsOverride={"active_speaker": LEFT}),
                          _seg(2, 4, "b", optionsOverride={"active_speaker": {"auto_detect": True}}), _seg(4, 5, "c")])
    opts = GenerateOptions.parse(mode="lips", segments=segs)
    left, auto, plain = (opts.segment_options(i).active_speaker for i in range(3))
    assert (left.kind, left.frame_number, left.coordinates, auto.kind, plain) == ("point", 5, (160, 160), "auto", None)
    assert opts.follows_every_face and opts.segments_choose_speakers
    assert json.loads(opts.speaker_key) == {"request": None, "segments": [
        '{"frame_number":5,"coordinates":[160.0,160.0]}', '{"auto_detect":true}', None]}
    # Without overrides the key is the request's alone, as an unsegmented analysis records it.
    assert GenerateOptions.parse(segments=segments_from([_seg(0, 1)]), active_speaker="auto").speaker_key == \
        '{"auto_detect":true}'
    assert not GenerateOptions.parse(segments=segments_from([_seg(0, 1)])).follows_every_face


def test_per_segment_boxes_and_an_override_of_request_boxes_are_refused_naming_the_segment() -> None:
    with pytest.raises(InvalidOptions) as err:
        segments_from([_seg(0, 1), _seg(1, 2, optionsOverride={"active_speaker": {"bounding_boxes": [[0, 0, 9, 9]]}})])
    assert "segments[1].optionsOverride.active_speaker" in err.value.message
    assert "bounding_boxes cannot vary per segment" in err.value.message
    with pytest.raises(InvalidOptions) as err:
        GenerateOptions.parse(active_speaker={"bounding_boxes": [[0, 0, 9, 9]]},
                              segments=segments_from([_seg(0, 1), _seg(1, 2, optionsOverride={"active_speaker": LEFT})]))
    assert "segments[1] overrides active_speaker" in err.value.message


def test_the_wire_takes_active_speaker_detection_per_segment_and_names_a_bad_one() -> None:
    from reperform.protocol.requests import request_segments, to_generate_options

    req = _wire([_seg(0, 2, optionsOverride={"active_speaker_detection": LEFT}),
                 _seg(2, 4, "b", optionsOverride={"active_speaker_detection": RIGHT})])
    segments = request_segments(req.model, req.input, req.segments, fps=25.0)
    opts = to_generate_options(req.model, req.options, text=None, segments=segments)
    assert [opts.segment_options(i).active_speaker.coordinates for i in (0, 1)] == [(160, 160), (480, 160)]
    for over, words in (({"bounding_boxes": [[0, 0, 9, 9]]}, "bounding_boxes cannot vary per segment"),
                        ({"frame_number": 3}, "frame_number and coordinates go together")):
        with pytest.raises(WireError) as err:
            _wire([_seg(0, 1), _seg(1, 2, "b", optionsOverride={"active_speaker_detection": over})])
        assert err.value.http_status == 400
        assert "segments[1].optionsOverride.active_speaker_detection" in err.value.message, err.value.message
        assert words in err.value.message


def test_the_cli_names_a_segments_speaker_by_its_flag_not_the_wire_field() -> None:
    from reperform.cli import _in_segment_words

    specs = ["0:2:a.wav", "2:4:b.wav:speaker=5,5@60"]
    got = _in_segment_words(
        "segments[1].optionsOverride.active_speaker_detection.coordinates (5, 5) are on no face on frame 60", specs)
    assert got == "--segment '2:4:b.wav:speaker=5,5@60' (segments[1]): the speaker's coordinates (5, 5) are on no face on frame 60"
    assert _in_segment_words("segments[0].optionsOverride.active_speaker_detection has no face", specs) == (
        "--segment '0:2:a.wav' (segments[0]): the speaker has no face")
    assert _in_segment_words("segments[1] overlaps segments[0]", specs) == "segments[1] overlaps segments[0]"
