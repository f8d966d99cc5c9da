"""The judge's replies, kept so that nothing is asked twice: in the run directory and in a user cache.

A reply is keyed by what decides it: judge model, rubric version, problem, gold and the answer as
shown. Files are JSON lines appended under an exclusive lock (several processes may share the user
cache); a line cut short by a kill is skipped. Only replies are kept, never faults: a server that was
down is asked again next time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Iterable

from evalkit import jsonl

RUN_FILE = "judge_cache.jsonl"


def user_cache_dir() -> Path:
    """$EVALKIT_CACHE_DIR, else $XDG_CACHE_HOME/evalkit, else ~/.cache/evalkit."""
    if os.environ.get("EVALKIT_CACHE_DIR"):
        return Path(os.environ["EVALKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evalkit"


def cache_key(model: str, rubric: str, problem: str, gold: str, answer: str) -> str:
    """The reply's key: a digest of everything that decides the reply."""
    return hashlib.sha256(json.dumps([model, rubric, problem, gold, answer]).encode()).hexdigest()


class ReplyCache:
    """Replies by key, read from and written to several files (the first is written for every reply,
    the others also fill it: a reply found in the user cache is copied into the run directory)."""

    def __init__(self, paths: Iterable[Path]):
        self.paths = [Path(p) for p in paths]
        self._loaded: dict[Path, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _table(self, path: Path) -> dict[str, str]:
        if path not in self._loaded:
            table: dict[str, str] = {}
            try:
                with open(path, "rb") as f:
                    for line in f:
                        try:
                            rec = json.loads(line.decode("utf-8"))
                            key, reply = rec["key"], rec["reply"]
                        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
                            continue  # a line cut short by a kill (maybe inside a character)
                        if isinstance(key, str) and isinstance(reply, str):  # an edited line's list made every
                            table[key] = reply  # batch unjudged, on every rerun
            except OSError:
                pass
            self._loaded[path] = table
        return self._loaded[path]

    def get(self, key: str) -> str | None:
        """The cached reply, or None; a reply found only in a later file is copied to the earlier ones."""
        with self._lock:
            for i, path in enumerate(self.paths):
                reply = self._table(path).get(key)
                if reply is not None:
                    for earlier in self.paths[:i]:
                        self._append(earlier, key, reply)
                    return reply
        return None

    def put(self, key: str, reply: str, **about: str) -> None:
        """Keep `reply` under `key` in every file; `about` fields (model, rubric) are stored beside it."""
        with self._lock:
            for path in self.paths:
                if self._table(path).get(key) is None:
                    self._append(path, key, reply, about)

    def _append(self, path: Path, key: str, reply: str, about: dict | None = None) -> None:
        line = (jsonl.dumps({"key": key, **(about or {}), "reply": reply}) + "\n").encode(
            "utf-8", "surrogatepass")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab+") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # whole lines, even with other processes appending
                end = f.seek(0, os.SEEK_END)
                if end and os.pread(f.fileno(), 1, end - 1) != b"\n":
                    line = b"\n" + line  # after a line cut short by a kill: this one starts afresh
                f.write(line)
                f.flush()
        except OSError:
            return  # a cache that cannot be written costs a question later, nothing else
        self._table(path)[key] = reply
