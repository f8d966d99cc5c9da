"""Backends turn prompts into completions behind one small protocol (`Backend`).

`vllm`, `openai`, `transformers` and `replay` are built in; a plugin registers through the entry-point
group `evalkit.backends` and declares what differs about it as `BackendCapabilities`. Deployment is
apart: `get_backend(..., dp=N)` runs any engine backend as Ray replicas (`replicas.py`), and the
openai backend spreads requests over a fleet of servers (`fleet.py`).
"""

from evalkit.backends.base import (
    BACKENDS,
    Backend,
    BackendCapabilities,
    backend_capabilities,
    backend_names,
    get_backend,
    register_backend,
)

__all__ = ["BACKENDS", "Backend", "BackendCapabilities", "backend_capabilities", "backend_names", "get_backend",
           "register_backend"]
