"""A TRL / transformers callback that evaluates the policy while it trains.

    from evalkit.integrations.trl import EvalCallback

    trainer = GRPOTrainer(model=..., reward_funcs=[math_reward], args=GRPOConfig(...), train_dataset=...)
    EvalCallback(tasks=["math500", "aime24"], n=4, every_steps=50, limit=64).attach(trainer)
    trainer.train()

Every `every_steps` optimizer steps, and once more at the end of training, the current policy answers
the tasks exactly as `evalkit run` would ask them (the same task specs, prompts, verifiers, trace
analysis and metrics: the callback calls `evalkit.evaluate`). Each evaluation is a run directory,
`<output_dir>/evalkit/step-<N>/`, whose model is recorded as `<model>@step-<N>`, so
`evalkit report DIR1 DIR2 --out cmp.html` compares checkpoints. Per task it logs, through the
trainer's own `log` (so the console, TensorBoard, W&B or any `report_to` get them):

    eval/<task>/avg@n             mean correct share (R1's pass@1)
    eval/<task>/pass@<k>          unbiased pass@k for k = 1, 2, 4, ..., n
    eval/<task>/truncated         share of samples the verifier read as cut off (reason `truncated`)
    eval/<task>/completion_tokens mean completion tokens
    eval/<task>/markers_per_1k    reflection markers per 1,000 units of trace length (the trace
                                  analyzer's `markers_per_1k`; its unit is the trace's: characters
                                  in `evalkit run`)

(W&B's integration prefixes keys that do not start with `eval_` with `train/`.)

Generation uses the trainer's own vLLM when it has one: colocated (`vllm_mode="colocate"`: the
engine in the trainer's process), or a `trl vllm-serve` server (`vllm_mode="server"`, reached with
evalkit's OpenAI backend on its `/v1/completions`), after pushing the current weights to it as TRL
does before a generation. Without vLLM the policy itself generates, in-process, with transformers.
Evaluation does not change training: the Python, NumPy and torch (CPU and CUDA) random states are
restored afterwards, the model's train/eval mode too, and the trainer's own metrics are left alone.
In a multi-process run only the main process evaluates and logs.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from transformers import Trainer, TrainerCallback

from evalkit.errors import InputError


@dataclass(frozen=True)
class Evaluation:
    """One evaluation during training: the step, its run directory, and what was logged."""

    step: int
    run_dir: Path
    metrics: dict[str, float]


class EvalCallback(TrainerCallback):
    """Evaluate the policy on evalkit tasks every `every_steps` steps and at the end of training.

    tasks: built-in task names or YAML paths, as for `evalkit run`.
    n: samples per problem. every_steps: optimizer steps between evaluations.
    limit: only the first `limit` problems of each task (None: all).
    max_tokens: the completion budget; default the trainer's `max_completion_length` when it has
        one (the length the policy is trained at), else each task's own.
    temperature, top_p, seed, system_prompt, think_prefill: as for `evalkit run` (None: the task's).
    out_dir: where the run directories go (default `<args.output_dir>/evalkit`).
    trainer: the trainer to evaluate and log through, which the callback adds itself to; or call
        `attach(trainer)`.
    reflection_model: the trace analyzer's reflection model file (`evalkit fit-detector`), as for
        `evalkit run --reflection-model` (None or `shipped`: the shipped weights), read again for
        each checkpoint's evaluation (a refitted file is used, and recorded, from then on).
    on_error: what an evaluation that fails during training does (its data file gone, a sandbox that
        cannot start): `warn` (default) says so on stderr, keeps it in `failures` and lets training go
        on; `raise` stops training with it. Bad settings are refused as the callback is made, either way.
    """

    def __init__(self, tasks: Sequence[str], n: int = 1, every_steps: int = 100, limit: int | None = None, *,
                 max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
                 seed: int | None = None, system_prompt: str | None = None, think_prefill: bool = True,
                 out_dir: str | None = None, trainer: Trainer | None = None,
                 reflection_model: str | None = None, on_error: str = "warn") -> None:
        if isinstance(tasks, str):
            tasks = [tasks]
        if not tasks:
            raise InputError("EvalCallback: no task given")
        # every setting is checked here, named as the callback names it: a bad one found at the first
        # evaluation would stop training after `every_steps` steps
        for name, value, optional in (("every_steps", every_steps, False), ("n", n, False), ("limit", limit, True),
                                      ("max_tokens", max_tokens, True), ("seed", seed, True)):
            if (value is None and not optional) or (value is not None and (isinstance(value, bool)
                                                                            or not isinstance(value, int))):
                raise InputError(f"EvalCallback: {name} must be a whole number{' or None' if optional else ''}, "
                                 f"got {value!r}")
        for name, value in (("temperature", temperature), ("top_p", top_p)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise InputError(f"EvalCallback: {name} must be a number or None, got {value!r}")
        if every_steps < 1:
            raise InputError(f"EvalCallback: every_steps must be at least 1, got {every_steps}")
        if n < 1:
            raise InputError(f"EvalCallback: n must be at least 1, got {n}")
        if limit is not None and limit < 1:
            raise InputError(f"EvalCallback: limit must be at least 1 (or None for every problem), got {limit}")
        from evalkit.suites import expand_suites
        from evalkit.taskspec import generation_problem, load_task

        problem = generation_problem(temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        if problem:
            raise InputError(f"EvalCallback: {problem[0]}: {problem[1]}")
        if on_error not in ("warn", "raise"):
            raise InputError(f"EvalCallback: on_error must be 'warn' or 'raise', got {on_error!r}")
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise InputError(f"EvalCallback: system_prompt must be text or None, got {system_prompt!r:.60}")
        if not isinstance(think_prefill, bool):  # "no" would read as true
            raise InputError(f"EvalCallback: think_prefill must be True or False, got {think_prefill!r:.60}")
        names: dict[str, str] = {}
        for task in expand_suites(tasks):
            spec = load_task(task)  # a bad task name fails now, not after the first training steps
            if spec.name in names:  # as `evalkit run` refuses them, but before training
                raise InputError(f"EvalCallback: tasks {names[spec.name]!r} and {task!r} are both named "
                                 f"{spec.name!r}; a run reports each task under its name, so rename one")
            names[spec.name] = task
            _check_task(spec, limit)
        if out_dir is not None:
            try:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InputError(f"EvalCallback: out_dir {str(out_dir)!r} cannot hold the run directories "
                                 f"({e.strerror or e})") from None
        if reflection_model is not None and not isinstance(reflection_model, (str, os.PathLike)):
            raise InputError(f"EvalCallback: reflection_model: give the model's file (or 'shipped'), not a "
                             f"{type(reflection_model).__name__}: each run records the file and its sha256")
        if reflection_model is not None and str(reflection_model) != "shipped":
            from evalkit.trace._model import load_model

            load_model(str(reflection_model))  # so does a file that is not a reflection model
        self.reflection_model = reflection_model
        self.tasks = list(tasks)
        self._names = tuple(names)  # the tasks' names, which the logged keys carry
        self.n, self.every_steps, self.limit = n, every_steps, limit
        self.generation = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        self.system_prompt, self.think_prefill = system_prompt, think_prefill
        self.out_dir = out_dir
        self.trainer = trainer
        self.on_error = on_error
        self.evaluations: list[Evaluation] = []
        self.failures: list[tuple[int, str]] = []  # (step, error) of evaluations that failed under "warn"
        self._training = False
        self._tried_at: int | None = None  # the step of the latest evaluation during training
        self._history_at_start = 0  # log history entries train() began with (a resumed checkpoint's)
        self._pending_logs: list[dict[str, float]] = []  # logged before train(), which replaces the state
        if trainer is not None:
            self.attach(trainer)

    def attach(self, trainer: Trainer) -> "EvalCallback":
        """Bind to `trainer` and add this callback to it, once (attaching again, or a callback already
        given in `Trainer(callbacks=[...])`, adds nothing); returns self. InputError where another
        EvalCallback of the trainer writes the same run directories (each would replace the other's)."""
        for other in trainer.callback_handler.callbacks:
            if isinstance(other, EvalCallback) and other is not self and _root(other, trainer) == _root(self, trainer):
                raise InputError(f"EvalCallback: another EvalCallback of this trainer writes its run directories "
                                 f"to {_root(self, trainer)} too (each step-N would replace the other's): give "
                                 "each its own out_dir, or evaluate every task in one callback")
        self.trainer = trainer
        if not any(c is self for c in trainer.callback_handler.callbacks):
            trainer.add_callback(self)
        return self

    # ---- the trainer's events

    def on_train_begin(self, args, state, control, **kwargs):
        # a callback given as Trainer(callbacks=[...]) is never shown its trainer: say so before the
        # first step, not after `every_steps` steps of training thrown away
        if self.trainer is None:
            raise InputError(NEEDS_TRAINER)
        self._training = True
        self._stepped = False  # whether this train() makes a step (a finished run resumed makes none)
        # an evaluation made before train() (a baseline) was logged to a state train() replaced
        for logs in self._pending_logs:
            if logs not in state.log_history:
                state.log_history.append(dict(logs))
        self._pending_logs.clear()
        # what the checkpoint resumed from brought: another callback's logs of the same task in this train() are not
        # this one's evaluation
        self._history_at_start = len(state.log_history)

    def on_step_end(self, args, state, control, **kwargs):
        self._stepped = True
        if state.global_step % self.every_steps == 0:
            self._evaluate_in_training()

    def on_train_end(self, args, state, control, **kwargs):
        # the last step's evaluation, made or failed, is not made twice; nor is one a checkpoint's log
        # history holds; nor is a finished run's, resumed: it trains no step and ends at the step the first
        # train() evaluated as it ended (after its last checkpoint was saved, so no log history holds that one)
        resumed_finished = not self._stepped and state.global_step > 0
        if self._tried_at != state.global_step and not self._logged_at(state, state.global_step) \
                and not resumed_finished:
            self._evaluate_in_training()
        self._training = False

    def _logged_at(self, state, step: int) -> bool:
        """Whether the log history a resumed checkpoint brought holds this step's evaluation of these tasks."""
        keys = tuple(f"eval/{name}/" for name in self._names)
        return any(h.get("step") == step and any(str(k).startswith(keys) for k in h)
                   for h in state.log_history[:self._history_at_start])

    def _evaluate_in_training(self) -> None:
        self._tried_at = self.trainer.state.global_step
        try:
            self.evaluate_now()
        except Exception as e:  # noqa: BLE001 - under "warn", hours of training are not lost to one evaluation
            if self.on_error == "raise" or isinstance(e, WeightPushError):
                raise
            step = self.trainer.state.global_step
            self.failures.append((step, f"{type(e).__name__}: {e}"))
            print(f"evalkit: warning: the evaluation at step {step} failed ({type(e).__name__}: {e}); training "
                  "goes on (EvalCallback(on_error='raise') stops it instead)", file=sys.stderr)

    # ---- the work

    def evaluate_now(self) -> Evaluation | None:
        """Evaluate the trainer's current policy and log the figures; None on a non-main process.

        Every process calls it (the callback runs on each): pushing the step's weights into vLLM gathers them from
        every process (ZeRO-3, FSDP), so each one takes part; then the main process alone generates and logs."""
        trainer = self.trainer
        if trainer is None:
            raise InputError(NEEDS_TRAINER)
        step = trainer.state.global_step
        _push_weights(trainer, step)
        if not trainer.accelerator.is_main_process:
            return None
        from evalkit.run import evaluate  # the same pipeline as `evalkit run`

        root = _root(self, trainer)
        generation = dict(self.generation)
        if generation["max_tokens"] is None:
            generation["max_tokens"] = getattr(trainer.args, "max_completion_length", None)
        with _training_state_kept(trainer), _policy_engine(trainer, step) as engine:
            result = evaluate(self.tasks, engine=engine, n=self.n, limit=self.limit, out=root / f"step-{step}",
                              overwrite=True, progress=False, system_prompt=self.system_prompt,
                              think_prefill=self.think_prefill, reflection_model=self.reflection_model, **generation)
        metrics = eval_metrics(result.run_dir)
        # Trainer.log, not the subclass's: GRPOTrainer.log would also flush its training metrics here.
        # Logging clears the trainer's should_log flag; keep it, or this step's training log is skipped.
        should_log = trainer.control.should_log
        Trainer.log(trainer, dict(metrics))
        trainer.control.should_log = should_log
        history = getattr(trainer.state, "log_history", None)
        if not self._training and history:
            self._pending_logs.append(dict(history[-1]))
        evaluation = Evaluation(step, result.run_dir, metrics)
        self.evaluations.append(evaluation)
        return evaluation


def _root(callback: EvalCallback, trainer: Trainer) -> Path:
    """Where `callback` writes its run directories (step-N) for `trainer`."""
    return Path(callback.out_dir or Path(trainer.args.output_dir) / "evalkit").resolve()


def _check_task(spec: Any, limit: int | None) -> None:
    """What `evalkit run` finds wrong with a task before it generates, found as the callback is made, not at the
    first evaluation after `every_steps` steps of training: its data (a missing file, a column its fields name,
    a hub dataset offline), its verifier and options, its golds, and its prompt template on the first problem."""
    from evalkit.run.loop import check_golds, rules_for
    from evalkit.run.planning import plan_task
    from evalkit.taskspec import prompt_messages

    try:
        plan = plan_task(spec, limit=limit)
        verifier = rules_for(spec)
        check_golds(spec, plan.problems, verifier, "their samples will be left unjudged", "nothing to evaluate")
        for problem in plan.problems[:1]:
            prompt_messages(spec, problem)
    except InputError as e:
        raise InputError(f"EvalCallback: task {spec.name}: {e}") from None


NEEDS_TRAINER = ("EvalCallback needs its trainer (a callback given in Trainer(callbacks=[...]) is not shown it): "
                 "EvalCallback(...).attach(trainer), or EvalCallback(..., trainer=trainer)")


def eval_metrics(run_dir: str | Path, model: str | None = None) -> dict[str, float]:
    """The figures the callback logs, from a run directory's results.json and samples.jsonl.

    model: whose figures, for a run that holds several models (required then: the keys name tasks,
    not models, so one model's figures would overwrite another's). Raises InputError for a model the
    run does not hold.
    """
    from evalkit.errors import InputError
    from evalkit.metrics import ks_for
    from evalkit.run.rundir import RunDir, scored_samples
    from evalkit.trace import summarize

    run = RunDir(run_dir)
    results = run.results() or []
    config = run.config() or {}
    models = sorted({str(r.get("model")) for r in results})
    if model is None and len(models) > 1:
        raise InputError(f"{run_dir}: the run holds {len(models)} models ({', '.join(models)}); "
                         "name the one whose figures to log (model=)")
    if model is not None and model not in models:
        raise InputError(f"{run_dir}: no results for model {model!r} (it holds {', '.join(models) or 'none'})")
    samples = scored_samples(run.samples(), config)  # the samples results.json counts
    families = {t.get("name"): {m.lower() for m in t.get("metrics") or ()} for t in config.get("tasks") or []}
    out: dict[str, float] = {}
    for r in results:
        if model is not None and r.get("model") != model:
            continue
        task = r["task"]
        # a step where no sample could be judged (a sandbox down) logs NaN, not a gap in the curve
        chosen = families.get(task, {"avg@n", "pass@k"})
        if "avg@n" in chosen:
            out[f"eval/{task}/avg@n"] = math.nan
        if "pass@k" in chosen:
            out.update({f"eval/{task}/pass@{k}": math.nan for k in ks_for(r.get("samples_per_problem") or 0)})
        for name, stat in r["metrics"].items():
            if name == "avg@n" or name.startswith("pass@"):
                out[f"eval/{task}/{name}"] = _number(stat.get("value"))
        out[f"eval/{task}/truncated"] = r["n_truncated"] / r["n_samples"] if r["n_samples"] else math.nan
        out[f"eval/{task}/completion_tokens"] = _number(r.get("mean_completion_tokens"))
        sweep = r.get("think_budgets")
        budget = sweep.get("largest") if isinstance(sweep, dict) else None  # the budget the figures are of
        traces = [s["trace"] for s in samples if s["task"] == task and s.get("model") == r.get("model")
                  and (budget is None or s.get("budget") == budget) and s.get("trace")]
        out[f"eval/{task}/markers_per_1k"] = _number(summarize(traces)["markers_per_1k"]) if traces else math.nan
    return out


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


# ------------------------------------------------------------------------- the policy as a backend


class _AtStep:
    """A backend recorded under another model id (`<model>@step-<N>`), so runs of checkpoints differ.
    It shows the run what the engine shows (its tokenizer, which `--think-format auto` reads; the think
    format it stitches with), so the policy is evaluated as `evalkit run` evaluates the same model."""

    def __init__(self, inner: Any, model: str) -> None:
        self.inner, self.name, self.model = inner, inner.name, model
        if callable(getattr(inner, "interrupt", None)):  # a run stopped mid-sample stops the engine too
            self.interrupt = inner.interrupt

    @property
    def tokenizer(self) -> Any:
        return getattr(self.inner, "tokenizer", None)

    @property
    def think_format(self) -> Any:
        return self.inner.think_format  # AttributeError when the engine has none: the run sets none

    @think_format.setter
    def think_format(self, value: Any) -> None:
        self.inner.think_format = value

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        return self.inner.render(messages, think_prefill, chat_template_kwargs, think_format)

    def generate(self, requests):
        return self.inner.generate(requests)

    def close(self) -> None:
        pass  # the trainer owns the engine


class WeightPushError(RuntimeError):
    """TRL's sync_weights failed: a gather every process takes part in was left half done, which no evaluation
    skipped under on_error="warn" can mend (the next collective would wait until it times out)."""


def _trainers_vllm(trainer: Trainer) -> Any:
    return getattr(trainer, "vllm_generation", None) if getattr(trainer, "use_vllm", False) else None


def _push_weights(trainer: Trainer, step: int) -> None:
    """Put this step's weights into the trainer's vLLM, on every process. TRL's sync_weights gathers each parameter
    from every process (ZeRO-3, FSDP): a main process pushing alone waited for the others until the collective's
    timeout. Every process also sets TRL's marker alike, so its next generation pushes on all of them or on none."""
    vllm = _trainers_vllm(trainer)
    if vllm is None:
        return
    if getattr(trainer, "_last_loaded_step", None) != step or getattr(vllm, "_llm_weights_sleeping", False):
        try:
            vllm.sync_weights()  # vLLM holds the weights of the last generation, not of this step
        except Exception as e:
            raise WeightPushError(f"pushing the step's weights into vLLM failed on this process ({type(e).__name__}: "
                                  f"{e}); the other processes may be inside the same gather, so training cannot go on, "
                                  "whatever on_error says") from e
        trainer._last_loaded_step = step  # TRL's own marker: its next generation need not push them again


@contextlib.contextmanager
def _policy_engine(trainer: Trainer, step: int) -> Iterator[_AtStep]:
    """The trainer's current policy as an evalkit backend: its vLLM (colocate or server), else the
    model itself through transformers."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    name = f"{getattr(model, 'name_or_path', None) or 'policy'}@step-{step}"
    vllm = _trainers_vllm(trainer)
    if vllm is None:
        from evalkit.backends.transformers import TransformersBackend

        tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
        yield _AtStep(TransformersBackend.from_loaded(model, tokenizer, name), name)
        return
    if vllm.mode == "colocate":
        from evalkit.backends.vllm import VLLMBackend

        sleeps = bool(getattr(vllm, "enable_sleep_mode", False))
        if sleeps:
            vllm.llm.wake_up(tags=["kv_cache"])
        try:
            yield _AtStep(VLLMBackend.from_engine(vllm.llm, name), name)
        finally:
            if sleeps:  # as TRL leaves it after a generation
                vllm.llm.sleep(level=2)
                vllm._llm_weights_sleeping = True
        return
    from evalkit.backends.openai import OpenAIBackend

    client = vllm.vllm_client
    yield _AtStep(OpenAIBackend(model=client.model, base_url=f"{client.base_url.rstrip('/')}/v1",
                                endpoint="completions", tokenizer=model.name_or_path), name)


@contextlib.contextmanager
def _training_state_kept(trainer: Trainer) -> Iterator[None]:
    """Restore every random state training reads, and the model's mode, after an evaluation."""
    import numpy as np
    import torch

    model = trainer.accelerator.unwrap_model(trainer.model)
    was_training = model.training
    py, nprs, cpu = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    model.eval()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(nprs)
        torch.random.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        model.train(was_training)
