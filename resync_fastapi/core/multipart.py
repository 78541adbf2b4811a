"""Parse ``multipart/form-data`` bodies, naming parts the way the legacy app does.

Starlette's parser reads a part's ``Content-Disposition`` with python-multipart, which knows no
RFC 2231 / RFC 5987 extended parameters: a part sent with ``filename*=UTF-8''notes.txt`` (and no
plain ``filename``) becomes a text field, and ``name*=`` is not a name at all. The legacy app
(Werkzeug) decodes both. :class:`FormParser` keeps Starlette's streaming, spooling and limits and
only replaces how a part's name and filename are read:

- the part's first ``Content-Disposition`` header is decoded as UTF-8 and its parameters parsed
  by :func:`~resync_fastapi.core.header_parameters.parse_header_parameters`;
- the part is a file when it has a ``filename`` (plain, extended or continued), else a field;
- a part without a readable ``name`` is kept under ``""`` (ignored), not refused;
- the filename is the *raw* quoted ``filename="..."`` value when there is one (backslashes kept:
  clients send Windows paths unescaped), else the decoded parameter. So with both forms present
  the plain quoted one wins, exactly as in the legacy app.

Exceptions: :class:`starlette.formparsers.MultiPartException` (invalid multipart, limits), as
Starlette's own parser raises them.
"""

from __future__ import annotations

import re
from tempfile import SpooledTemporaryFile

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from resync_fastapi.core.header_parameters import parse_header_parameters

__all__ = ["FormParser", "client_filename", "part_names", "read_form"]

_QUOTED_FILENAME = re.compile(r'filename="((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def client_filename(disposition: str, parameters: dict[str, str]) -> str | None:
    """The filename a part's ``Content-Disposition`` gives, or ``None`` for a plain field."""
    if "filename" not in parameters:
        return None
    quoted = _QUOTED_FILENAME.search(disposition)
    return quoted.group(1) if quoted else parameters["filename"]


def part_names(disposition: str) -> tuple[str | None, str | None]:
    """The ``(field name, filename)`` of a part from its ``Content-Disposition`` value."""
    _value, parameters = parse_header_parameters(disposition)
    return parameters.get("name"), client_filename(disposition, parameters)


class FormParser(MultiPartParser):
    """Starlette's multipart parser with RFC 2231 / 5987 part names and filenames."""

    def on_headers_finished(self) -> None:
        part = self._current_part
        raw = next(
            (value for name, value in part.item_headers if name == b"content-disposition"), b""
        )
        try:
            disposition = raw.decode("utf-8").strip(" \t")
        except UnicodeDecodeError:
            raise MultiPartException("The part headers are not valid UTF-8.") from None
        name, filename = part_names(disposition)
        # A part whose name cannot be read (absent, or a quoted string that never ends) is kept
        # under "" and so ignored, as Werkzeug does; refusing it would refuse the whole form.
        part.field_name = "" if name is None else name
        if filename is None:
            self._current_fields += 1
            if self._current_fields > self.max_fields:
                raise MultiPartException(
                    f"Too many fields. Maximum number of fields is {self.max_fields}."
                )
            part.file = None
            return
        self._current_files += 1
        if self._current_files > self.max_files:
            raise MultiPartException(
                f"Too many files. Maximum number of files is {self.max_files}."
            )
        # Closed by the form (or on a parse error), as in Starlette.
        spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(  # noqa: SIM115
            max_size=self.spool_max_size
        )
        self._files_to_close_on_error.append(spool)
        part.file = UploadFile(
            file=spool,  # type: ignore[arg-type]
            size=0,
            filename=filename,
            headers=Headers(raw=part.item_headers),
        )


async def read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """Parse the request's multipart body with :class:`FormParser`."""
    parser = FormParser(
        request.headers, request.stream(), max_files=max_files, max_fields=max_fields
    )
    return await parser.parse()
