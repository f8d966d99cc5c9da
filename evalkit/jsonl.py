"""Reading JSON-lines files (optionally gzipped) with errors that name the file and line; writing them whole."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from evalkit.errors import InputError

# A \uD800-\uDFFF escape: JSON allows half a surrogate pair alone (a harness that cut an emoji in
# half writes one), but no UTF-8 text can hold it, so nothing downstream could encode or write it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def not_utf8(path: str | os.PathLike, error: UnicodeDecodeError, data: bytes) -> InputError:
    """The error for a file that is not UTF-8 text, naming the line and byte where it stops being UTF-8."""
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    return InputError(f"{path}:{line}: not UTF-8 text (byte {column} of the line: {error.reason})")


def read_utf8(path: str | os.PathLike, bom: bool = True) -> str:
    """A text file's content (a byte-order mark dropped with `bom`); InputError naming the line where it is not
    UTF-8, and OSError as open raises it."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, e, data) from None


def read_jsonl_numbered(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for every non-blank line; InputError names file:line on bad JSON.
    A lone surrogate escape in a string (`"\\ud83d"`: half an emoji) is read as U+FFFD."""
    path = Path(path)
    if not path.is_file():
        what = ("a directory, not a JSONL file" if path.is_dir() else "not a regular file (a device or a pipe)"
                if path.exists() else "file not found")
        raise InputError(f"{path}: {what}")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:  # bytes, so a line that is not UTF-8 is named by its number
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # a byte-order mark is no data
                except UnicodeDecodeError as e:
                    raise InputError(f"{path}:{lineno}: not UTF-8 text (byte {e.start + 1} of the line: "
                                     f"{e.reason})") from None
                if not line.strip():
                    continue
                try:
                    obj = loads(line.rstrip("\r\n"))  # an error at the line's end is named in it, not on the next
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{lineno}: corrupt JSON line ({json_error(e)})") from None
                except ValueError as e:  # a number Python will not read: an integer of more than 4,300 digits
                    raise InputError(f"{path}:{lineno}: unreadable JSON line ({str(e)[:200]})") from None
                except RecursionError:
                    raise InputError(f"{path}:{lineno}: JSON line nested too deeply to read") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                yield lineno, obj
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None


def json_error(e: json.JSONDecodeError) -> str:
    """What is wrong and at which column: "Expecting value at column 34". Some of json's messages end in
    "at" already ("Unterminated string starting at", "Invalid control character at")."""
    return f"{e.msg}{'' if e.msg.endswith(' at') else ' at'} column {e.colno}"


def loads(text: str) -> Any:
    """`json.loads`, with a lone surrogate escape in a string (`"\\ud83d"`: half an emoji) read as U+FFFD."""
    value = json.loads(text)
    return without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def dumps(value: Any, **kwargs: Any) -> str:
    """`json.dumps` keeping non-ASCII text as it is, unless a string holds a lone surrogate (a file name that
    is not UTF-8 reads as one): then every non-ASCII character is escaped, so the text encodes as UTF-8 and
    reads back the same."""
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, **kwargs)
    return text


def without_lone_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD, one character
    for one, so character offsets into the text stay where they were."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def cut_partial_line(path: str | Path) -> int:
    """Cut a partial last line (what a process killed mid-write leaves) off the file at `path`, so that
    appends start on a fresh line; a file that ends in a newline, or is empty or missing, is left as is.
    Returns how many bytes were cut (0: none)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                return len(data) - (data.rfind(b"\n") + 1)
    return 0


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON-lines file."""
    for _, obj in read_jsonl_numbered(path):
        yield obj


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write `rows` as JSON lines whole or not at all: into a temporary file renamed over `path`. A write that fails
    (a full disk) leaves `path` as it was and no temporary file, and is an OSError naming it (outputs.write_whole)."""
    from evalkit.outputs import write_whole

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with write_whole(path, f"{path.name} is as it was", encoding="utf-8") as f:
        f.writelines(dumps(row) + "\n" for row in rows)
