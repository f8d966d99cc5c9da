"""The `transformers` backend: small models on CPU or one GPU, one sample at a time.

Each sample is generated alone after `torch.manual_seed(sample seed)`, so a sample does not depend
on what else was generated with it (resume and replicas give the same text on CPU).
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, Sequence

from evalkit.backends._models import DTYPES, check_dtype, check_model
from evalkit.backends.base import LocalModel, prompt_too_long
from evalkit.errors import InputError
from evalkit.types import Completion, Request


# What loading a broken or unknown model folder raises (json's errors are ValueErrors): one line, not a traceback
_LOAD_ERRORS = (OSError, ValueError, KeyError, ImportError)


def _first_line(e: BaseException) -> str:
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


class TransformersBackend(LocalModel):
    name = "transformers"

    def __init__(self, model: str, dtype: str = "auto", revision: str | None = None,
                 trust_remote_code: bool = False, device: str | None = None, max_model_len: int | None = None) -> None:
        self.model = model
        check_dtype(dtype)
        path = check_model(model, revision)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
        except _LOAD_ERRORS as e:  # a tokenizer.json cut off by a download, a config the installed version cannot read
            raise InputError(f"{model}: its tokenizer cannot be loaded: {_first_line(e)}") from None
        if len(self.tokenizer) < 2:  # a folder without tokenizer files gives an empty one: every prompt 0 tokens
            raise InputError(f"{model}: no tokenizer in it (tokenizer.json, tokenizer_config.json, ...): "
                             "copy the model's tokenizer files beside its weights")
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, DTYPES[dtype])
        try:
            lm = AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch_dtype,
                                                      trust_remote_code=trust_remote_code)
        except _LOAD_ERRORS as e:  # no weights, an architecture the installed transformers does not know
            raise InputError(f"{model}: the model cannot be loaded: {_first_line(e)}") from None
        window = _window(lm)
        most = int(window * _rope_factor(lm)) if window else None
        if max_model_len and most and max_model_len > most:
            # vLLM refuses the same: positions past those the model was built for give it text it never read
            stretched = f", times its RoPE scaling factor {_rope_factor(lm):g}" if most != window else ""
            raise InputError(f"--max-model-len {max_model_len} is more than the {most} positions {model} was built "
                             f"for (its config's max_position_embeddings {window}{stretched}); give at most {most}")
        self.lm = lm.to(self.device).eval()
        self.max_model_len = max_model_len or window
        self._stop = threading.Event()

    @classmethod
    def from_loaded(cls, lm: Any, tokenizer: Any, model: str) -> "TransformersBackend":
        """A backend over a model already in memory (a trainer's policy), recorded as `model`.
        The caller owns `lm`: close() only lets go of it."""
        import torch

        self = cls.__new__(cls)
        self.model, self.lm, self.tokenizer, self._torch = model, lm, tokenizer, torch
        self.device = next(lm.parameters()).device
        self.max_model_len = _window(lm)
        self._stop = threading.Event()
        return self

    def _generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        from transformers import GenerationConfig, StoppingCriteriaList

        torch, tok = self._torch, self.tokenizer
        halt = StoppingCriteriaList([_Halt(self._stop)])
        eos = self._end_tokens()
        window = self.max_model_len
        for req in requests:
            if self._stop.is_set():
                return
            ids = tok(req.prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)
            if window and ids.shape[1] >= window:  # no room for one token: that sample's outcome, as vLLM's
                yield req, prompt_too_long(req, ids.shape[1], self.model)
                continue
            # the context window caps the reply, as vLLM's engine does: it then ends as `length`
            max_new = min(req.max_tokens, window - ids.shape[1]) if window else req.max_tokens
            torch.manual_seed(req.seed)
            # exactly the run's sampling, as vLLM's SamplingParams: top_k=0 turns off transformers' default
            # of 50; the model's own generation_config (top_k, repetition_penalty, ...) is left out below
            sampling = dict(do_sample=True, temperature=req.temperature, top_p=req.top_p, top_k=0) \
                if req.temperature > 0 else dict(do_sample=False)
            pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos), None)
            config = GenerationConfig(max_new_tokens=max_new, eos_token_id=eos, pad_token_id=pad, **sampling)
            own, self.lm.generation_config = self.lm.generation_config, GenerationConfig()  # nothing of it merges in
            try:
                with torch.no_grad():
                    out = self.lm.generate(ids, generation_config=config, stopping_criteria=halt)
            finally:
                self.lm.generation_config = own
            if self._stop.is_set():  # cut short: not the sample the run asked for
                return
            new = out[0, ids.shape[1]:].tolist()
            stopped = bool(new) and new[-1] in eos
            text = tok.decode(new[:-1] if stopped else new, skip_special_tokens=False)
            yield req, Completion(text=req.prefill + text, finish_reason="stop" if stopped else "length",
                                  prompt_tokens=ids.shape[1], completion_tokens=len(new), model=self.model)

    def _end_tokens(self) -> list[int]:
        """Every token that ends a reply: the tokenizer's end of sequence and the model's generation_config's
        (Qwen and Llama list several), as vLLM stops at."""
        own = getattr(self.lm, "generation_config", None)
        found = [self.tokenizer.eos_token_id, getattr(own, "eos_token_id", None)]
        out: list[int] = []
        for value in found:
            for token in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(token, int) and token not in out:
                    out.append(token)
        return out

    def close(self) -> None:
        self.lm = None


class _Halt:
    """A stopping criterion that ends every sequence once `event` is set (transformers' generate
    checks it after each token)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def _rope_factor(lm: Any) -> float:
    """How far the config's RoPE scaling (YaRN, linear, dynamic) stretches its positions past
    max_position_embeddings; 1 without it, and for the kinds whose max_position_embeddings is the stretched
    window already (llama3, longrope), as vLLM reads them."""
    scaling = getattr(getattr(lm, "config", None), "rope_scaling", None)
    kind = (scaling.get("rope_type") or scaling.get("type")) if isinstance(scaling, dict) else None
    factor = scaling.get("factor") if isinstance(scaling, dict) and kind not in ("llama3", "longrope", "su") else None
    return float(factor) if isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor > 1 else 1.0


def _window(lm: Any) -> int | None:
    """The model's context window from its config (positions it was built for), as vLLM reads it;
    None where the config names none (then only max_tokens bounds a reply)."""
    config = getattr(lm, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
