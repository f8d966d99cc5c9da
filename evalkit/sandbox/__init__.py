"""Running untrusted code: isolation layers, pre-started servers, and the attack suite.

    from evalkit.sandbox import Sandbox, SandboxConfig
    with Sandbox(SandboxConfig(workers=2)) as box:
        result = box.run(program, CodeTests.from_any(tests))   # RunResult: one flag per test
        box.layers()                                            # which isolation layers are in force

Modules: `_pool` (the Sandbox this process talks to), `_server` (the small pre-started process that
forks one isolated child per run), `_layers` (the isolation layers, as a table), `_plain` (values that
cross the sandbox boundary), `_attacks` (the suite `evalkit sandbox doctor` runs).
"""

from evalkit.sandbox._pool import (
    ALWAYS_LAYERS,
    LAYER_DESCRIPTIONS,
    LAYER_NAMES,
    OPTIONAL_LAYERS,
    InfraError,
    RunResult,
    Sandbox,
    SandboxConfig,
    get_sandbox,
    layers_report,
    parse_layers,
    sandbox_doctor,
    sandbox_layers,
)

__all__ = [
    "ALWAYS_LAYERS", "LAYER_DESCRIPTIONS", "LAYER_NAMES", "OPTIONAL_LAYERS", "InfraError", "RunResult",
    "Sandbox", "SandboxConfig", "get_sandbox", "layers_report", "parse_layers", "sandbox_doctor",
    "sandbox_layers",
]
