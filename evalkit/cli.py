"""The `evalkit` command line. Thin: parse options, call one library function, print.

Bad input raises evalkit.errors.InputError anywhere below; `main` turns it into one line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import signal
import sys
import threading
from typing import Any

import click

from evalkit import jsonl
from evalkit.errors import InputError, Terminated


THINK_FORMAT_HELP = ("How the model thinks: r1, sky, magistral, harmony, seed, none, FILE.yaml[:NAME], or auto "
                     "(from the chat template and tokenizer, or from the completions' markers).")


# a path a command was given, or writes to, that the file system refuses: the user's to fix, so one line
_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EROFS,
                errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG, errno.ELOOP}


def _path_error(e: OSError) -> str:
    """'PATH: why' for a file-system error, naming the user's path (not the temporary file beside it)."""
    where = str(e.filename).removesuffix(".tmp")
    why = "exists and is not a directory" if e.errno == errno.EEXIST else e.strerror
    return f"{where}: {why}"


def _terminate(signum, frame) -> None:  # noqa: ANN001 - a signal handler's signature
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated()


_RESUMABLE = frozenset({"run", "anytime"})  # commands a rerun resumes


MESSAGE_CHARS = 2000  # an error that echoes the value it refuses (a 400 kB option) is cut to what a screen shows


def _on_a_screen(message: str) -> str:
    """`message`, its middle cut where it is longer than MESSAGE_CHARS: what is wrong may come before the value it
    echoes (which option) or after it (why), so both ends are kept."""
    if len(message) <= MESSAGE_CHARS:
        return message
    half = MESSAGE_CHARS // 2
    return f"{message[:half]} … ({len(message) - 2 * half:,} characters left out) … {message[-half:]}"


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        ours = (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)  # an embedding program's handler stays
        if ours:
            signal.signal(signal.SIGTERM, _terminate)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:  # Ctrl-C (click would say "Aborted!" and exit 1, as for a crash), or SIGTERM
            term = isinstance(e, Terminated)
            saved = ("; what was finished is saved (rerun the same command to resume)"
                     if ctx.invoked_subcommand in _RESUMABLE else "")
            click.echo(f"{'' if term else chr(10)}evalkit: stopped by {'SIGTERM' if term else 'Ctrl-C'}{saved}", err=True)
            sys.exit(128 + (signal.SIGTERM if term else signal.SIGINT))
        except InputError as e:
            click.echo(f"evalkit: error: {_on_a_screen(str(e))}", err=True)
            sys.exit(2)
        except click.BadParameter as e:  # an option's value (a directory given for a file): one line, as ours are
            see = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            click.echo(f"evalkit: error: {_on_a_screen(e.format_message())}{see}", err=True)
            sys.exit(2)
        except OSError as e:
            if e.filename is None or e.errno not in _PATH_ERRNOS:
                raise
            click.echo(f"evalkit: error: {_path_error(e)}", err=True)
            sys.exit(2)
        finally:  # a program that called main() gets SIGTERM's default back
            if ours:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evalkit")
def main() -> None:
    """evalkit: evaluate reasoning models, analyze their traces, reward them with the same verifiers."""


# ---- commands: each block below belongs to one part; add yours as its own block ----


# ---- run, tasks (the pipeline) ----


class _BackendChoice(click.Choice):
    """--backend's choices: the backend registry's names (plugins included), read when first needed,
    so commands that never look pay nothing for scanning the installed entry points."""

    def __init__(self) -> None:
        self.case_sensitive = True

    @property
    def choices(self):  # type: ignore[override]
        from evalkit.backends.base import backend_names

        return tuple(backend_names())


class _Seconds(click.ParamType):
    """A duration in seconds: a finite number above 0 (click's FloatRange lets NaN and inf through)."""

    name = "seconds"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number of seconds, got {value!r}", param, ctx)
        if not 0 < seconds < math.inf:
            self.fail(f"expected a finite number of seconds above 0, got {value!r}", param, ctx)
        return seconds


SECONDS = _Seconds()


def _split_layers(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _budget_options(f):
    """Thinking budgets and budget forcing (evalkit.budgets); passed to evaluate() as they are."""
    options = [
        click.option("--think-budget", default=None,
                     help="Thinking budgets in tokens, e.g. 1024,2048,4096: thinking is cut at each, closed, "
                          "and answered; the largest is generated once and the others reuse it."),
        click.option("--answer-tokens", type=int, default=None,
                     help="Most answer tokens after a budget's cut (default 256)."),
        click.option("--answer-cue", default=None,
                     help="Text appended after a cut close (default: a blank line, **Final Answer**, a line break)."),
        click.option("--min-think", type=int, default=None,
                     help="Budget forcing (s1): a think close before this many tokens becomes the wait text."),
        click.option("--max-waits", type=int, default=None, help="Most waits forced per sample (default 2)."),
        click.option("--wait-text", default=None, help="What replaces a premature close (default 'Wait')."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@main.command("run")
@click.argument("tasks", nargs=-1)
@click.option("--model", "-m", default=None, help="Model id or local folder (vllm, transformers, openai).")
@click.option("--backend", type=_BackendChoice(), default=None,
              help="Default: vllm; replay with --completions; openai with --base-url.")
@click.option("--completions", type=click.Path(dir_okay=False), default=None,
              help="Score completions made elsewhere (a replay file); implies --backend replay.")
@click.option("-n", "n", type=int, default=None,
              help="Samples per problem (default: the task's; with --completions, what the file holds).")
@click.option("--temperature", type=float, default=None)
@click.option("--top-p", type=float, default=None)
@click.option("--max-tokens", type=int, default=None)
@click.option("--seed", type=int, default=None, help="Run seed; every sample derives its own from it.")
@click.option("--limit", type=int, default=None, help="Only the first L problems of each task.")
@click.option("--system-prompt", default=None)
@click.option("--think-prefill/--no-think-prefill", default=True, show_default=True,
              help="Force the reply to open thinking (the think format's prefill, '<think>\\n' for r1) "
                   "when the chat template does not.")
@click.option("--dtype", default="auto", show_default=True)
@click.option("--max-model-len", type=int, default=None,
              help="The context window (vllm; openai: the server's, which thinking budgets leave room in; read from a "
                   "vLLM server's /models when not given).")
@click.option("--revision", default=None, help="Model revision on the hub.")
@click.option("--trust-remote-code", is_flag=True, default=False)
@click.option("--base-url", multiple=True, help="OpenAI-compatible server URL (repeat for a fleet).")
@click.option("--endpoint", type=click.Choice(["chat", "completions"]), default=None,
              help="openai backend: chat (server-side template; the default) or completions (local template + prefill).")
@click.option("--concurrency", type=int, default=None, help="openai backend: requests in flight per server (32).")
@click.option("--request-timeout", type=SECONDS, default=None,
              help="openai backend: seconds a request may wait for its reply (default: as long as the generation "
                   "takes); one that runs past it is tried again, and its server is not counted as down.")
@click.option("--stream", is_flag=True, default=None,
              help="openai backend: stream each reply, token by token (through a gateway that cuts idle connections); "
                   "--request-timeout then bounds the wait for the next token, not the whole reply.")
@click.option("--tokenizer", default=None,
              help="openai backend with --endpoint completions: the tokenizer (hub id or path) prompts are rendered "
                   "with (default: the model's name, else the path the server reports for it).")
@click.option("--tp", type=int, default=1, show_default=True, help="Tensor-parallel GPUs per engine.")
@click.option("--dp", type=int, default=1, show_default=True, help="Engine replicas (data parallel).")
@click.option("--ray-address", default=None,
              help="Run the replicas on this Ray cluster (auto or HOST:PORT); default: a local one when --dp > 1.")
@click.option("--enforce-eager", is_flag=True, default=False, help="vLLM: no CUDA graphs / compilation.")
@click.option("--require-layers", default=None, help="Sandbox layers that must be in force (comma-separated).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="The run directory.")
@click.option("--overwrite", is_flag=True, default=False, help="Start the run over.")
@click.option("--no-progress", is_flag=True, default=False)
@click.option("--no-trace", is_flag=True, default=False, help="Skip the trace analyzer (`trace` stays null).")
@click.option("--reflection-model", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="The trace analyzer's reflection model: a file `evalkit fit-detector` wrote, instead of the "
                   "shipped weights (`shipped`: those; part of the run's identity).")
@click.option("--chat-template-kwargs", default=None,
              help='JSON options for the chat template, e.g. \'{"enable_thinking": true}\'.')
@click.option("--judge", default=None, help="A judge model, asked where the rules say wrong or no_answer.")
@click.option("--judge-base-url", default=None, help="The judge's OpenAI-compatible server URL (…/v1).")
@click.option("--judge-max-flips", type=int, default=None,
              help="Run `judge doctor`'s attacks first; refuse a judge that more than this many flip, or that "
                   "leaves a question without a reply (or one that does not parse), or rejects a right answer.")
@click.option("--judge-retries", type=int, default=None,
              help="How many times a question the judge's server refused as busy (408, 429, 5xx) or unreachable is "
                   "asked again, after 0.5, 1, 2 s... (default 3; 0: once only).")
@click.option("--since", default=None, help="Only problems dated on or after this day (YYYY-MM-DD; e.g. "
              "LiveCodeBench's contest date).")
@click.option("--until", default=None, help="Only problems dated on or before this day (YYYY-MM-DD).")
@click.option("--release", default=None, help="The dataset release to load (e.g. LiveCodeBench's release_v5).")
@_budget_options
@click.option("--think-format", default="auto", show_default=True, help=THINK_FORMAT_HELP)
@click.option("--reasoning-effort", type=click.Choice(["low", "medium", "high"]), default=None,
              help="How hard a model that takes it (gpt-oss) reasons: a chat-template kwarg and an OpenAI-compatible "
                   "server's reasoning_effort; part of the run's identity.")
def run_cmd(tasks, model, backend, completions, n, temperature, top_p, max_tokens, seed, limit, system_prompt,
            think_prefill, dtype, max_model_len, revision, trust_remote_code, base_url, endpoint, concurrency,
            request_timeout, stream, tokenizer, tp,
            dp, ray_address, enforce_eager, require_layers, out, overwrite, no_progress, no_trace,
            chat_template_kwargs, judge, judge_base_url, judge_max_flips, judge_retries, since, until,
            release, think_format, reasoning_effort, reflection_model, **budget) -> None:
    """Benchmark a model on TASKS (built-in names or YAML files); resumes an interrupted run."""
    from evalkit.run import evaluate
    from evalkit.table import results_table

    for flag, count in (("--judge-max-flips", judge_max_flips), ("--judge-retries", judge_retries)):
        if count is not None and count < 0:  # the flag's fault: a spec without verifier_options was blamed
            raise InputError(f"{flag}: expected a whole number of at least 0, got {count}")
    template_options = None
    if chat_template_kwargs:
        try:
            template_options = json.loads(chat_template_kwargs)
        except json.JSONDecodeError as e:
            raise InputError(f"--chat-template-kwargs: not JSON ({jsonl.json_error(e)})") from None
        if not isinstance(template_options, dict):
            raise InputError("--chat-template-kwargs: expected a JSON object such as '{\"enable_thinking\": true}'")
    # only the options given: a backend that does not take one says so (exit 2)
    backend_options = {k: v for k, v in (("endpoint", endpoint), ("concurrency", concurrency),
                                          ("timeout", request_timeout), ("tokenizer", tokenizer),
                                          ("stream", stream)) if v is not None}
    if enforce_eager:
        backend_options["enforce_eager"] = True
    if ray_address:
        backend_options["ray_address"] = ray_address
    result = evaluate(
        tasks, model=model, backend=backend, completions=completions, n=n, temperature=temperature, top_p=top_p,
        max_tokens=max_tokens, seed=seed, limit=limit, system_prompt=system_prompt, think_prefill=think_prefill,
        dtype=dtype, max_model_len=max_model_len, revision=revision, trust_remote_code=trust_remote_code,
        base_url=list(base_url) or None, tp=tp, dp=dp, require_layers=_split_layers(require_layers), out=out,
        overwrite=overwrite, progress=not no_progress, backend_options=backend_options, trace=not no_trace,
        chat_template_kwargs=template_options, judge=judge, judge_base_url=judge_base_url,
        judge_max_flips=judge_max_flips, judge_retries=judge_retries, since=since, until=until, release=release,
        think_format=think_format, reasoning_effort=reasoning_effort, reflection_model=reflection_model,
        **budget,
    )
    click.echo(results_table(result.results))
    for r in result.results:  # what a judge changed is never silent
        if r.get("judge"):
            j = r["judge"]
            click.echo(f"judge on {r['task']} / {r['model']}: consulted {j['consulted']}, flipped {j['flipped']} "
                       f"to correct, {j['unparsed']} unparsed, {j['faults']} faults")
            if j["faults"]:  # asked again by a rerun: say so where the count is read
                click.echo(f"  the judge gave no reply on {j['faults']} samples: they keep the rules' verdict "
                           "(rerunning the same command asks the judge again about those samples only)")
    if any("think_budgets" in r for r in result.results):
        from evalkit.budgets import format_budget_table

        click.echo("\n" + format_budget_table([r for r in result.results if "think_budgets" in r]))
    click.echo(f"\n{result.generated} samples new, {result.reused} reused; run directory: {result.run_dir}")
    if result.report:
        click.echo(f"report: {result.report}")


@main.command("tasks")
def tasks_cmd() -> None:
    """List the built-in tasks and suites."""
    from evalkit.taskspec import list_tasks

    from evalkit.suites import list_suites

    tasks = [(spec.name, spec.verifier, spec.dataset.hub or "bundled", spec.description) for spec in list_tasks()]
    suites = [(suite.name, "suite", " + ".join(suite.tasks), suite.description) for suite in list_suites()]
    # columns as wide as their longest cell (a suite's long task list aligns among the suites alone);
    # descriptions whole: a license note ends some of them
    for block in (tasks, suites):
        widths = [max(len(row[i]) for row in tasks + suites) for i in range(2)]
        widths.append(max((len(row[2]) for row in block), default=0))
        for row in block:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])


# ---- verify (issue 3): one pair, or a JSON-lines file of pairs ----


# `evalkit verify -5 -5`: a negative answer is an answer, not an unknown option.
@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("pred", required=False)
@click.argument("gold", required=False)
@click.option("--verifier", default="math", show_default=True,
              help="math, choice, code (GOLD: code-test JSON), or a plugin's name (with --pairs: for lines "
                   "that name none)")
@click.option("--json", "as_json", is_flag=True, help="print the Verdict as JSON")
@click.option("--completion", "is_completion", is_flag=True,
              help="PRED is a model's whole output (answer read after its think block), not a final answer")
@click.option("--pairs", type=click.Path(dir_okay=False), help="JSON lines: completion (a model's output) or "
              "answer (final answer text), gold, optional verifier, finish_reason, id")
@click.option("--out", type=click.Path(dir_okay=False), help="with --pairs: write the verdict lines here")
@click.option("--think-format", default="auto", show_default=True, help=THINK_FORMAT_HELP)
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="a verifier option, as a task spec's verifier_options gives it (the value read as YAML): "
                   "`--option letters=ABCD` for four options (choice reads A-J by default); with --pairs, for the "
                   "lines whose verifier is --verifier's")
def verify(pred: str | None, gold: str | None, verifier: str, as_json: bool, is_completion: bool,
           pairs: str | None, out: str | None, think_format: str, options: tuple[str, ...]) -> None:
    """Check PRED (a final answer, read whole; with --completion a model's output) against GOLD, or
    every line of --pairs FILE."""
    from evalkit.verifiers.base import VerifyItem

    verifier_options = _verifier_options(options)

    if pairs:
        if pred is not None:
            raise InputError("give either PRED GOLD or --pairs FILE, not both")
        from evalkit.verifiers._pairs import verify_pairs

        _check_out("verify", out, pairs=pairs)  # the verdicts would replace the pairs they were made from
        with contextlib.redirect_stdout(sys.stderr):  # what a plugin prints is not a verdict line
            lines = list(verify_pairs(pairs, verifier, think_format, **verifier_options))  # a bad line stops it before --out is touched
        if out:
            with open(out, "w", encoding="utf-8") as f:
                for row in lines:
                    f.write(jsonl.dumps(row) + "\n")
        else:
            for row in lines:
                click.echo(jsonl.dumps(row))
        return
    if pred is None or gold is None:
        raise InputError("verify needs PRED and GOLD (or --pairs FILE)")
    if out:
        raise InputError("--out writes the verdicts of --pairs FILE; PRED GOLD prints its verdict")
    from evalkit.thinking import decide

    fmt = decide(think_format, completions=[pred] if is_completion else None).format
    item = VerifyItem(pred, gold, answer_only=not is_completion, think_format=fmt)
    with contextlib.redirect_stdout(sys.stderr):  # what a plugin prints is not the verdict (--json is read by programs)
        v = _verify_one(verifier, verifier_options, item, gold)
    if as_json:
        click.echo(jsonl.dumps(v.to_dict()))
    else:
        click.echo(f"{v.reason}: answer {v.answer if v.answer is not None else '(none)'} vs gold {gold} "
                   f"({v.detail}, {v.ms:.0f} ms)")
    if v.correct is None:  # no verdict (a verifier that failed or hung): not a checked answer, whatever the output
        sys.exit(1)


def _verify_one(verifier: str, verifier_options: dict[str, Any], item: Any, gold: str) -> Any:
    """`evalkit verify PRED GOLD`'s verdict: the verifier built, GOLD checked, the one item verified."""
    from evalkit.verifiers.base import get_verifier, gold_problem, option_problem, verify_checked, verify_wait
    from evalkit.verifiers.code import bad_tests

    try:
        built = get_verifier(verifier, **verifier_options)
    except KeyError as e:  # unknown, or a plugin that cannot be loaded
        raise InputError(f"--verifier: {e.args[0]}") from None
    except (ValueError, TypeError) as e:  # one that refuses to be built (`judge` alone, `math+judge` unconfigured)
        raise InputError(f"--verifier {verifier}: {option_problem(verifier, e) if verifier_options else e}") from None
    if verifier_options.get("require_layers"):  # missing layers are the command's error (exit 2), as for `run`
        from evalkit.verifiers.base import check_verifier

        check_verifier(built)
    why = gold_problem(built, gold)
    if why:  # the verdict would be `error`, and exit 0 would read as checked
        raise InputError(f"GOLD {gold[:60]!r}: {why}")
    # a faulty plugin's verdict is `error`, not a traceback; one that hangs is unjudged at the run's deadline
    [v] = verify_checked(built, [item], verify_wait(built, 1))
    if bad_tests(v):  # tests that test nothing: found only once run
        raise InputError(f"GOLD {gold[:60]!r}: {bad_tests(v)}")
    return v


def _verifier_options(options: tuple[str, ...]) -> dict[str, Any]:
    """`--option KEY=VALUE`s as verifier options: each value read as YAML, as a task spec's (`rel_tol=1e-3` is a
    number)."""
    import yaml

    from evalkit.yamlfile import load

    out: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option {option!r}: expected KEY=VALUE, such as letters=ABCD")
        try:
            out[key.strip()] = load(value, f"--option {key.strip()}") if value.strip() else value
        except yaml.YAMLError as e:
            raise InputError(f"--option {option!r}: the value is not YAML ({str(e).splitlines()[0]})") from None
    return out


# ---- rewards: evalkit export, evalkit serve-rewards (evalkit.rewards) ----


@main.command("export")
@click.argument("task")
@click.option("--format", "fmt", type=click.Choice(["trl", "verl"]), required=True,
              help="trl: prompt messages + answer/tests columns (jsonl, or parquet by suffix); verl: veRL's parquet.")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="The file to write.")
@click.option("--limit", type=int, default=None, help="Only the first N problems (at least 1).")
@click.option("--think-format", default="auto", show_default=True,
              help=THINK_FORMAT_HELP + " Written to every row, for the rewards.")
@click.option("--gold-lists", is_flag=True, default=False,
              help="Write every gold as a list (one answer: a list of one), as a file with several accepted answers "
                   "on some row does anyway: for files a trainer loads together (veRL's train_files).")
@click.option("--since", default=None, help="Only problems dated on or after this day (YYYY-MM-DD), as for `run`.")
@click.option("--until", default=None, help="Only problems dated on or before this day (YYYY-MM-DD).")
@click.option("--release", default=None, help="The dataset release to load (e.g. LiveCodeBench's release_v5).")
def export_cmd(task: str, fmt: str, out: str, limit: int | None, think_format: str, gold_lists: bool,
               since: str | None, until: str | None, release: str | None) -> None:
    """Write TASK (a built-in name or a YAML path) as a GRPO training set."""
    from evalkit.rewards.export import export_task

    from evalkit.rewards.export import trainer_notes
    from evalkit.taskspec import load_task

    path = export_task(task, fmt, out, limit=limit, think_format=think_format, gold_lists=gold_lists,
                       since=since, until=until, release=release)
    click.echo(f"wrote {path} ({fmt})")
    for note in trainer_notes([load_task(task)]):
        click.echo(note, err=True)


@main.command("serve-rewards")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True,
              help="0 picks a free port.")
@click.option("--verifier", default="math", show_default=True,
              help="For labels that are not code-test JSON (those always go to `code`).")
@click.option("--separator", default=None, help="Text that ends the prompt inside a query, where the prompt is not "
                                                 "found in it (its first occurrence; else the chat template's "
                                                 "assistant marker).")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Requests judged at once (together, in one round under one deadline).")
@click.option("--partial/--no-partial", default=False, help="Code answers score the fraction of tests passed.")
@click.option("--per-answer-timeout", type=SECONDS, default=None,
              help="Seconds per answer (for code, per test) [default: a code verifier's --option timeout_s, else 1].")
@click.option("--batch-deadline", type=SECONDS, default=10.0, show_default=True, help="Seconds per request.")
@click.option("--think-format", default="r1", show_default=True,
              help="How the policy thinks: r1, sky, magistral, harmony, seed, none, FILE.yaml[:NAME], or auto (per "
                   "response, from its markers); a request's own field wins.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="an option of --verifier, as a task spec's verifier_options gives it (the value read as YAML): "
                   "`--option require_box=true`, `--option letters=ABCD` (GPQA's four options)")
def serve_rewards_cmd(host: str, port: int, verifier: str, separator: str | None, max_concurrency: int,
                      partial: bool, per_answer_timeout: float | None, batch_deadline: float, think_format: str,
                      options: tuple[str, ...]) -> None:
    """Serve rewards over HTTP in OpenRLHF's remote reward protocol (POST /get_reward, GET /health)."""
    from evalkit.rewards.server import RewardServer, check_verifier_options
    from evalkit.verifiers import get_verifier

    if separator is not None and not separator:  # found at the start of every query: the whole query is the answer
        raise InputError("--separator is empty (an unset shell variable?): give the text that ends the prompt, "
                         "or leave the option out")
    try:
        get_verifier(verifier)
    except (KeyError, ValueError, TypeError) as e:  # unknown, or one that needs options (`math+judge`)
        raise InputError(f"--verifier: {e.args[0] if e.args else e}") from None
    verifier_options = _verifier_options(options)
    try:
        check_verifier_options(verifier, verifier_options)
    except InputError as e:
        raise InputError(f"--option: {e}") from None
    try:
        server = RewardServer(host, port, verifier=verifier, separator=separator, max_concurrency=max_concurrency,
                              partial=partial, per_answer_s=per_answer_timeout, batch_deadline_s=batch_deadline,
                              think_format=think_format, verifier_options=verifier_options)
    except InputError as e:  # the only one it raises: an unknown think format
        raise InputError(f"--think-format: {e}") from None
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    click.echo(f"evalkit reward server on {server.url} (POST /get_reward, GET /health; verifier {verifier})",
               err=True)
    server.serve()
    click.echo("evalkit reward server stopped", err=True)


# ---- curate (issue 16): training data from a run, by pass rate ----


@main.command("curate")
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option("--pass-rate", "pass_rate", required=True,
              help="LOW:HIGH, inclusive: keep problems whose avg@n lies in it (e.g. 0.1:0.9).")
@click.option("--format", "fmt", type=click.Choice(["trl", "verl"]), required=True,
              help="As for `evalkit export`: trl (jsonl, or parquet by suffix) or verl (parquet).")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="The file to write.")
@click.option("--min-samples", type=int, default=1, show_default=True,
              help="Drop problems with fewer judged samples.")
@click.option("--dedup", is_flag=True, default=False, help="Drop exact and normalised-text duplicates.")
@click.option("--decontaminate", multiple=True,
              help="Drop problems sharing a 13-word n-gram with this benchmark, or holding one of its shorter "
                   "problems whole (a task name, a YAML path, or all); repeat, or give several separated by "
                   "commas.")
@click.option("--model", default=None, help="For a run holding several models: whose pass rates to use.")
@click.option("--budget", type=int, default=None,
              help="For a run with thinking budgets (--think-budget): whose samples give the pass rates "
                   "(default: the largest, as results.json's headline). Budgets are never mixed.")
@click.option("--dropped", "dropped_out", type=click.Path(dir_okay=False), default=None,
              help="The side file of dropped rows (default: OUT's stem + .dropped.jsonl).")
@click.option("--think-format", default=None,
              help="How the policy will think, written to every row for the rewards (as for `evalkit export`; "
                   "default: the run's own think format).")
@click.option("--gold-lists", is_flag=True, default=False,
              help="Write every gold as a list (one answer: a list of one), as a file with several accepted answers "
                   "on some row does anyway: for files a trainer loads together (veRL's train_files).")
def curate_cmd(run_dir: str, pass_rate: str, fmt: str, out: str, min_samples: int, dedup: bool,
               decontaminate: tuple[str, ...], model: str | None, budget: int | None,
               dropped_out: str | None, think_format: str | None, gold_lists: bool) -> None:
    """Write the problems of RUN_DIR whose pass rate lies in LOW:HIGH as GRPO training data."""
    from evalkit.curate import curate, summary_table

    tasks = [t.strip() for value in decontaminate for t in value.split(",") if t.strip()]
    if decontaminate and not tasks:  # `--decontaminate "$BENCH"` with BENCH unset would let contaminated rows through
        raise InputError(f"--decontaminate {' '.join(map(repr, decontaminate))}: names no benchmark (expected task "
                         "names or spec files, comma-separated: aime24,math500)")
    result = curate(run_dir, pass_rate, fmt, out, min_samples=min_samples, dedup=dedup, decontaminate=tasks,
                    model=model, dropped_out=dropped_out, budget=budget, think_format=think_format,
                    gold_lists=gold_lists)
    click.echo(summary_table(result))
    click.echo(f"\nwrote {result.out} ({fmt}, {result.kept} rows); dropped rows and why: {result.dropped_path}")
    for note in result.notes:
        click.echo(note, err=True)


# ---- report (issue 7) ----
@main.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="HTML file to write. One run: default RUN_DIR/index.html. Several: required.")
def report_cmd(run_dirs: tuple[str, ...], out: str | None) -> None:
    """Render a run's HTML report again, or compare several runs (the first is the baseline)."""
    from evalkit.report import write_compare, write_report

    if len(run_dirs) == 1:
        click.echo(write_report(run_dirs[0], out))
        return
    if out is None:
        raise InputError("comparing runs needs --out FILE (the compare page to write)")
    click.echo(write_compare(list(run_dirs), out))


# ---- sandbox (code verifier): `evalkit sandbox doctor` ----


@main.group("sandbox")
def sandbox_group() -> None:
    """The code sandbox: which isolation layers this machine gives, and whether they hold."""


@sandbox_group.command("doctor")
@click.option("--require-layers", default="", help="Comma-separated layers that must be in force (exit 2 if not).")
@click.option("--no-attacks", is_flag=True, help="Only list the layers; do not run the attack suite.")
@click.option("--timeout", "timeout_s", type=SECONDS, default=2.0, show_default=True,
              help="Per-test time limit for the attacks.")
def sandbox_doctor(require_layers: str, no_attacks: bool, timeout_s: float) -> None:
    """List the sandbox layers in force and run the built-in attack suite against them."""
    from evalkit.sandbox import sandbox_doctor as doctor

    ok = doctor(require_layers, run_attack_suite=not no_attacks, timeout_s=timeout_s, echo=click.echo)
    if not ok:
        sys.exit(1)


# ---- trace analyzer (issue 5): `evalkit analyze` ----


def _check_out(command: str, out: str | None, reads: tuple[str, ...] = (), **options: str | None) -> None:
    """Refuse an --out that is what `command` reads: one of `reads` (JSON-lines files or run directories,
    with the run's files) or a file given to one of `options` (its name, `_` for `-`, -> the path given;
    None or `shipped`: no file)."""
    from pathlib import Path

    from evalkit.outputs import check_outputs, read_files, runs_around

    inputs = {path: what for file in reads for path, what in read_files(file).items()}
    inputs.update({Path(path): f"the --{option.replace('_', '-')} file" for option, path in options.items()
                   if path is not None and path != "shipped"})
    inputs.update(runs_around({"--out": out}))  # a run it does not read: that run's files are not ours either
    check_outputs({"--out": out}, inputs, command)


def _reflection_model_for(file: str, given: str | None, detector: str = "model") -> Any:
    """The reflection model to analyze FILE with: the one given (`shipped`: the shipped weights), else,
    for a run directory (or its samples.jsonl) and the `model` detector, the one its run was traced
    with, so its analysis reads the acts its samples hold. That file must still be the one the run
    recorded (its sha256): InputError naming the run and the file when it is gone or has changed."""
    from pathlib import Path

    if given is not None:
        return None if given == "shipped" else given
    if detector not in ("model", "learned"):
        return None
    from evalkit.run.rundir import RunDir

    path = Path(file)
    if path.is_dir():
        run = RunDir(path)
        config = run.config()
    elif path.name == "samples.jsonl" and RunDir(path.parent).config_path.is_file():
        run = RunDir(path.parent)
        try:  # a samples.jsonl beside another tool's config.json is a plain file of completions
            config = run.config()
        except InputError:
            return None
    else:
        return None
    recorded = config.get("reflection_model") if isinstance(config, dict) else None
    if not isinstance(recorded, dict) or not recorded.get("file"):
        return None
    from evalkit.trace._model import load_model

    sha = str(recorded.get("sha256"))
    was = f"{run.path}: the run was traced with reflection model {recorded['file']} (sha256 {sha[:12]})"
    how = "pass --reflection-model FILE (that model) or --reflection-model shipped"
    try:
        model = load_model(recorded["file"])
    except InputError as e:
        raise InputError(f"{was}, which cannot be read now ({e}); {how}") from None
    if model.sha256 != sha:
        raise InputError(f"{was}, and that file has changed since (sha256 {model.sha256[:12]}); {how}")
    click.echo(f"evalkit: the run's reflection model: {recorded['file']} (--reflection-model shipped for the shipped "
               "weights)", err=True)
    return model


# analyze's options the judge detector has no use for (their parameters): refused, not ignored
_NOT_FOR_JUDGE = ("out", "rules_path", "tokenizer", "reflection_model", "workers", "gold_field", "verifier")


@main.command("analyze")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--completion-field", default="completion", show_default=True, help="The field holding the model's text.")
@click.option("--gold-field", default="gold", show_default=True, help="The field holding the gold answer.")
@click.option("--verifier", default="math", show_default=True,
              help="Verifier for the candidate answers (a registered name, or 'none' to verify nothing).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write each line read (of a run directory: each sample its results count) with its `trace` "
                   "field added, in order.")
@click.option("--think-open/--no-think-open", default=False, show_default=True,
              help="The prompts opened the think block (completions start inside it); a line's own "
                   "`think_open` field wins.")
@click.option("--tokenizer", default=None, help="A Hugging Face tokenizer (id or path) to count tokens, not characters.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="A YAML file of extra marker rules (see evalkit.trace.load_rules).")
@click.option("--judge", "judge_model", default=None, help="--detector judge: the judge model.")
@click.option("--judge-base-url", default=None, help="--detector judge: its OpenAI-compatible URL (…/v1).")
@click.option("--detector", type=click.Choice(["model", "rules", "learned", "judge"]), default="model", show_default=True,
              help="model: the sentence classifier fitted on rubric-labelled traces (see "
                   "bench/trace/results/reflection_f1.md); rules: the rule table read literally; "
                   "learned: the older name of model; judge: a judge model labels the sentences.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for the marker search (default: the CPUs this process may use, up to 8, for 256 "
                   "lines or more; else 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--think-format", default="auto", show_default=True, help=THINK_FORMAT_HELP)
@click.option("--reflection-model", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="--detector model: a model file `evalkit fit-detector` wrote, instead of the shipped weights "
                   "(`shipped`: those; default for a run directory: the model its run was made with).")
def analyze_cmd(file: str, completion_field: str, gold_field: str, verifier: str, out: str | None,
                think_open: bool, tokenizer: str | None, rules_path: str | None, judge_model: str | None,
                judge_base_url: str | None, detector: str, workers: int | None, as_json: bool,
                think_format: str, reflection_model: str | None) -> None:
    """Analyze the reasoning traces in FILE.jsonl (or a run directory's samples, those its results count):
    reflection, self-correction, over- and underthinking."""
    import json as _json

    if detector == "judge":  # a judge model labels the thinking; compared with the rules detector
        from evalkit.trace.judge_detector import judge_detect_file

        if not (judge_model and judge_base_url):
            raise InputError("--detector judge needs --judge MODEL --judge-base-url URL")
        ctx = click.get_current_context()
        unused = [p.opts[0] for p in ctx.command.params if p.name in _NOT_FOR_JUDGE
                  and ctx.get_parameter_source(p.name) is not click.core.ParameterSource.DEFAULT]
        if unused:  # the judge's summary is printed as JSON, and nothing else is written or read
            raise InputError(f"--detector judge does not take {', '.join(unused)}: the judge labels the "
                             "thinking and prints its summary as JSON, and writes no file")
        summary = judge_detect_file(file, judge_model, judge_base_url, completion_field=completion_field,
                                    think_open=think_open, think_format=think_format)
        click.echo(_json.dumps(summary, indent=2))
        if summary["failed_chunks"]:  # no reply is the judge's fault, not a reply of the wrong form
            click.echo(f"evalkit: {'error' if summary['failed_chunks'] == summary['chunks'] else 'warning'}: "
                       f"the judge gave no reply for {summary['failed_chunks']} of {summary['chunks']} chunks "
                       f"(the first: {summary['judge_error']})", err=True)
            if summary["failed_chunks"] == summary["chunks"]:
                sys.exit(1)
        return

    if judge_model or judge_base_url:  # refused, not ignored: the summary would hold no judge's reading
        raise InputError(f"{'--judge' if judge_model else '--judge-base-url'} is for --detector judge (the detector "
                         f"is {detector}); add --detector judge to have the judge label the thinking")
    if detector == "rules" and reflection_model is not None:  # refused, not ignored: the user meant to use it
        raise InputError(f"--reflection-model {reflection_model}: the rules detector reads the rule table alone; "
                         "a reflection model is for --detector model")
    _check_out("analyze", out, (file,), rules=rules_path, reflection_model=reflection_model)
    reflection_model = _reflection_model_for(file, reflection_model, detector)

    from evalkit.trace import analyze_file, format_summary, load_rules

    tok = None
    if tokenizer:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(tokenizer)
        except Exception as e:  # an unknown id, no network, no transformers
            raise InputError(f"--tokenizer {tokenizer}: cannot load it ({type(e).__name__}: {e})") from None
    rules = load_rules(rules_path) if rules_path else None
    summary = analyze_file(file, out, completion_field=completion_field, gold_field=gold_field or None,
                           verifier=None if verifier.lower() == "none" else verifier, think_open=think_open,
                           tokenizer=tok, rules=rules, detector=detector, workers=workers, think_format=think_format,
                           reflection_model=reflection_model)
    click.echo(_json.dumps(summary, indent=2) if as_json else format_summary(summary))
    if not as_json:
        click.echo(f"think format: {summary['think_format']['name']} ({summary['think_format']['decided_by']})")
    given = click.get_current_context().get_parameter_source("gold_field") is not click.core.ParameterSource.DEFAULT
    if gold_field and verifier.lower() != "none" and not summary["lines_with_gold"]:  # a misspelt field, or none given
        click.echo(f"evalkit: warning: no line has a field '{gold_field}' (--gold-field{'' if given else ', its default'})"
                   ": nothing was verified" + ("" if given else "; name the file's gold field, or give --verifier none"),
                   err=True)


# ---- the detector fitted to a model's own traces: `evalkit label-sheet`, `evalkit fit-detector` ----


@main.command("label-sheet")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The sheet to write: one line per trace, every sentence of its thinking with a label.")
@click.option("--completion-field", default="completion", show_default=True, help="The field holding the model's text.")
@click.option("--think-open/--no-think-open", default=False, show_default=True,
              help="The prompts opened the think block; a line's own `think_open` field wins.")
@click.option("--think-format", default="auto", show_default=True, help=THINK_FORMAT_HELP)
@click.option("--blank", is_flag=True, default=False,
              help="Label every sentence `other` instead of with the detector's guess (nothing to anchor on).")
@click.option("--reflection-model", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Guess with this model file instead of the shipped weights (`shipped`: those; default for a "
                   "run directory: the model its run was made with).")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="A YAML file of your own rule rows, before the built-in table.")
def label_sheet_cmd(file: str, out: str, completion_field: str, think_open: bool, think_format: str, blank: bool,
                    reflection_model: str | None, rules_path: str | None) -> None:
    """Write a labelling sheet for the traces in FILE.jsonl (or a run directory's samples, those its results
    count): correct its labels (doubt, check, verdict, other: the rubric is in docs/trace.md, "The rubric"), then
    `evalkit fit-detector`."""
    from pathlib import Path

    from evalkit.jsonl import write_jsonl
    from evalkit.trace import load_rules
    from evalkit.trace._file import _read, file_format
    from evalkit.trace._fit import label_sheet

    if blank and (reflection_model or rules_path):  # nothing guesses the labels: they would change nothing
        given = "--reflection-model" if reflection_model else "--rules"
        raise InputError(f"--blank labels every sentence other: {given} would change nothing (leave one out)")
    _check_out("label-sheet", out, (file,), rules=rules_path, reflection_model=reflection_model)
    reflection_model = _reflection_model_for(file, reflection_model)
    rows = _read(Path(file), completion_field, None)
    fmt = file_format(file, think_format, [r[completion_field] for r in rows],  # a run's: the one it recorded
                      any(r.get("think_open", think_open) for r in rows)).format
    lines = label_sheet(rows, completion_field=completion_field, think_open=think_open, think_format=fmt,
                        blank=blank, reflection_model=reflection_model,
                        rules=load_rules(rules_path) if rules_path else None)
    write_jsonl(out, lines)
    n = sum(len(line["sentences"]) for line in lines)
    marked = sum(s["label"] != "other" for line in lines for s in line["sentences"])
    click.echo(f"wrote {out}: {len(lines)} traces, {n} sentences, {marked} labelled doubt, check or verdict "
               f"{'(all other: --blank)' if blank else 'by the detector'}; correct the labels, then "
               f"evalkit fit-detector {out} --out my_detector.json")


@main.command("fit-detector")
@click.argument("sheets", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str), help="The model file to write.")
@click.option("--base", default="shipped", show_default=True,
              help="The weights to adapt: shipped, or a model file fit-detector wrote.")
@click.option("--from-scratch", is_flag=True, default=False,
              help="Fit new weights on these traces alone instead of adapting (needs hundreds of traces).")
@click.option("--c", "c", type=float, default=None,
              help="Inverse penalty: how far the weights may move (default 1.0 adapting, 0.5 from scratch).")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="A YAML file of your own rule rows (before the built-in table): the fit reads them as features, "
                   "and the model carries them, so analysis with it reads them too.")
@click.option("--cv", is_flag=True, default=False,
              help="Also fit with traces held out, and print how the fit and the base read the traces they did "
                   "not see: whether the fit is worth using. One trace at a time up to 20 traces, else 10 folds.")
def fit_detector_cmd(sheets: tuple[str, ...], out: str, base: str, from_scratch: bool, c: float | None,
                     rules_path: str | None, cv: bool) -> None:
    """Fit the `model` reflection detector to labelled sheets (`evalkit label-sheet`, corrected): by
    default the shipped weights, adapted. Use the result with `evalkit analyze --reflection-model`."""
    from evalkit.trace import load_rules
    from evalkit.trace._fit import agreement, cross_validate, fit_detector, read_labelled, save_model
    from evalkit.trace._model import model_of

    if c is not None and not 0 < c < math.inf:
        raise InputError(f"--c must be a positive number, got {c}")
    if from_scratch and click.get_current_context().get_parameter_source("base") is not click.core.ParameterSource.DEFAULT:
        raise InputError(f"--base {base} and --from-scratch exclude each other: adapt those weights, or fit new ones")
    seen: dict[str, str] = {}
    for path in sheets:
        first = seen.get(os.path.realpath(path))
        if first is not None:
            raise InputError(f"the sheet {path} is given twice{f' (first as {first})' if first != path else ''}: "
                             "its traces would count twice in the fit")
        seen[os.path.realpath(path)] = path
    contents: dict[str, str] = {}  # a renamed copy counts twice as well
    for path in sheets:
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            continue  # read_labelled says why
        if digest in contents:
            raise InputError(f"the sheets {contents[digest]} and {path} are the same, byte for byte: its traces would "
                             "count twice in the fit")
        contents[digest] = path
    _check_out("fit-detector", out, sheets, rules=rules_path, base=None if from_scratch else base)
    rules = load_rules(rules_path) if rules_path else None
    traces = [t for path in sheets for t in read_labelled(path)]
    if cv and len(traces) < 2:
        raise InputError(f"--cv holds out one trace at a time: it needs two traces at least, the sheets have {len(traces)}")
    start = None if from_scratch else model_of(base)
    # before the model is written: sheets it cannot hold out are refused with nothing on disk
    def fitted(done: int, total: int) -> None:
        print(f"\revalkit: --cv: {done} of {total} held-out fits done", end="\n" if done == total else "",
              file=sys.stderr, flush=True)

    held = cross_validate(traces, base=start, c=c, rules=rules, progress=fitted) if cv else None
    model = fit_detector(traces, base=start, c=c, rules=rules)
    save_model(model, out)
    info = model.data["trained_on"]
    counts = ", ".join(f"{k} {v}" for k, v in info["labels"].items())
    click.echo(f"fitted on {info['sentences']} labelled sentences of {info['traces']} traces ({counts}), "
               f"{'from scratch' if start is None else 'adapted from ' + ('the shipped weights' if base == 'shipped' else base)} "
               f"(C={info['C']}); wrote {out}")
    if model.rules:
        n = len(model.rules)
        click.echo(f"it carries {n} rule row{'s' if n != 1 else ''} of your own ({', '.join(r.name for r in model.rules)}): "
                   "analysis with it reads them as features")
    scores = agreement(traces, model, *([start] if start is not None else []))
    line = f"agreement with these labels (in-sample): F1 {scores[0]['f1']:.3f}"
    if start is not None:
        line += f", the {base} weights {scores[1]['f1']:.3f}"
    click.echo(line)
    if held is not None:
        how = "leave one trace out" if held["folds"] == held["distinct"] else f"{held['folds']} folds of whole traces"
        copies = held["traces"] - held["distinct"]
        line = (f"{how} ({held['traces']} traces"
                f"{f'; {copies} repeating another one, held out with it' if copies else ''}): "
                f"F1 {held['fitted']['f1']:.3f}")
        if held["base"] is not None:
            line += f", the {base} weights {held['base']['f1']:.3f}"
            if held["fitted"]["f1"] <= held["base"]["f1"]:
                line += f" (the fit reads unseen traces no better: keep the {base} weights, or label more traces)"
        click.echo(line)
    click.echo(f"use it: evalkit analyze FILE --reflection-model {out} (or evalkit run ... --reflection-model {out})")


# ---- anytime curves (issue 15): `evalkit anytime` ----


@main.command("anytime")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--budgets", default=None, help="Thinking budgets in tokens, e.g. 1024,2048,4096 "
                                              "(default: powers of two from 512 up to the longest thinking).")
@click.option("--no-generate", is_flag=True, default=False,
              help="The free estimate: the latest candidate answer of each trace's trajectory before the cut.")
@click.option("--backend", type=click.Choice(["vllm", "openai"]), default=None,
              help="What generates the probes' answers (default: openai with --base-url, else the run's backend).")
@click.option("--model", "-m", default=None, help="Model for the probes (default: the run's).")
@click.option("--base-url", multiple=True, help="openai backend: the completions server.")
@click.option("--tokenizer", default="auto", show_default=True,
              help="How thinking is counted: auto (the model's tokenizer, else recorded counts), recorded, or a name.")
@click.option("--answer-tokens", type=int, default=None, help="Tokens of each probe's answer (default 256).")
@click.option("--answer-cue", default=None,
              help="Text after each probe's close (default: a blank line, **Final Answer**, a line break).")
@click.option("--dtype", default="auto", show_default=True)
@click.option("--max-model-len", type=int, default=None)
@click.option("--enforce-eager", is_flag=True, default=False)
def anytime_cmd(run_dir, budgets, no_generate, backend, model, base_url, tokenizer, answer_tokens, answer_cue, dtype,
                max_model_len, enforce_eager) -> None:
    """Accuracy against thinking for a finished run: probe every recorded trace at each budget."""
    from evalkit.anytime import anytime
    from evalkit.budgets import DEFAULT_ANSWER_CUE, DEFAULT_ANSWER_TOKENS

    if no_generate:  # the free estimate asks the model nothing: these would change nothing
        for name, value in (("--answer-tokens", answer_tokens), ("--answer-cue", answer_cue)):
            if value is not None:
                raise InputError(f"{name} shapes the probes' generated answers: it does nothing with --no-generate")
        if model is not None:
            raise InputError("--model picks the model that generates the probes' answers: it does nothing with "
                             "--no-generate (--tokenizer NAME picks what counts the thinking)")
        for name, given in (("--backend", backend is not None), ("--base-url", bool(base_url)),
                            ("--dtype", dtype != "auto"), ("--max-model-len", max_model_len is not None),
                            ("--enforce-eager", enforce_eager)):
            if given:
                raise InputError(f"{name} sets up the engine that generates the probes' answers: it does nothing "
                                 "with --no-generate, which starts none")

    # Engine settings go only where given: the openai backend has no dtype and refuses one.
    options = {"backend": backend, "model": model}
    if dtype != "auto":
        options["dtype"] = dtype
    if max_model_len is not None:
        options["max_model_len"] = max_model_len
    if base_url:  # a server's URL means the openai backend, as for `evalkit run`
        options.update(backend=backend or "openai", base_url=list(base_url), endpoint="completions", tokenizer=model)
    if enforce_eager:
        options["enforce_eager"] = True
    if answer_tokens is not None and answer_tokens < 1:
        raise InputError(f"--answer-tokens must be at least 1, got {answer_tokens}")
    summary = anytime(run_dir, budgets, generate=not no_generate, tokenizer=tokenizer,
                      answer_tokens=answer_tokens or DEFAULT_ANSWER_TOKENS,
                      answer_cue=DEFAULT_ANSWER_CUE if answer_cue is None else answer_cue, backend_options=options)
    from evalkit.budgets import format_budget_table

    click.echo(format_budget_table(summary["results"]))
    units: dict[str, list[str]] = {}
    for r in summary["results"]:
        units.setdefault(r["unit"], []).append(r["model"])
    click.echo("")
    if len(units) == 1:
        click.echo(f"thinking counted in {summary['unit']}, with {summary['counted_with']}")
    else:  # a model without recorded token counts is counted in characters: its rows say so apart
        click.echo(f"thinking counted with {summary['counted_with']}:")
        for unit, models in units.items():
            click.echo(f"  {unit}: {', '.join(models)}")
    click.echo(f"probes in {run_dir}/anytime.jsonl, metrics in anytime.json")
    from pathlib import Path

    from evalkit.report import write_report

    if (Path(run_dir) / "index.html").is_file():  # the run's report gains the curves

        try:
            click.echo(f"report: {write_report(run_dir)}")
        except Exception as e:  # the curves are safe on disk; say what failed
            click.echo(f"evalkit: warning: could not rewrite the report ({type(e).__name__}: {e})", err=True)


# ---- judge (rule-then-judge cascade): `evalkit judge doctor` ----


@main.group("judge")
def judge_group() -> None:
    """The judge model consulted where the rules fail: check it withstands answers that game it."""


@judge_group.command("doctor")
@click.option("--judge", "model", required=True, help="The judge model's served name.")
@click.option("--judge-base-url", "base_url", required=True, help="Its OpenAI-compatible server URL (…/v1).")
@click.option("--judge-max-flips", "max_flips", type=int, default=0, show_default=True,
              help="Exit 1 when more attacks than this flip the judge (and whenever a question got no reply or "
                   "an unparsed one, or a right answer was rejected).")
@click.option("--rubric", default=None, type=click.Path(dir_okay=False), help="A rubric YAML (default: the shipped one).")
@click.option("--max-tokens", type=int, default=1024, show_default=True,
              help="The longest reply the judge may give (at least 1).")
@click.option("--judge-retries", "retries", type=int, default=None,
              help="How many times a question the server refused as busy (408, 429, 5xx) or unreachable is asked "
                   "again (default 3, as `evalkit run`'s; 0: once only).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON after the table.")
def judge_doctor_cmd(model: str, base_url: str, max_flips: int, rubric: str | None, max_tokens: int,
                     retries: int | None, as_json: bool) -> None:
    """Run the attack suite (wrong answers that instruct, imitate, close delimiters, ...) against the judge."""
    from evalkit.verifiers.judge import judge_doctor

    if max_flips < 0:
        raise InputError(f"--judge-max-flips: expected a whole number of at least 0, got {max_flips}")
    result = judge_doctor(model, base_url, rubric=rubric, max_tokens=max_tokens, retries=retries, echo=click.echo)
    if as_json:
        click.echo(jsonl.dumps(result.to_dict()))
    if result.flips > max_flips or result.problems():  # a judge that answers nothing passes no attack
        sys.exit(1)
