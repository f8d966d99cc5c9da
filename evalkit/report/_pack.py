"""Compressed blobs that live inside the HTML: raw deflate, then a 7-bit text encoding.

Base64 costs 4/3 of the compressed bytes, which alone would break the size target (the report must
stay within 1.25x of `gzip -9` of samples.jsonl). Instead the deflate stream is cut into 7-bit
groups, each written as one ASCII character. The three values that are unsafe inside a <script>
element (NUL becomes U+FFFD, CR is normalised away, "<" could start "</script" or "<!--") are
written together with the next group as one 2-byte UTF-8 character in U+0100..U+027F: 14 bits in
2 bytes, so every byte of output still carries 7 bits. Cost: exactly 8/7 of the deflate size.

The browser side (`unpack7` in templates/app.js) reverses it and inflates with the built-in
DecompressionStream("deflate-raw"), so no script comes from outside the file.
"""

from __future__ import annotations

import json
import math
import zlib

import numpy as np

from evalkit import jsonl

UNSAFE = (0x00, 0x0D, 0x3C)  # NUL, CR, "<"
WIDE_BASE = 0x100  # first code point of the 2-byte escapes

_SAFE_INDEX = np.full(128, -1, dtype=np.int16)
for _i, _v in enumerate(UNSAFE):
    _SAFE_INDEX[_v] = _i
_WEIGHTS = np.array([64, 32, 16, 8, 4, 2, 1], dtype=np.uint8)


def deflate(data: bytes, level: int = 6) -> bytes:
    """Raw deflate (no zlib header), what DecompressionStream("deflate-raw") reads.

    Level 6, not 9: on trace text 9 saves 0.5% of the size for 2.5x the time."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    return c.compress(data) + c.flush()


def encode7(data: bytes) -> str:
    """Encode bytes as text safe inside <script>; 8 output bytes (UTF-8) per 7 input bytes."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    n_groups = -(-bits.size // 7)
    padded = np.zeros(n_groups * 7, dtype=np.uint8)
    padded[: bits.size] = bits
    groups = padded.reshape(-1, 7) @ _WEIGHTS
    groups = groups.astype(np.uint16)
    idx = _SAFE_INDEX[groups]
    keep = np.ones(n_groups, dtype=bool)
    out = groups.copy()
    # Unsafe groups are rare (3/128); walk them in order, since one swallows the group after it.
    swallowed = -1
    for i in np.flatnonzero(idx >= 0).tolist():
        if i == swallowed:
            continue
        if i + 1 >= n_groups:  # an unsafe last group gets a zero partner (cut off by the byte count)
            out = np.append(out, 0)
            keep = np.append(keep, True)
        out[i] = WIDE_BASE + (int(idx[i]) << 7) + int(out[i + 1])
        keep[i + 1] = False
        swallowed = i + 1
    code_points = out[keep]
    return code_points.astype(np.uint32).tobytes().decode("utf-32-le")


def decode7(text: str, n_bytes: int) -> bytes:
    """The inverse of encode7 (the browser has its own copy; this one is for tests and tools)."""
    groups: list[int] = []
    for ch in text:
        c = ord(ch)
        if c < 128:
            groups.append(c)
        else:
            c -= WIDE_BASE
            groups.append(UNSAFE[c >> 7])
            groups.append(c & 127)
    arr = np.array(groups, dtype=np.uint8)
    bits = np.unpackbits(arr[:, None], axis=1)[:, 1:].reshape(-1)
    return np.packbits(bits[: n_bytes * 8]).tobytes()


def page_json(obj) -> str:
    """Compact JSON that the page's JSON.parse reads: NaN and infinities (a hand-edited or another
    tool's samples.jsonl may hold them; JSON has none) are null."""
    try:
        return jsonl.dumps(obj, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return jsonl.dumps(_finite(obj), separators=(",", ":"))


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def pack(obj) -> tuple[str, int]:
    """JSON -> UTF-8 -> raw deflate -> 7-bit text. Returns (text, compressed byte count)."""
    raw = page_json(obj).encode("utf-8")
    z = deflate(raw)
    return encode7(z), len(z)


def unpack(text: str, n_bytes: int):
    """The inverse of pack (for tests and tools)."""
    return json.loads(zlib.decompress(decode7(text, n_bytes), -15).decode("utf-8"))
