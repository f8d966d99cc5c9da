"""A tiny offline model for tests and smoke runs: no hub, no GPU.

`build_tiny_model(path)` writes a Hugging Face model folder: a byte-level BPE tokenizer trained here
with `tokenizers` (`<think>` and `</think>` are single added tokens, ChatML chat template) and a
2-layer Qwen2 with random weights (head_dim 32, the least vLLM's CPU attention takes). Its text is
gibberish; what it proves is that every part of the pipeline runs for real.
"""

from __future__ import annotations

import json
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]

_CORPUS = [
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "Wait, let me check that again. So the answer is 42. Therefore x = 3 and y = 4.",
    "The sum of the first n integers is n(n+1)/2. Hmm, alternatively we can verify by induction.",
    "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n",
    "Find the value of \\frac{1}{2} + \\frac{1}{3}. The final answer is \\boxed{\\frac{5}{6}}.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 + - * / = ( ) [ ] { } ^ _ \\sqrt \\pi \\cdot",
]


def build_tiny_model(path: str | Path, vocab_size: int = 512, seed: int = 0) -> Path:
    """Write the tiny model to `path` (created) and return it. Idempotent: an existing one is kept."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return path
    path.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    tok.add_special_tokens(THINK_TOKENS)  # single tokens, kept verbatim when decoding
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(path)

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=4096,
        tie_word_embeddings=True, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        bos_token_id=None, torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    gen = {"eos_token_id": fast.eos_token_id, "pad_token_id": fast.pad_token_id, "do_sample": True,
           "temperature": 0.6, "top_p": 0.95}
    (path / "generation_config.json").write_text(json.dumps(gen, indent=1))
    return path
