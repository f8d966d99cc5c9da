"""Data-parallel replicas: one Ray actor per engine replica, on one node or a Ray cluster.

`get_backend` wraps an engine backend (vllm, transformers, a plugin) in `ReplicaBackend` when
`dp > 1` or a Ray address is given. Each replica is an actor holding its own engine on its own
GPUs (`tp` of them, on one node). The driver cuts the requests into chunks of whole problems (so a
problem's samples share one engine's prefix cache), keeps every replica two chunks deep, and
streams finished samples back within STREAM_SECONDS of being made (one by one when they come
slowly, batched when they come fast), so the pipeline verifies and writes them at once.

Why actors rather than vLLM's own data parallelism: vLLM's data-parallel ranks are coordinated
(MoE models step in lockstep), so a rank that dies or stalls can hold up the rest (the hangs its
users report); here each replica is independent. A replica that dies (its process, its node) is dropped and the samples it
had not returned go to the others; the run stops only when no replica is left, and a rerun resumes.
Samples do not depend on the replica that made them: every request carries its own seed.
"""

from __future__ import annotations

import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from functools import lru_cache
from typing import Any, Iterator, Sequence

from evalkit.errors import InputError, ServerError
from evalkit.types import Completion, Request

CHUNK = 256  # most requests sent to a replica at once
DEPTH = 2  # chunks queued per replica, so none idles between chunks
STREAM_BATCH, STREAM_SECONDS = 32, 0.25  # a replica sends what it made at most this many / this late
# environment a replica on another node needs to find models the way the driver does
FORWARD_ENV = ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
               "TOKENIZERS_PARALLELISM")
FORWARD_PREFIXES = ("VLLM_", "EVALKIT_")


def _key(req: Request) -> tuple:
    return (req.task, req.model, req.problem_id, req.sample)


class _Replica:
    """What runs inside each actor: one engine backend, built where the actor landed."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        from evalkit.backends.base import get_backend

        self.stopping = False
        self.backend = None
        self.error: BaseException | None = None
        try:
            self.backend = get_backend(backend, **options)
        except Exception as e:  # kept for `ready`: Ray keeps only the text of an error raised here
            self.error = e

    def ready(self) -> dict[str, Any]:
        import socket

        if self.error is not None:
            raise self.error
        return {"host": socket.gethostname(), "pid": os.getpid(),
                "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        return self.backend.render(messages, think_prefill, chat_template_kwargs, think_format)

    def tokenizer(self) -> Any:
        """The engine's tokenizer (None when it has none), for the driver's `--think-format auto`."""
        return getattr(self.backend, "tokenizer", None)

    def generate(self, requests: list[Request]):
        """Yield lists of (request, completion), each sent at most STREAM_SECONDS after it was made:
        one by one when samples come slowly, in batches when they come fast (one Ray object per
        sample would cost more than a tiny model's sample)."""
        made: queue.Queue = queue.Queue()
        end = object()

        def pump() -> None:  # the engine runs here, so a waiting sample is sent on time
            try:
                for item in self.backend.generate(requests):
                    if self.stopping:
                        break
                    made.put(item)
            except BaseException as e:
                made.put(e)
            made.put(end)

        threading.Thread(target=pump, daemon=True, name="evalkit-replica").start()
        batch: list = []
        oldest = 0.0
        while True:
            try:
                item = made.get(timeout=max(0.0, oldest + STREAM_SECONDS - time.monotonic()) if batch else None)
            except queue.Empty:
                yield batch
                batch = []
                continue
            if item is end:
                break
            if isinstance(item, BaseException):
                raise item
            if not batch:
                oldest = time.monotonic()
            batch.append(item)
            if len(batch) >= STREAM_BATCH:
                yield batch
                batch = []
        if batch and not self.stopping:
            yield batch

    def stop(self) -> None:
        self.stopping = True
        if self.backend is not None:
            interrupt = getattr(self.backend, "interrupt", None)
            if callable(interrupt):  # the sample being made ends now, not at its max_tokens
                interrupt()
            self.backend.close()


@lru_cache(maxsize=None)
def _actor_class():
    import ray

    # control calls have their own thread, so `stop` reaches a replica busy generating
    @ray.remote(concurrency_groups={"control": 1})
    class Replica(_Replica):
        @ray.method(concurrency_group="control")
        def ready(self) -> dict[str, Any]:
            return super().ready()

        @ray.method(concurrency_group="control")
        def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
            return super().render(messages, think_prefill, chat_template_kwargs, think_format)

        @ray.method(concurrency_group="control")
        def tokenizer(self) -> Any:
            return super().tokenizer()

        @ray.method(concurrency_group="control")
        def stop(self) -> None:
            super().stop()

    return Replica


def _lost_errors() -> tuple[type, ...]:
    """Ray's errors that mean a replica is gone (not that the engine refused a request)."""
    import ray.exceptions as rx

    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError",
             "OutOfMemoryError", "ObjectLostError", "OwnerDiedError")
    return tuple(getattr(rx, n) for n in names if hasattr(rx, n))


class ReplicaBackend:
    """`dp` replicas of the engine backend `backend`, as Ray actors.

    backend: the engine backend's name (its `name` is this backend's name too, so a run with more
    or fewer replicas resumes the same run). dp: replicas. tp: GPUs per replica (on one node).
    ray_address: `auto` or HOST:PORT of an existing cluster; None starts a local one (or reuses
    the one this process already joined). replica_options: extra Ray actor options (num_cpus,
    num_gpus, resources, runtime_env, ...). start_timeout: seconds to wait for every replica to load.
    options: the engine backend's own options (model, dtype, max_model_len, ...).
    """

    def __init__(self, backend: str, dp: int = 1, tp: int = 1, ray_address: str | None = None,
                 replica_options: dict[str, Any] | None = None, start_timeout: float = 1800.0,
                 stop_timeout: float = 30.0, **options: Any) -> None:
        from evalkit.backends.base import backend_capabilities, backend_factory

        factory = backend_factory(backend)
        caps = backend_capabilities(factory)
        if caps.replays or caps.remote:
            hint = "; give one --base-url per server instead" if caps.remote else ""
            raise InputError(f"--dp and --ray-address are for engine backends (vllm, transformers), "
                             f"not {backend}{hint}")
        if dp < 1 or tp < 1:
            raise InputError(f"--dp and --tp must be at least 1 (got dp={dp}, tp={tp})")
        try:
            import ray
        except ImportError:
            raise InputError("--dp > 1 and --ray-address need Ray: pip install 'evalkit[ray]'") from None
        self._ray = ray
        self.name = backend
        self.model = options.get("model") or ""
        self.dp = dp
        self.stop_timeout = stop_timeout
        self._closed = False
        self._own_ray = False
        self.actors: list[Any] = []
        self.alive: list[bool] = []
        self.info: list[dict[str, Any]] = []
        self.completed: list[int] = []  # samples each replica returned
        self._tokenizer: Any = None
        self._asked_tokenizer = False

        if not ray.is_initialized():
            _check_reachable(ray_address)
            handlers = _signal_handlers()
            try:
                ray.init(address=ray_address, include_dashboard=False if ray_address is None else None,
                         log_to_driver=os.environ.get("EVALKIT_RAY_LOGS", "1") != "0")
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise InputError(f"cannot join the Ray cluster at {ray_address or 'a new local one'}: {e}") from None
            finally:
                _restore(handlers)
            self._own_ray = True
        adapt = getattr(factory, "inside_replica", None)  # what the engine needs inside an actor
        if adapt is not None:
            options = adapt(options, tp)
        inner = {**options, **({"tp": tp} if tp > 1 else {})}
        try:
            actor_options = self._actor_options(tp, replica_options or {}, forward_env=bool(ray_address))
            self._check_fits(actor_options)
            cls = _actor_class()
            self.actors = [cls.options(**actor_options).remote(backend, inner) for _ in range(dp)]
            self._wait_ready(start_timeout)
        except BaseException:
            self.close()  # no replica, and no Ray we started, outlives a failed start
            raise

    # ------------------------------------------------------------------------------ starting

    def _actor_options(self, tp: int, extra: dict[str, Any], forward_env: bool) -> dict[str, Any]:
        ray = self._ray
        gpus = ray.cluster_resources().get("GPU", 0)
        options: dict[str, Any] = {"num_cpus": 1, "num_gpus": tp if gpus else 0, "max_restarts": 0}
        # a local cluster inherits this environment; another node's workers do not
        env = {k: v for k, v in os.environ.items() if k in FORWARD_ENV or k.startswith(FORWARD_PREFIXES)}
        if forward_env and env:
            options["runtime_env"] = {"env_vars": env}
        options.update(extra)
        return options

    def _check_fits(self, options: dict[str, Any]) -> None:
        """A replica that cannot be placed waits forever in Ray; say so now instead."""
        total = self._ray.cluster_resources()
        for resource, key in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
            need = (options.get(key) or 0) * self.dp
            if need > total.get(resource, 0):
                raise InputError(f"{self.dp} replicas need {need:g} {resource}s ({options.get(key):g} each); "
                                 f"the Ray cluster has {total.get(resource, 0):g}")

    def _wait_ready(self, timeout: float) -> None:
        ray = self._ray
        refs = [a.ready.remote() for a in self.actors]
        _, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        if pending:
            raise InputError(f"{len(pending)} of {self.dp} replicas did not start within {timeout:.0f} s "
                             f"(the Ray cluster has {ray.available_resources()} free)")
        for ref in refs:
            try:
                self.info.append(ray.get(ref))
            except self._ray.exceptions.RayError as e:
                raise _cause(e) from None
        self.alive = [True] * self.dp
        self.completed = [0] * self.dp

    # ---------------------------------------------------------------------------- the protocol

    @property
    def tokenizer(self) -> Any:
        """A replica's tokenizer, fetched once: what `--think-format auto` reads, so a run decides its
        format as one engine in this process would (None when the engine has none or it cannot travel)."""
        if not self._asked_tokenizer:
            self._asked_tokenizer = True
            ray = self._ray
            for i, actor in enumerate(self.actors):
                if self.alive[i]:
                    try:
                        self._tokenizer = ray.get(actor.tokenizer.remote())
                    except Exception as e:  # noqa: BLE001 - auto then decides without it, and says so
                        print(f"evalkit: warning: replica {i}'s tokenizer could not be read "
                              f"({type(e).__name__}: {_first_line(e)})", file=sys.stderr)
                    break
        return self._tokenizer

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        ray = self._ray
        for i, actor in enumerate(self.actors):
            if self.alive[i]:
                try:
                    return ray.get(actor.render.remote(messages, think_prefill, chat_template_kwargs, think_format))
                except _lost_errors():
                    self._lose(i, "it died while rendering a prompt")
                except ray.exceptions.RayTaskError as e:
                    raise _cause(e) from None
        raise ServerError(f"all {self.dp} replicas are gone")

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        """Yield every request's completion once, from whichever replica made it."""
        ray = self._ray
        chunks = deque(_chunks(requests, self.dp))
        # a generator's replica and the requests it has not returned yet
        streams: dict[Any, tuple[int, dict[tuple, Request]]] = {}
        lost = _lost_errors()
        try:
            while chunks or streams:
                if self._closed:
                    return
                self._submit(chunks, streams)
                if not streams:
                    raise ServerError(f"all {self.dp} replicas are gone")
                ready, _ = ray.wait(list(streams), num_returns=1, timeout=1.0)
                for stream in ready:
                    replica, left = streams[stream]
                    try:
                        batch = ray.get(next(stream))
                    except StopIteration:
                        del streams[stream]
                        if left and not self._closed:
                            raise RuntimeError(f"replica {replica} ({self.name}) returned {len(left)} "
                                               "completions fewer than it was asked for") from None
                        continue
                    except lost as e:
                        self._lose(replica, _first_line(e))
                        for s in [s for s, (r, _) in streams.items() if r == replica]:
                            chunks.appendleft(list(streams.pop(s)[1].values()))
                        continue
                    except ray.exceptions.RayTaskError as e:
                        raise _cause(e) from None
                    for req, completion in batch:
                        if left.pop(_key(req), None) is None:
                            continue  # not ours to report twice
                        self.completed[replica] += 1
                        yield req, completion
        finally:
            for stream in streams:
                try:
                    ray.cancel(stream)
                except Exception:
                    pass

    def _submit(self, chunks: deque, streams: dict) -> None:
        busy = [0] * self.dp
        for replica, _ in streams.values():
            busy[replica] += 1
        while chunks:
            free = [i for i in range(self.dp) if self.alive[i] and busy[i] < DEPTH]
            if not free:
                return
            replica = min(free, key=lambda i: busy[i])
            chunk = chunks.popleft()
            stream = self.actors[replica].generate.options(num_returns="streaming").remote(chunk)
            streams[stream] = (replica, {_key(r): r for r in chunk})
            busy[replica] += 1

    def _lose(self, replica: int, why: str) -> None:
        if self.alive[replica]:
            self.alive[replica] = False
            left = sum(self.alive)
            print(f"evalkit: replica {replica} ({self.info[replica].get('host')}) is gone ({why}); "
                  f"its unfinished samples go to the other {left}", file=sys.stderr)

    def replica_stats(self) -> list[dict[str, Any]]:
        """Per replica: where it ran (host, pid, gpus), whether it is alive, samples it returned."""
        return [{**info, "alive": alive, "completed": n}
                for info, alive, n in zip(self.info, self.alive, self.completed)]

    def close(self) -> None:
        """Stop every replica (its engine shuts down cleanly), then end the actors for sure."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if self.actors and ray.is_initialized():
            stops = [a.stop.remote() for a in self.actors]
            try:
                ray.wait(stops, num_returns=len(stops), timeout=self.stop_timeout)
            except Exception:
                pass
            for actor in self.actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:
                    pass
            # ray.kill only sends the kill: wait until each actor has gone, so no call reaches it after
            deadline = time.monotonic() + 10.0
            for actor in self.actors:
                while time.monotonic() < deadline:
                    try:
                        ray.get(actor.ready.remote(), timeout=max(0.1, deadline - time.monotonic()))
                    except Exception:  # gone (or a timeout, or a failing engine): nothing more to wait for
                        break
                    time.sleep(0.05)
        if self._own_ray:
            ray.shutdown()


def _chunks(requests: Sequence[Request], dp: int) -> list[list[Request]]:
    """Whole problems per chunk (prefix caching), about four chunks per replica (load balance)."""
    target = max(1, min(CHUNK, math.ceil(len(requests) / (4 * dp))))
    by_problem: dict[tuple, list[Request]] = {}
    for r in requests:
        by_problem.setdefault((r.task, r.model, r.problem_id), []).append(r)
    chunks: list[list[Request]] = []
    chunk: list[Request] = []
    for group in by_problem.values():
        for start in range(0, len(group), CHUNK):
            chunk.extend(group[start:start + CHUNK])
            if len(chunk) >= target:
                chunks.append(chunk)
                chunk = []
    if chunk:
        chunks.append(chunk)
    return chunks


def _signal_handlers() -> dict[int, Any]:
    """SIGTERM's and SIGINT's handlers now (main thread only: elsewhere none can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(handlers: dict[int, Any]) -> None:
    """Put back the handlers `ray.init` replaced: its own SIGTERM handler aborts the process (exit 134, a stack
    dump) before evalkit stops its replicas, which then outlive the run."""
    for sig, handler in handlers.items():  # a program with no handler of its own keeps Ray's (it exits cleanly)
        if callable(handler) and handler is not signal.default_int_handler and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)


def _check_reachable(address: str | None) -> None:
    """Ray waits minutes on an address where nothing listens; a HOST:PORT is checked in seconds."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10):
            pass
    except (OSError, ValueError) as e:
        raise InputError(f"no Ray cluster at {address} ({e}); start one with `ray start --head` "
                         "and check it with `ray status`") from None


def _cause(error: Exception) -> BaseException:
    """The engine's own exception (InputError, ValueError, ...) out of Ray's wrapper."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return cause
    if isinstance(cause := getattr(error, "creation_task_error", None), BaseException):  # failed in __init__
        return _cause(cause)
    return error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
