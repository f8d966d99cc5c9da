"""Hooks into trainers, so evaluation runs inside training with the very specs, verifiers and metrics
of `evalkit run`.

    from evalkit.integrations.trl import EvalCallback
    EvalCallback(tasks=["math500"], n=4, every_steps=50, limit=64).attach(trainer)

`evalkit.integrations.trl` needs `transformers` (and TRL for GRPO's vLLM engines); importing this
package alone imports neither.
"""
