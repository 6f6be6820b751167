"""Every surface of the generation options agrees with GenerateOptions, where they are written once
(issue 16, item 3): the CLI's flags, the wire's ``options`` object and its validation, and the
OpenAPI document the Studio builds its form from (the Studio's side is checked in a real browser,
``tests/browser/test_studio.py``)."""

from __future__ import annotations

import os
import typing
from enum import Enum
from typing import Any

import pytest
import typer
from annotated_types import Ge, Le
from pydantic.fields import FieldInfo
from typer.testing import CliRunner

from reperform import cli
from reperform.errors import InvalidOptions
from reperform.options import CLI_NAMES, PLAIN_FIELDS, TEXT_FORMS, ActiveSpeaker, GenerateOptions
from reperform.protocol.catalog import MODELS
from reperform.protocol.errors import WireError
from reperform.protocol.requests import WIRE_OPTIONS, parse_generate, to_generate_options
from reperform.server.app import create_app
from reperform.settings import Settings

#: The options shown as one flag / one wire key each; ``segments`` has surfaces of its own
#: (``--segment``, the wire's top-level ``segments``), tested in tests/test_segments_surfaces.py.
FIELDS = {name: GenerateOptions.model_fields[name] for name in PLAIN_FIELDS}
#: The engine options the wire carries in ``options``. ``text`` is not among them: on the wire a
#: transcript only exists as a text input's script (spoken, then used as the transcript).
WIRE_CARRIED = set(FIELDS) - {"text"}
#: Options that are a choice or a number (the structured ones have their own tests below).
SCALAR = WIRE_CARRIED - set(TEXT_FORMS)
INPUT = [{"type": "video", "url": "http://example.test/v.mp4"}, {"type": "audio", "url": "http://example.test/a.wav"}]


def _enum(field: FieldInfo) -> type[Enum] | None:
    for arg in (field.annotation, *typing.get_args(field.annotation)):
        if isinstance(arg, type) and issubclass(arg, Enum):
            return arg
    return None


def _choices(field: FieldInfo) -> list[str] | None:
    enum = _enum(field)
    return [m.value for m in enum] if enum is not None else None


def _default(field: FieldInfo) -> Any:
    value = field.get_default()
    return value.value if isinstance(value, Enum) else value


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    return low, high


def _wire_name(name: str) -> str:
    return next(wire for wire, engine in WIRE_OPTIONS.items() if engine == name)


# --- CLI ----------------------------------------------------------------------------------------

def test_the_cli_has_one_flag_per_option_with_its_default_description_and_choices() -> None:
    command = typer.main.get_command(cli.app).commands["generate"]  # type: ignore[attr-defined]
    flags = {p.name: p for p in command.params}
    for name, field in FIELDS.items():
        flag = flags[name]
        assert flag.opts == [f"--{CLI_NAMES.get(name, name).replace('_', '-')}"]
        assert flag.default == _default(field), name
        assert field.description and field.description in flag.help
        for choice in _choices(field) or []:
            assert choice in flag.help, (name, choice)


def test_cli_flags_reach_the_engine_as_the_options_they_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[GenerateOptions] = []
    workers: list[int] = []
    monkeypatch.setattr(cli, "_run_generate", lambda video, audio, output, options, quiet, debug, n, _segments=None:
                        (seen.append(options), workers.append(n)))
    runner = CliRunner()
    assert runner.invoke(cli.app, ["generate", "v.mp4", "a.wav", "-o", "o.mp4"]).exit_code == 0
    chosen = ["--mode", "head", "--emotion", "sad", "--temperature", "0.2", "--sync-mode", "loop", "--text", "hi"]
    assert runner.invoke(cli.app, ["generate", "v.mp4", "a.wav", "-o", "o.mp4", *chosen, "--workers", "3"]).exit_code == 0
    assert seen == [GenerateOptions(),
                    GenerateOptions(mode="head", emotion="sad", temperature=0.2, sync_mode="loop", text="hi")]
    # --workers is how the job runs, not what it renders: every CPU this process may use by default.
    assert workers == [len(os.sched_getaffinity(0)), 3]


# --- wire ---------------------------------------------------------------------------------------

def test_the_wire_carries_every_engine_option_but_the_transcript() -> None:
    assert set(WIRE_OPTIONS.values()) == WIRE_CARRIED


def test_an_empty_options_object_means_the_engine_defaults() -> None:
    for body in (None, {}, {wire: None for wire in WIRE_OPTIONS}):
        assert to_generate_options("react-1", body, text=None) == GenerateOptions()


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_every_choice_of_an_option_passes_the_wire_and_reaches_the_engine(name: str) -> None:
    field, wire = FIELDS[name], _wire_name(name)
    low, high = _bounds(field)
    values = [True, False] if field.annotation is bool else _choices(field) or [low, high, _default(field)]
    for value in values:
        request = parse_generate({"model": "react-1", "input": INPUT, "options": {wire: value}})
        engine = to_generate_options(request.model, request.options, text=None)
        got = getattr(engine, name)
        assert (got.value if isinstance(got, Enum) else got) == value


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_a_value_outside_an_options_choices_or_bounds_is_refused_by_the_engine_and_the_wire(name: str) -> None:
    field, wire = FIELDS[name], _wire_name(name)
    low, high = _bounds(field)
    if field.annotation is bool:
        bad = ["not-a-bool", 3]
    else:
        bad = ["not-a-choice", 3] if _choices(field) else [low - 0.01, high + 0.01]
    for value in bad:
        with pytest.raises(InvalidOptions):
            GenerateOptions.parse(**{name: value})
        with pytest.raises(WireError) as err:
            parse_generate({"model": "react-1", "input": INPUT, "options": {wire: value}})
        assert err.value.code == "generation_input_validation_failed"
        assert err.value.messages[0].startswith(f"options.{wire} must be")


def test_numbers_on_the_wire_are_json_numbers() -> None:
    """Stricter than the engine's Python API, as sync is: a string or a boolean is not a temperature."""
    for value in ("0.5", True):
        with pytest.raises(WireError) as err:
            parse_generate({"model": "react-1", "input": INPUT, "options": {"temperature": value}})
        assert err.value.messages == ["options.temperature must be a number"]


def test_models_that_run_one_mode_run_it_whatever_the_options_say() -> None:
    for model, info in MODELS.items():
        if len(info.modes) == 1:
            engine = to_generate_options(model, {"model_mode": "head", "prompt": "sad", "sync_mode": "loop"}, text=None)
            assert (engine.mode, engine.emotion, engine.sync_mode.value) == (info.modes[0], None, "loop")


# --- the structured option: which person to edit ----------------------------------------------

SPEAKER_FORMS = [{"auto_detect": True}, {"frame_number": 3, "coordinates": [10, 20]},
                 {"bounding_boxes": [[1, 2, 30, 40], None]}]


@pytest.mark.parametrize("form", SPEAKER_FORMS)
def test_each_form_of_active_speaker_detection_reaches_the_engine(form: dict[str, Any]) -> None:
    request = parse_generate({"model": "react-1", "input": INPUT, "options": {"active_speaker_detection": form}})
    assert request.options == {"active_speaker_detection": form}  # stored (and echoed) as sent
    engine = to_generate_options(request.model, request.options, text=None)
    assert engine.active_speaker == ActiveSpeaker(**form)


@pytest.mark.parametrize(("form", "message"), [
    ({"bounding_boxes": [[1, 2, 3]]}, "options.active_speaker_detection.bounding_boxes item 0 must be null or "
                                      "[x1, y1, x2, y2] (four numbers); got [1, 2, 3]"),
    ({"bounding_boxes": [None, [5, 2, 3, 4]]}, "options.active_speaker_detection.bounding_boxes item 1 must have "
                                               "0 <= x1 < x2 and 0 <= y1 < y2; got [5, 2, 3, 4]"),
    ({"bounding_boxes": [None]}, "options.active_speaker_detection bounding_boxes holds no box"),
    ({"frame_number": 3}, "options.active_speaker_detection frame_number and coordinates go together"),
    ({"frame_number": -1, "coordinates": [1, 2]}, "options.active_speaker_detection.frame_number must be at least 0"),
    ({"auto_detect": True, "frame_number": 0, "coordinates": [1, 2]},
     "options.active_speaker_detection give one of auto_detect, frame_number with coordinates, or bounding_boxes"),
    ("auto", "options.active_speaker_detection must be an object"),
])
def test_a_malformed_active_speaker_detection_is_a_400_naming_the_problem(form: Any, message: str) -> None:
    with pytest.raises(WireError) as err:
        parse_generate({"model": "react-1", "input": INPUT, "options": {"active_speaker_detection": form}})
    assert err.value.messages == [message]


def test_the_cli_takes_the_speaker_as_auto_a_point_or_a_boxes_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    seen: list[GenerateOptions] = []
    monkeypatch.setattr(cli, "_run_generate", lambda video, audio, output, options, quiet, debug, _workers, _segments=None: seen.append(options))
    boxes = tmp_path / "boxes.json"
    boxes.write_text("[[1, 2, 30, 40], null]")
    runner = CliRunner()
    for text in ("auto", "10,20@3", str(boxes)):
        assert runner.invoke(cli.app, ["generate", "v.mp4", "a.wav", "-o", "o.mp4", "--speaker", text]).exit_code == 0
    assert [o.active_speaker for o in seen] == [ActiveSpeaker(**form) for form in SPEAKER_FORMS]
    bad = runner.invoke(cli.app, ["generate", "v.mp4", "a.wav", "-o", "o.mp4", "--speaker", "left"])
    assert bad.exit_code == 2 and "must be auto, X,Y@FRAME or a JSON file of boxes" in bad.output


# --- OpenAPI ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("data"))).openapi()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].split("/")[1:]:
            node = node[part]
        schema = node
    return schema


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_the_openapi_document_shows_each_option_as_the_engine_defines_it(openapi: dict[str, Any], name: str) -> None:
    field = FIELDS[name]
    prop = openapi["components"]["schemas"]["GenerationOptions"]["properties"][_wire_name(name)]
    (schema,) = [_resolve(openapi, s) for s in prop.get("anyOf", [prop]) if s.get("type") != "null"]
    assert prop["default"] == _default(field)
    assert schema.get("enum") == _choices(field)
    low, high = _bounds(field)
    assert (schema.get("minimum"), schema.get("maximum")) == (low, high)
    assert field.description in prop["description"]


def test_the_openapi_document_shows_the_speaker_option_as_an_object(openapi: dict[str, Any]) -> None:
    prop = openapi["components"]["schemas"]["GenerationOptions"]["properties"]["active_speaker_detection"]
    (schema,) = [_resolve(openapi, s) for s in prop["anyOf"] if s.get("type") != "null"]
    assert set(schema["properties"]) == {"auto_detect", "frame_number", "coordinates", "bounding_boxes"}
    assert FIELDS["active_speaker"].description in prop["description"]


def test_both_create_encodings_are_documented_by_the_models_that_validate_them(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for path in ("/v2/generate", "/v2/analyze/cost"):
        content = openapi["paths"][path]["post"]["requestBody"]["content"]
        assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/GenerateBody"}
        assert content["multipart/form-data"]["schema"] == {"$ref": "#/components/schemas/GenerateForm"}
    for body in ("GenerateBody", "GenerateForm"):
        options = schemas[body]["properties"]["options"]["anyOf"]
        assert {"$ref": "#/components/schemas/GenerationOptions"} in options
    assert schemas["GenerateBody"]["properties"]["model"]["enum"] == list(MODELS)
    form = schemas["GenerateForm"]["properties"]
    assert all(form[f]["anyOf"][0] == {"type": "string", "format": "binary"} for f in ("video", "image", "audio"))

