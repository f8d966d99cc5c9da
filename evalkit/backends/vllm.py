"""The `vllm` backend: an in-process `vllm.LLM` engine.

Every sample is its own request with its own seed (DESIGN.md), so prefix caching (on) shares the
prompt across a problem's samples. Requests go to the engine in chunks, so finished samples are
verified and written while the next chunk generates.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

from evalkit.backends._models import check_model
from evalkit.backends.base import BACKENDS, batched, render_with_tokenizer
from evalkit.errors import InputError
from evalkit.types import Completion, Request

CHUNK = int(os.environ.get("EVALKIT_VLLM_CHUNK", "512"))


class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str, dtype: str = "auto", max_model_len: int | None = None,
                 revision: str | None = None, trust_remote_code: bool = False, tp: int = 1,
                 enforce_eager: bool | None = None, gpu_memory_utilization: float | None = None,
                 engine_kwargs: dict[str, Any] | None = None, **_: Any) -> None:
        self.model = model
        path = check_model(model, revision)  # before importing vLLM, which is slow and chatty
        try:
            from vllm import LLM
        except ImportError as e:
            raise InputError(f"the vllm backend needs vLLM: pip install 'evalkit[vllm]' ({e})") from None
        kwargs: dict[str, Any] = dict(model=path, dtype=dtype, revision=revision, trust_remote_code=trust_remote_code,
                                      tensor_parallel_size=tp, enable_prefix_caching=True)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if enforce_eager is None:
            enforce_eager = os.environ.get("EVALKIT_VLLM_EAGER", "") == "1"
        if enforce_eager:
            kwargs["enforce_eager"] = True
        if gpu_memory_utilization:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        kwargs.update(engine_kwargs or {})
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        return render_with_tokenizer(self.tokenizer, messages, think_prefill, chat_template_kwargs, think_format)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        from vllm import SamplingParams

        for chunk in batched(requests, CHUNK):
            # token ids, so the chat template's own special tokens are not added a second time
            prompts = [{"prompt_token_ids": self.tokenizer.encode(r.prompt, add_special_tokens=False)} for r in chunk]
            params = [SamplingParams(n=1, temperature=r.temperature, top_p=r.top_p, seed=r.seed,
                                     # the context window caps the reply: it then ends as `length`
                                     max_tokens=max(1, min(r.max_tokens, self.max_model_len - len(p["prompt_token_ids"]))),
                                     skip_special_tokens=False)
                      for r, p in zip(chunk, prompts)]
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            for req, out in zip(chunk, outputs):
                o = out.outputs[0]
                yield req, Completion(text=req.prefill + o.text, finish_reason=o.finish_reason,
                                      prompt_tokens=len(out.prompt_token_ids or ()),
                                      completion_tokens=len(o.token_ids), model=self.model)

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:
                pass
            del llm


BACKENDS["vllm"] = VLLMBackend
