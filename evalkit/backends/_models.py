"""Finding a model before an engine starts, so a wrong name is one clear line, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from evalkit.errors import InputError

# the weights' types an engine backend takes (vLLM's names), each with torch's name for it
DTYPES = {"auto": "auto", "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "float32": "float32",
          "float": "float32"}


def check_dtype(dtype: str) -> None:
    """InputError naming the valid values when `dtype` is none of them (before a model is loaded)."""
    if dtype not in DTYPES:
        raise InputError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")


def check_model(model: str | None, revision: str | None = None) -> str:
    """`model` if it is a local folder, in the hub cache, or (online) on the hub; InputError otherwise."""
    if not model:
        raise InputError("--model is required for this backend")
    if Path(model).expanduser().is_dir():
        path = Path(model).expanduser()
        if not (path / "config.json").is_file():
            raise InputError(f"{path}: not a model folder (no config.json)")
        return str(path)
    if Path(model).exists():
        raise InputError(f"{model}: expected a model folder or a hub model id, got a file")
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(model, revision=revision, local_files_only=True, allow_patterns=["config.json"])
        return model
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise InputError(f"model {model!r} does not exist locally and is not in the hub cache (HF_HUB_OFFLINE is set)")
    try:
        from huggingface_hub import model_info

        model_info(model, revision=revision, timeout=10)
    except Exception as e:
        raise InputError(f"model {model!r} not found: not a local folder, and the hub says: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return model
