"""Request bodies, read with a running byte count: nothing is buffered or spooled past its limit.

Two layers. :class:`BodyLimit`, an ASGI middleware, caps every request's body whatever the
route does with it (413 at once when ``Content-Length`` is over the cap, else as soon as the
streamed bytes pass it — chunked uploads included). Routes then read bodies only through
:func:`read_json` and :func:`read_form`, which apply the finer limits: a JSON body's size, each
uploaded file's size (counted while it streams to disk in our own upload folder, so an
oversized file is refused at its limit and never copied), the number and size of form fields.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..protocol.errors import WireError
from ..protocol.strictjson import strict_loads
from .errors import ApiError, respond

#: Largest value of one non-file form field (sync documents 1 MiB per text field).
MAX_FIELD_BYTES = 1024 * 1024
#: Non-file fields a form may have (a create uses at most a handful).
MAX_FIELDS = 50
#: A multipart body's own overhead beyond its files: boundaries, part headers, text fields.
FORM_OVERHEAD_BYTES = 1024 * 1024


class BodyTooLarge(ApiError):
    """413: the body (or one file in it) is over its limit; raised while it streams in."""

    def __init__(self, message: str) -> None:
        super().__init__(413, "file_size_exceeds_plan_limit", message, headers={"Connection": "close"})


class BodyLimit:
    """ASGI middleware: no request body longer than its cap is ever read.

    Multipart bodies may be as long as ``multipart_bytes`` (the route limits each file); all
    others ``other_bytes``. Reading past the cap raises :class:`BodyTooLarge` out of the app's
    own ``receive`` call, so the route stops wherever it is and the client gets a JSON 413.
    """

    def __init__(self, app: ASGIApp, *, multipart_bytes: int, other_bytes: int) -> None:
        self.app, self.multipart_bytes, self.other_bytes = app, multipart_bytes, other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.multipart_bytes if ctype.startswith("multipart/form-data") else self.other_bytes
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            response = respond(413, "file_size_exceeds_plan_limit", f"the request body is over {limit} bytes",
                               {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(f"the request body is over {limit} bytes")
            return message

        await self.app(scope, limited, send)


async def read_json(request: Request, *, max_bytes: int) -> Any:
    """The body parsed as strict JSON (:func:`~reperform.protocol.strictjson.strict_loads`); 413 past ``max_bytes``."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(f"the JSON body is over {max_bytes} bytes")
    return strict_loads(bytes(body) or b"null")


@dataclass
class FormFile:
    """One uploaded file, already on disk in the upload folder; deleted by :meth:`Form.close`."""

    field: str
    filename: str | None
    path: Path
    size: int = 0
    complete: bool = False


@dataclass
class Form:
    """A parsed form: text fields in order, and uploaded files."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FormFile] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)

    def texts(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]

    def file(self, name: str) -> FormFile | None:
        return next((f for f in self.files if f.field == name), None)

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self.fields) or any(f.field == name for f in self.files)

    def close(self) -> None:
        for f in self.files:
            f.path.unlink(missing_ok=True)


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"{what} is not valid UTF-8") from None


class _MultipartReader:
    """python-multipart callbacks that stream file parts to disk with per-file byte counts."""

    def __init__(self, tmp_dir: Path, *, max_file_bytes: int, max_files: int) -> None:
        self.tmp_dir, self.max_file_bytes, self.max_files = tmp_dir, max_file_bytes, max_files
        self.form = Form()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._file: FormFile | None = None
        self._fh: Any = None
        self._data = bytearray()
        self._name = ""

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value_cb, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end}

    def _part_begin(self) -> None:
        self._disposition, self._file, self._data = b"", None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise WireError("every multipart part needs a Content-Disposition name")
        self._name = _decode(options[b"name"], "a form field name")
        if b"filename" in options:
            if len(self.form.files) >= self.max_files:
                raise WireError(f"a request may carry at most {self.max_files} files")
            fd, path = tempfile.mkstemp(dir=self.tmp_dir, suffix=".upload")
            self._fh = os.fdopen(fd, "wb")
            self._file = FormFile(self._name, options[b"filename"].decode("utf-8", errors="replace"), Path(path))
            self.form.files.append(self._file)
        elif len(self.form.fields) >= MAX_FIELDS:
            raise WireError(f"a form may have at most {MAX_FIELDS} fields")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is None:
            if len(self._data) + end - start > MAX_FIELD_BYTES:
                raise BodyTooLarge(f"form field {self._name!r} is over {MAX_FIELD_BYTES} bytes")
            self._data += data[start:end]
            return
        self._file.size += end - start
        if self._file.size > self.max_file_bytes:
            raise BodyTooLarge(f"{self._name} is larger than {self.max_file_bytes} bytes")
        self._fh.write(data[start:end])  # page-cache writes of ≤64 KiB: cheaper than a thread hop

    def _part_end(self) -> None:
        if self._file is None:
            self.form.fields.append((self._name, _decode(bytes(self._data), f"form field {self._name!r}")))
        else:
            self._fh.close()
            self._fh, self._file.complete, self._file = None, True, None

    def abort(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        self.form.close()


async def read_form(request: Request, *, tmp_dir: Path, max_file_bytes: int, max_files: int) -> Form:
    """A multipart or urlencoded body. Files land in ``tmp_dir``; call ``Form.close()`` when done."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/x-www-form-urlencoded":
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_FIELD_BYTES:
                raise BodyTooLarge(f"the form is over {MAX_FIELD_BYTES} bytes")
        try:
            pairs = parse_qsl(bytes(raw).decode("ascii"), keep_blank_values=True, errors="strict",
                              max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise WireError("the form is not valid UTF-8 url-encoded data") from None
        return Form(fields=pairs)
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise WireError("expected a multipart/form-data body with a boundary")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    reader = _MultipartReader(tmp_dir, max_file_bytes=max_file_bytes, max_files=max_files)
    parser = MultipartParser(params[b"boundary"], reader.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if any(not f.complete for f in reader.form.files):
            raise WireError("the multipart body ended in the middle of a file")
    except FormParserError:
        reader.abort()
        raise WireError("the multipart body is malformed") from None
    except BaseException:
        reader.abort()
        raise
    return reader.form
