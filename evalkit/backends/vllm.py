"""The `vllm` backend: an in-process `vllm.LLM` engine.

Every sample is its own request with its own seed (docs/contracts.md), so prefix caching (on) shares the
prompt across a problem's samples. The engine is stepped here, and each sample is yielded the step it
finishes, so it is verified and written while the others generate (and an interrupted run keeps it).
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any, Iterator, Sequence

from evalkit.backends._models import check_dtype, check_model
from evalkit.backends.base import LocalModel, batched, prompt_too_long
from evalkit.errors import InputError, ServerError
from evalkit.types import Completion, Request

CHUNK = int(os.environ.get("EVALKIT_VLLM_CHUNK", "4096"))  # requests tokenized and handed to the engine at once


class VLLMBackend(LocalModel):
    name = "vllm"

    def __init__(self, model: str, dtype: str = "auto", max_model_len: int | None = None,
                 revision: str | None = None, trust_remote_code: bool = False, tp: int = 1,
                 enforce_eager: bool | None = None, gpu_memory_utilization: float | None = None,
                 engine_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        check_dtype(dtype)
        path = check_model(model, revision)  # before importing vLLM, which is slow and chatty
        try:
            from vllm import LLM
        except ImportError as e:
            raise InputError(f"the vllm backend needs vLLM: pip install 'evalkit[vllm]' ({e})") from None
        kwargs: dict[str, Any] = dict(model=path, dtype=dtype, revision=revision, trust_remote_code=trust_remote_code,
                                      tensor_parallel_size=tp, enable_prefix_caching=True)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
            if _on_cpu():  # a prompt's prefill must fit one step on CPU (see _prefill_batches): any prompt the window holds
                kwargs["max_num_batched_tokens"] = max(max_model_len, 4096)
        if enforce_eager is None:
            enforce_eager = os.environ.get("EVALKIT_VLLM_EAGER", "") == "1"
        if enforce_eager:
            kwargs["enforce_eager"] = True
        if gpu_memory_utilization:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        kwargs.update(engine_kwargs or {})
        try:
            self.llm, engine = _start(LLM, kwargs)
        except Exception as e:  # noqa: BLE001 - options vLLM refuses, a model folder it cannot load: one line
            given = {"--max-model-len": max_model_len, "--tp": tp if tp != 1 else None, "--revision": revision,
                     "--dtype": dtype if dtype != "auto" else None}
            named = ", ".join(f"{k} {v}" for k, v in given.items() if v is not None)
            raise InputError(f"the vllm engine could not start for {model}{f' ({named})' if named else ''}: "
                             f"{_reason(e)}") from None
        self._reaper = reap_when_orphaned(engine)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self._stop = threading.Event()

    def _fits(self, n_tokens: int) -> bool:
        """Whether a prompt of `n_tokens` can be generated from: it leaves room for a token in the context
        window, and on CPU its prefill fits one step (past it vLLM 0.32's seeded sampling fails; a larger
        --max-model-len raises the step to the window)."""
        config = self.llm.llm_engine.vllm_config
        step = config.scheduler_config.max_num_batched_tokens if config.device_config.device_type == "cpu" else None
        return n_tokens < self.max_model_len and (step is None or n_tokens <= step)

    @classmethod
    def from_engine(cls, llm: Any, model: str) -> "VLLMBackend":
        """A backend over a `vllm.LLM` that is already running (a trainer's colocated engine),
        recorded as `model`. The caller owns the engine: `evaluate(engine=...)` never closes it."""
        self = cls.__new__(cls)
        self.model, self.llm = model, llm
        self.tokenizer = llm.get_tokenizer()
        self.max_model_len = llm.llm_engine.model_config.max_model_len
        self._stop = threading.Event()
        return self

    @staticmethod
    def inside_replica(options: dict[str, Any], tp: int) -> dict[str, Any]:
        """The options of a replica inside a Ray actor: with tp > 1 its GPUs are driven by vLLM's own
        worker processes (not Ray's), so replicas stay independent."""
        if tp <= 1:
            return options
        engine = dict(options.get("engine_kwargs") or {})
        engine.setdefault("distributed_executor_backend", "mp")
        return {**options, "engine_kwargs": engine}

    def _generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        from vllm import SamplingParams

        for batch in batched(requests, CHUNK):
            if self._stop.is_set():
                return
            # token ids, so the chat template's own special tokens are not added a second time
            encoded = [(r, self.tokenizer.encode(r.prompt, add_special_tokens=False)) for r in batch]
            # a prompt that leaves no room for one token makes vLLM refuse the whole call: it is that
            # sample's outcome alone (cut off before its first token), and the others generate
            fits = [self._fits(len(ids)) for _, ids in encoded]
            for (req, ids), ok in zip(encoded, fits):
                if not ok:
                    yield req, prompt_too_long(req, len(ids), self.model)
            chunk = [r for (r, _), ok in zip(encoded, fits) if ok]
            if not chunk:
                continue
            prompts = [{"prompt_token_ids": ids} for (_, ids), ok in zip(encoded, fits) if ok]
            params = [SamplingParams(n=1, temperature=r.temperature, top_p=r.top_p, seed=r.seed,
                                     # the context window caps the reply: it then ends as `length`
                                     max_tokens=max(1, min(r.max_tokens, self.max_model_len - len(p["prompt_token_ids"]))),
                                     skip_special_tokens=False)
                      for r, p in zip(chunk, prompts)]
            for part in self._prefill_batches([p["prompt_token_ids"] for p in prompts]):
                for k, out in self._stream([prompts[i] for i in part], [params[i] for i in part]):
                    req, o = chunk[part[k]], out.outputs[0]
                    yield req, Completion(text=req.prefill + o.text, finish_reason=o.finish_reason,
                                          prompt_tokens=len(out.prompt_token_ids or ()),
                                          completion_tokens=len(o.token_ids), model=self.model)
                if self._stop.is_set():
                    return

    def _stream(self, prompts: list[dict[str, Any]], params: list[Any]) -> Iterator[tuple[int, Any]]:
        """(index, RequestOutput) of each prompt the engine step it finishes. What is unfinished when this
        ends early (an interrupt; the caller stopped reading) is aborted, so the engine holds nothing of it.
        An engine without the step API (another vLLM) answers all at once, as `LLM.generate` does."""
        engine = self.llm.llm_engine
        try:
            from vllm.sampling_params import RequestOutputKind
        except ImportError:
            RequestOutputKind = None
        if RequestOutputKind is None or not (hasattr(engine, "add_request") and hasattr(engine, "step")):
            yield from enumerate(self.llm.generate(prompts, params, use_tqdm=False))
            return
        tag = f"evalkit-{uuid.uuid4().hex[:12]}-"  # apart from `LLM.generate`'s own ids (0, 1, ...)
        left: dict[str, int] = {}
        try:
            for i, (prompt, param) in enumerate(zip(prompts, params)):
                param.output_kind = RequestOutputKind.FINAL_ONLY  # one output per request, when it ends
                engine.add_request(tag + str(i), prompt, param)
                left[tag + str(i)] = i
            while left and not self._stop.is_set():
                for out in engine.step():
                    i = left.pop(out.request_id, None) if out.finished else None
                    if i is not None:
                        yield i, out
                if left and not engine.has_unfinished_requests():  # never to come: stepping on would spin
                    raise ServerError(f"the vllm engine no longer holds {len(left)} of this run's requests (another "
                                      "caller of the same engine stepped it and took their outputs)")
        finally:
            if left:
                engine.abort_request(list(left))

    def continue_tokens(self, prefixes):
        """Continue token prefixes (evalkit.budgets.Prefix); prefix caching makes a shared prefix cheap."""
        from vllm import SamplingParams

        from evalkit.budgets import continue_with_stops

        def run(token_ids, kwargs_list):
            # a prefix vLLM cannot prefill in one step on CPU gets nothing, cut at the limit (see _fits)
            out: list = [((), "length", None, None)] * len(token_ids)
            fit = [i for i, ids in enumerate(token_ids) if self._fits(len(ids))]
            for batch in self._prefill_batches([token_ids[i] for i in fit]):
                batch = [fit[j] for j in batch]
                params = [SamplingParams(n=1, skip_special_tokens=False, **kwargs_list[i]) for i in batch]
                outputs = self.llm.generate([{"prompt_token_ids": list(token_ids[i])} for i in batch], params,
                                            use_tqdm=False)
                for i, o in zip(batch, outputs):
                    out[i] = (o.outputs[0].token_ids, o.outputs[0].finish_reason, o.outputs[0].stop_reason,
                              o.num_cached_tokens)
            return out

        return continue_with_stops(self.tokenizer, prefixes, run, self.max_model_len)

    def _prefill_batches(self, token_ids):
        """Index batches of prompts. On CPU, vLLM 0.32's seeded sampling fails when a prompt's prefill
        is split across steps ('CPU Generator does not use offset'), so long prompts go in batches
        whose prefill fits one step; elsewhere, one batch."""
        config = self.llm.llm_engine.vllm_config
        if config.device_config.device_type != "cpu":
            return [list(range(len(token_ids)))]
        room = config.scheduler_config.max_num_batched_tokens
        batches, batch, used = [], [], 0
        for i, ids in enumerate(token_ids):
            if batch and used + len(ids) > room:
                batches.append(batch)
                batch, used = [], 0
            batch.append(i)
            used += len(ids)
        return batches + ([batch] if batch else [])

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:
                pass
            del llm
        reaper, self._reaper = getattr(self, "_reaper", None), None
        if reaper is not None and reaper.poll() is None:  # the engine is shut down: nothing left for it to stop
            reaper.kill()
            reaper.wait()


def _start(LLM: Any, kwargs: dict[str, Any]) -> tuple[Any, list[Any]]:
    """(`LLM(**kwargs)`, the processes it started), started in a thread the caller waits on, so that Ctrl-C or SIGTERM
    while the engine starts stops the run at once: vLLM 0.32 waits for an engine core process that the signal has
    killed until VLLM_ENGINE_READY_TIMEOUT_S (600 s), then says it timed out. An interrupted start stops the engine's
    processes."""
    import multiprocessing

    done: dict[str, Any] = {}
    # waited on as an Event, not by joining the thread: a join that Ctrl-C interrupts marks the thread stopped
    # (CPython 3.11), though it runs on
    finished = threading.Event()

    def start() -> None:
        try:
            done["llm"] = LLM(**kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            done["error"] = e
        finally:
            finished.set()

    before = set(multiprocessing.active_children())
    threading.Thread(target=start, daemon=True, name="evalkit-vllm-start").start()
    try:
        while not finished.wait(0.2):
            pass
    except BaseException:  # Ctrl-C, SIGTERM: the engine's processes go with the run
        _stop_engine_processes(before, finished)
        raise
    if "error" in done:
        raise done["error"]
    return done["llm"], sorted(set(multiprocessing.active_children()) - before, key=lambda p: p.pid)


# Run beside the driver, in a session of its own: once the driver is gone (its parent changed: SIGKILL, the OOM killer,
# a scheduler's kill) it stops the engine processes it was given, with their children (tensor-parallel workers), where
# they are still the processes it found at its own start (their start, in clock ticks since boot: /proc's, which a
# change of the system's clock leaves as it was). vLLM's engine core does not notice its driver dying, and an orphaned engine holds
# its memory (a GPU's) until killed by hand, so the rerun that resumes the run cannot start.
_REAPER = r"""
import os, sys, time
import psutil
def started(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].split()[19].decode()
driver, wanted = int(sys.argv[1]), {}
for pid in sys.argv[2:]:
    try:
        wanted[pid] = started(pid)
    except (OSError, IndexError):  # gone already
        pass
while os.getppid() == driver:
    time.sleep(0.5)
time.sleep(2)  # a driver that exited as it should has shut its engine down: give it the time to
procs = []
for pid, start in wanted.items():
    try:
        if started(pid) == start:
            proc = psutil.Process(int(pid))
            procs += [proc, *proc.children(recursive=True)]
    except (OSError, IndexError, psutil.Error):
        pass
for proc in procs:
    try:
        proc.terminate()
    except psutil.Error:
        pass
for proc in psutil.wait_procs(procs, timeout=10)[1]:
    try:
        proc.kill()
    except psutil.Error:
        pass
"""


def reap_when_orphaned(processes: Sequence[Any]) -> Any:
    """A watcher that stops `processes` (and their children) should this process die without stopping them: a
    `subprocess.Popen` to kill once they are stopped. None where there is nothing to watch or no watcher could start."""
    import subprocess
    import sys

    wanted = [str(p.pid) for p in processes if p.pid]
    if not wanted or not os.path.isdir("/proc"):  # the watcher knows a process by its start in Linux's /proc
        return None
    try:
        import psutil  # noqa: F401 - the watcher's: vLLM's own dependency

        return subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid()), *wanted], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except Exception:  # noqa: BLE001 - no psutil, no interpreter to start: the run goes on as before, unwatched
        return None


def _stop_engine_processes(before: set, finished: threading.Event) -> None:
    """Kill the processes an interrupted engine start made (with their own children: tensor-parallel workers),
    now and, as the start goes on in its thread and may spawn the engine core later, until it ends."""
    import multiprocessing

    def sweep() -> None:
        for child in set(multiprocessing.active_children()) - before:
            try:
                import psutil  # vLLM's own dependency

                for grandchild in psutil.Process(child.pid).children(recursive=True):
                    grandchild.kill()
            except Exception:  # noqa: BLE001 - gone already, or no psutil: the child itself is killed below
                pass
            child.kill()

    def watch() -> None:
        while not finished.wait(0.2):
            sweep()
        sweep()

    sweep()
    threading.Thread(target=watch, daemon=True, name="evalkit-vllm-stop").start()


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return current_platform.device_type == "cpu"
    except Exception:  # noqa: BLE001 - an older vLLM: its own defaults
        return False


def _reason(e: Exception) -> str:
    """What an engine that did not start says, on one line: a config check's own messages (pydantic's
    ValidationError holds them apart from its input dump), else the exception's first line (vLLM logs
    the root cause of an engine core that failed above it)."""
    errors = getattr(e, "errors", None)
    if callable(errors):
        try:
            text = "; ".join(str(err.get("msg", "")) for err in errors())
        except Exception:  # noqa: BLE001 - not pydantic's after all
            text = ""
        if text:
            return text[:600]
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first}"[:600]
