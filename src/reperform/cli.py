"""Command line: ``reperform generate | demo | serve | studio | worker | keys``.

The only module of the engine side that writes to the terminal. Failures print one line
(``error [code]: message``) and exit 2 for bad input, 1 otherwise; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import shutil
import sys
import threading
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from .errors import InvalidOptions, ReperformError
from .options import CLI_NAMES, PLAIN_FIELDS, TEXT_FORMS, GenerateOptions, SyncMode, segments_from

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Re-perform a face in a video to new audio.")
console = Console(stderr=True)
out = Console()

#: Bundled demo face (see src/reperform/assets/NOTICE.md for its source and licence).
DEMO_VIDEO = Path(__file__).parent / "assets" / "demo_face.mp4"
DEMO_TEXT = (
    "Hello! This video was re-performed on a laptop processor, with no internet connection. "
    "My lips now follow a voice I never recorded, and everything else in the picture stays as it was."
)


def _enum_of(annotation: Any) -> type[Enum] | None:
    """The enum a field's values come from (``Emotion | None`` → ``Emotion``), if any."""
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, Enum):
            return arg
    return None


def _option_flags() -> list[inspect.Parameter]:
    """One ``--flag`` per :class:`GenerateOptions` field: its name, default and help come from the field.

    Choices are validated by GenerateOptions (the one home of option rules), not by the parser,
    so a bad value ends in the same one-line error as every other bad input: a choice flag takes
    a string and lists the choices in its help.
    """
    flags = []
    for name in PLAIN_FIELDS:
        field = GenerateOptions.model_fields[name]
        default = field.get_default()
        enum = _enum_of(field.annotation)
        kind: Any = field.annotation
        help_text = field.description or name
        if enum is not None:
            kind = str if default is not None else str | None
            default = default.value if isinstance(default, Enum) else default
            help_text += f"; one of {'|'.join(m.value for m in enum)}"
        elif name in TEXT_FORMS:  # a structured option, given as text that GenerateOptions reads
            kind = str | None
            help_text += f"; {TEXT_FORMS[name]}"
        cli_name = CLI_NAMES.get(name, name).replace("_", "-")
        decl = f"--{cli_name}/--no-{cli_name}" if field.annotation is bool else f"--{cli_name}"  # a switch
        flag = typer.Option(decl, help=help_text)
        flags.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                       annotation=Annotated[kind, flag]))
    return flags


def _with_option_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes ``**options``) the :func:`_option_flags`, before ``--quiet``."""
    signature = inspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    at = next(i for i, p in enumerate(fixed) if p.name == "quiet")
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*fixed[:at], *_option_flags(), *fixed[at:]])
    return command


def _fail(exc: BaseException, debug: bool) -> None:
    if debug:
        console.print_exception()
    # Plain text, one line, never wrapped or parsed as markup: scripts grep this.
    if isinstance(exc, ReperformError):
        typer.echo(f"error [{exc.code}]: {' '.join(exc.message.split())}", err=True)
        raise typer.Exit(2 if exc.is_input_error else 1)
    typer.echo(f"error: {exc.__class__.__name__}: {' '.join(str(exc).split())}", err=True)
    raise typer.Exit(1)


#: Start-up notices MediaPipe and TF Lite write straight to file descriptor 2 (logging that runs
#: before absl is initialised, so no setting silences it): a few lines per run that would land on
#: top of the progress bar.
NATIVE_NOISE = re.compile(
    rb"^(W0000 \d|I0000 \d|INFO: Created TensorFlow Lite|WARNING: All log messages before absl::InitializeLog)"
)


@contextmanager
def _native_notices_filtered(enabled: bool) -> Iterator[None]:
    """Route fd 2 through a filter that drops :data:`NATIVE_NOISE` lines; everything else (and
    all of Python's own stderr, which keeps the terminal directly) still reaches the terminal."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with open(read_end, "rb") as native:
            for line in native:
                if not NATIVE_NOISE.match(line):
                    os.write(terminal, line)

    reader = threading.Thread(target=pump, name="native-stderr", daemon=True)
    reader.start()
    python_stderr = sys.stderr
    encoding = python_stderr.encoding or "utf-8"
    try:
        with open(os.dup(terminal), "w", buffering=1, encoding=encoding, errors="replace") as direct:
            sys.stderr = direct
            try:
                yield
            finally:
                sys.stderr = python_stderr
    finally:
        os.dup2(terminal, 2)  # the pipe's last writer closes: the reader sees its end
        reader.join(timeout=2)
        os.close(terminal)


def _run_generate(video: Path, audio: Path | dict[str, Path], output: Path, options: GenerateOptions, quiet: bool,
                  debug: bool, workers: int = 1, segment_specs: list[str] | None = None):
    from .api import generate

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    columns = (TextColumn("{task.fields[stage]:<8}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet, transient=True) as bar:
        task = bar.add_task("generate", total=1.0, stage="start", detail="")

        def sink(stage: str, fraction: float, detail: str = "") -> None:
            bar.update(task, completed=fraction, stage=stage, detail=detail)

        try:
            with _native_notices_filtered(not debug):
                result = generate(video, audio, output, options, progress=sink, workers=workers)
        except (ReperformError, OSError, KeyboardInterrupt) as exc:
            bar.stop()
            if isinstance(exc, KeyboardInterrupt):
                console.print("interrupted; no output written")
                raise typer.Exit(130) from None
            if isinstance(exc, ReperformError) and segment_specs:
                exc.args = (_in_segment_words(exc.message, segment_specs), *exc.args[1:])
            _fail(exc, debug)
            raise  # unreachable: _fail always exits
    total = result.timings_s.get("total", 0.0)
    rtf = total / result.duration_s if result.duration_s else 0.0
    out.print(
        f"wrote {result.output}  {result.width}x{result.height} {float(result.fps):.2f} fps, "
        f"{result.duration_s:.2f} s, {result.n_frames} frames ({result.frames_edited} edited), "
        f"mode {result.mode}, speech {result.speech_method}, {total:.1f} s ({rtf:.2f}x real time)"
        + (f", {len(result.chunks)} chunks (joins at frames {','.join(str(a) for a, _ in result.chunks[1:])})"
           if result.chunks else ""),
        highlight=False,
    )
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    return result


_SEGMENT_SPEAKER_FIELD = re.compile(r"segments\[(\d+)\]\.optionsOverride\.active_speaker_detection(?:\.(\w+))?")


def _in_segment_words(message: str, specs: list[str]) -> str:
    """The engine names a segment's speaker by its wire field (``segments[1].optionsOverride.
    active_speaker_detection.coordinates``); a CLI user typed ``--segment ...:speaker=X,Y@FRAME``,
    so name that flag, keeping ``segments[i]`` as ``_parse_segments``' own errors do."""

    def words(m: re.Match[str]) -> str:
        i = int(m[1])
        spec = f"--segment {specs[i]!r} (segments[{i}])" if i < len(specs) else m[0]
        return f"{spec}: the speaker's {m[2]}" if m[2] else f"{spec}: the speaker"

    return _SEGMENT_SPEAKER_FIELD.sub(words, message)


# STOP, not END: the help is Rich text, and Rich turns ":END:" into an emoji.
SEGMENT_HELP = ("START:STOP:AUDIO[:ASTART:ASTOP][:KEY=VALUE...] (seconds; repeatable): the video from START to "
                "STOP speaks AUDIO (cropped to ASTART-ASTOP); the video outside every segment keeps its own picture and "
                "sound. KEY=VALUE sets this segment's own speaker=auto|X,Y@FRAME (whom it edits: e.g. "
                "0:2:a.wav:speaker=160,160@5), emotion=, temperature= or mode=; the rest is the command's. "
                "With segments, the AUDIO argument may be left out")
#: ``--segment``'s KEY=VALUE suffixes → the :class:`~reperform.options.SegmentOptions` field they set.
SEGMENT_KEYS = {"speaker": "active_speaker", "emotion": "emotion", "temperature": "temperature", "mode": "mode"}
_SEGMENT_SETTING = re.compile(rf"^({'|'.join(SEGMENT_KEYS)})=(.*)$")


def _parse_segments(specs: list[str]) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """``--segment`` values → (wire-form segments, {refId: audio path}); the audio's path is its refId.

    Settings come last, as ``:key=value`` fields, so a path holding ``:`` or ``=`` still reads as
    one: only trailing fields that start with a known key are settings. A speaker is a point or
    ``auto`` (never a boxes file: boxes address every frame of the video, so they go in ``--speaker``).
    """
    from .options import ActiveSpeaker

    segments, audios = [], {}
    for n, spec in enumerate(specs):
        where = f"--segment {spec!r} (segments[{n}])"
        parts = spec.split(":")
        override: dict[str, Any] = {}
        while len(parts) > 3 and (setting := _SEGMENT_SETTING.match(parts[-1])):
            key, value = setting[1], setting[2]
            if SEGMENT_KEYS[key] in override:
                raise InvalidOptions(f"{where}: {key}= is given twice")
            if key == "speaker":
                speaker = None
                if value.strip().lower() == "auto" or "@" in value:
                    try:
                        speaker = ActiveSpeaker.from_text(value)
                    except ValueError:
                        speaker = None
                if speaker is None or speaker.kind == "boxes":
                    raise InvalidOptions(f"{where}: speaker= must be auto or X,Y@FRAME (a point on a frame, e.g. "
                                         f"160,120@5); got {value!r} (boxes for every frame go in --speaker)")
                override["active_speaker"] = speaker
            else:
                override[SEGMENT_KEYS[key]] = value
            parts.pop()
        crop: dict[str, Any] = {}
        if len(parts) >= 5 and all(_is_number(p) for p in parts[-2:]):
            crop = {"startTime": float(parts[-2]), "endTime": float(parts[-1])}
            parts = parts[:-2]
        if len(parts) < 3 or not all(_is_number(p) for p in parts[:2]) or not ":".join(parts[2:]):
            raise InvalidOptions(f"{where}: expected START:STOP:AUDIO[:ASTART:ASTOP][:KEY=VALUE...]")
        ref = ":".join(parts[2:])
        audios[ref] = Path(ref)
        segment: dict[str, Any] = {"startTime": float(parts[0]), "endTime": float(parts[1]),
                                   "audioInput": {"refId": ref, **crop}}
        if override:
            segment["optionsOverride"] = override
        segments.append(segment)
    return segments, audios


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@app.command()
@_with_option_flags
def generate(
    video: Annotated[Path, typer.Argument(help="video (mp4/mov/mkv/webm) or still image (png/jpg) of the person")],
    output: Annotated[Path, typer.Option("-o", "--output", help="output MP4 path")],
    audio: Annotated[Path | None, typer.Argument(help="driving audio (wav/flac/mp3/aac/m4a, or a video's audio "
                                                      "track); not needed with --segment")] = None,
    segment: Annotated[list[str] | None, typer.Option("--segment", help=SEGMENT_HELP)] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="processes rendering a long output in chunks, one CPU each (default: every CPU this "
                    "process may use; 1 renders in one process)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    debug: Annotated[bool, typer.Option(help="show tracebacks and debug logs")] = False,
    **options: Any,  # --mode, --emotion, ...: one flag per GenerateOptions field (_with_option_flags)
) -> None:
    """Re-perform VIDEO to AUDIO (or each --segment to its own audio) and write an MP4."""
    drive: Path | dict[str, Path] | None = audio
    try:
        if segment:
            wire, audios = _parse_segments(segment)
            options["segments"] = segments_from(wire)
            drive = audios if audio is None else {**audios, str(audio): audio}
        elif audio is None:
            raise InvalidOptions("AUDIO is required (or give --segment START:STOP:AUDIO)")
        parsed = GenerateOptions.parse(**options)
    except ReperformError as exc:
        _fail(exc, debug)
    _run_generate(video, drive, output, parsed, quiet, debug, workers or len(_usable_cpus()), segment)


def _usable_cpus() -> list[int]:
    from .runtime import usable_cpus

    return usable_cpus()


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option(help="where to write the demo outputs")] = Path("demo-output"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    debug: Annotated[bool, typer.Option()] = False,
) -> None:
    """Make a speech track offline (espeak-ng) and re-perform the bundled face to it."""
    from .api import synthesize_speech

    output_dir.mkdir(parents=True, exist_ok=True)
    speech = output_dir / "demo_speech.wav"
    try:
        synthesize_speech(DEMO_TEXT, speech)
    except ReperformError as exc:
        _fail(exc, debug)
    out.print(f"made speech with espeak-ng: {speech}")
    options = GenerateOptions.parse(text=DEMO_TEXT, sync_mode=SyncMode.bounce, mode="face", emotion="happy")
    result = _run_generate(DEMO_VIDEO, speech, output_dir / "demo_face_happy.mp4", options, quiet, debug)
    outputs = [result.output]
    shared = Path(os.environ.get("REPERFORM_SHARED_MEDIA", Path.cwd().parent / "shared" / "media"))
    real_voice = shared / "audio" / "echomimic_movie_0_clip_0.wav"
    if real_voice.exists():  # a real recorded voice, when the test media sits beside the checkout
        head = _run_generate(DEMO_VIDEO, real_voice, output_dir / "demo_head_real_voice.mp4",
                             GenerateOptions.parse(sync_mode=SyncMode.bounce, mode="head"), quiet, debug)
        outputs.append(head.output)
    out.print("\ndemo done; open:\n" + "\n".join(f"  {p.resolve()}" for p in outputs))


def _mount_product_commands() -> None:
    """Server-side commands (serve, worker, keys) live with the server package."""
    try:
        from . import cli_server
    except ImportError:  # server extras missing: the engine CLI still works
        return
    register = getattr(cli_server, "register", None)
    if register is not None:
        register(app)


_mount_product_commands()


def main() -> None:
    if shutil.get_terminal_size().columns < 40:
        os.environ.setdefault("COLUMNS", "100")
    app(prog_name="reperform")


if __name__ == "__main__":
    sys.exit(main())
