"""What every ``healthcode`` command shares: the service, JSON output, the principals the CLI
acts as, and how errors leave.

Errors: a usage mistake (an unknown option, a missing argument, a value outside an option's
choices) gets click's usage block; everything else — bad data, a path that does not exist or
cannot be read or written, a file that is not what the command reads — is one line on stderr,
``error: <code>: <message>`` (codes from standard/errors.py), and exit status 2.  A path named
on the command line is checked when the command line is read (:class:`InputPath`,
:class:`OutputPath`), before the command does anything that is recorded.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from standard.errors import FileInvalid, HealthCodeError, PathNotFound, PathUnusable

DATA_MANAGER_CLI = {"role": "data_manager", "id": "cli"}
OPERATOR_CLI = {"role": "operator", "id": "cli"}
MAX_INPUT_FILE = 20_000_000          # any one file a command reads whole


def service():
    from gateway.services import Services
    return Services()


def emit(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def error_line(exc: HealthCodeError) -> str:
    return f"error: {exc.code}: {' '.join(str(exc.message).split())}"


def path_error(exc: OSError) -> HealthCodeError:
    """An OS error on a path → the one-line error of the command line."""
    where = exc.filename if exc.filename is not None else "a file"
    if isinstance(exc, FileNotFoundError):
        return PathNotFound(f"{where}: no such file or directory")
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return PathUnusable(f"{where}: not a directory (a file is in the way)")
    return PathUnusable(f"{where}: {exc.strerror or exc}")


class CommandGroup(click.Group):
    """A group whose commands leave through :func:`error_line` on a data or path error (exit 2);
    click's own usage errors keep their usage block.  Subgroups inherit the class.  The root
    group starts every command (a help page excepted) on a checked configuration."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.group_class = type(self)

    def invoke(self, ctx):
        try:
            if ctx.parent is None and not ctx.resilient_parsing and \
                    not set(ctx.args) & set(ctx.help_option_names):
                from gateway import checked_settings, metrics
                metrics.forget_inherited_directory()     # only `serve --workers` gives metrics a directory
                checked_settings()
            return super().invoke(ctx)
        except HealthCodeError as exc:
            click.echo(error_line(exc), err=True)
            ctx.exit(2)
        except OSError as exc:
            click.echo(error_line(path_error(exc)), err=True)
            ctx.exit(2)


def _option_name(param) -> str:
    return param.opts[0] if param is not None and getattr(param, "opts", None) and \
        param.param_type_name == "option" else (param.human_readable_name if param is not None else "path")


class InputPath(click.ParamType):
    """An existing file (or directory, with ``dir_okay``) the command will read; a missing or
    unreadable one is a one-line error before the command starts."""

    def __init__(self, dir_okay: bool = False, file_okay: bool = True):
        self.dir_okay, self.file_okay = dir_okay, file_okay
        self.name = "path" if dir_okay and file_okay else "directory" if dir_okay else "file"

    def convert(self, value, param, ctx):
        path, what = Path(value), f"{_option_name(param)} {value}"
        if not path.exists():
            raise PathNotFound(f"{what}: no such file or directory")
        if path.is_dir() and not self.dir_okay:
            raise PathUnusable(f"{what}: a directory, not a file")
        if not path.is_dir() and not self.file_okay:
            raise PathUnusable(f"{what}: not a directory")
        if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
            raise PathUnusable(f"{what}: not readable (permission denied)")
        return str(value)


class OutputPath(click.ParamType):
    """A file the command will write: its directory must exist and be writable, and it must not
    be a directory — checked when the command line is read, before anything is issued,
    signed or audited."""

    name = "file"

    def convert(self, value, param, ctx):
        path, what = Path(value), f"{_option_name(param)} {value}"
        folder = path.absolute().parent
        if path.is_dir():
            raise PathUnusable(f"{what}: a directory; give a file name")
        if not folder.exists():
            raise PathNotFound(f"{what}: directory {folder} does not exist")
        if not folder.is_dir():
            raise PathUnusable(f"{what}: {folder} is not a directory")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PathUnusable(f"{what}: not writable (permission denied)")
        return str(value)


def read_bytes(path, what: str, limit: int = MAX_INPUT_FILE) -> bytes:
    """A whole input file, at most ``limit`` bytes; an OS error is a one-line path error."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise PathUnusable(f"{what} {path}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise FileInvalid(f"{what} {path}: larger than {limit // 1_000_000} MB")
    return raw


def read_text(path, what: str, limit: int = MAX_INPUT_FILE) -> str:
    """A whole text file (UTF-8, a BOM allowed); binary content is ``file_invalid``."""
    raw = read_bytes(path, what, limit)
    if b"\0" in raw:
        raise FileInvalid(f"{what} {path}: a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileInvalid(f"{what} {path}: not UTF-8 text") from None


def anchors_in(paths, what: str, iss: str | None = None) -> list:
    """The trust anchors in files (PEM, DER, JWK or JWKS); a file that holds none names itself."""
    from gateway.anchors import anchors_from_bytes
    found = []
    for path in paths:
        try:
            found.extend(anchors_from_bytes(read_bytes(path, what), iss))
        except HealthCodeError as exc:
            if exc.code in ("path_unusable", "file_invalid"):
                raise
            raise FileInvalid(f"{what} {path}: {exc.message}") from None
    return found


def json_file(path, what: str, kind: type):
    """A JSON file of ``kind`` (dict or list), depth-capped; anything else is ``file_invalid``."""
    from toolkit import jsonin
    from standard.errors import BadRequest
    text = read_text(path, what)
    try:
        value = jsonin.loads(text)
    except BadRequest as exc:
        raise FileInvalid(f"{what} {path}: {exc.message}") from None
    if not isinstance(value, kind):
        raise FileInvalid(f"{what} {path}: not a JSON {'object' if kind is dict else kind.__name__}")
    return value
