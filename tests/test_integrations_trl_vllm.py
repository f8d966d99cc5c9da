"""EvalCallback on a trainer's own vLLM: a colocated engine and a `trl vllm-serve`-style server.

TRL cannot train with `use_vllm=True` on a CPU, so the trainer here is a real GRPOTrainer built
without vLLM, given a stand-in for its `vllm_generation` that holds the real parts: an in-process
vLLM engine of the tiny model (colocate) or TRL's own VLLMClient connected to a real vLLM server
(server). Only `sync_weights` is a stand-in (it counts calls): TRL pushes weights into vLLM through
GPU-only paths (NCCL for a server, the engine's in-process worker for colocate).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("vllm")

from evalkit.integrations.trl import EvalCallback

pytestmark = pytest.mark.slow


class StandInVLLMGeneration:
    """What EvalCallback reads of TRL's VLLMGeneration: mode, the engine or client, sync_weights."""

    def __init__(self, mode: str, llm=None, vllm_client=None) -> None:
        self.mode, self.llm, self.vllm_client = mode, llm, vllm_client
        self.enable_sleep_mode = False
        self.syncs = 0

    def sync_weights(self) -> None:
        self.syncs += 1


@pytest.fixture(scope="module")
def trainer(tiny_model, tmp_path_factory):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from evalkit.rewards import math_reward

    args = GRPOConfig(output_dir=str(tmp_path_factory.mktemp("out")), use_cpu=True, max_steps=1,
                      per_device_train_batch_size=2, num_generations=2, max_completion_length=16,
                      report_to=[], save_strategy="no", seed=0)
    data = Dataset.from_list([{"prompt": "What is 1+1?", "answer": "2"}])
    return GRPOTrainer(model=str(tiny_model), reward_funcs=[math_reward], args=args, train_dataset=data)


def samples(run_dir: Path) -> dict:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return {(s["problem_id"], s["sample"]): s for s in rows}


def evaluate_on(trainer, generation, tmp_path: Path, name: str):
    import torch

    trainer.use_vllm, trainer.vllm_generation, trainer._last_loaded_step = True, generation, -1
    callback = EvalCallback(tasks=["aime24"], n=2, every_steps=1, limit=2, out_dir=str(tmp_path / name),
                            trainer=trainer)
    before = torch.random.get_rng_state()
    first = callback.evaluate_now()
    again = callback.evaluate_now()  # same step: the weights are not pushed a second time
    assert torch.equal(torch.random.get_rng_state(), before)
    assert generation.syncs == 1 and trainer._last_loaded_step == 0
    assert trainer.state.log_history[-1]["eval/aime24/avg@n"] == first.metrics["eval/aime24/avg@n"]
    return samples(first.run_dir), samples(again.run_dir)


def test_colocated_engine_generates_the_evaluation(trainer, vllm_engine, tiny_model, tmp_path):
    import evalkit

    got, again = evaluate_on(trainer, StandInVLLMGeneration("colocate", llm=vllm_engine.llm), tmp_path, "colocate")
    direct = samples(evalkit.evaluate(["aime24"], engine=vllm_engine, n=2, limit=2, max_tokens=16, progress=False,
                                      out=tmp_path / "direct").run_dir)
    assert len(got) == 4 and got.keys() == direct.keys()
    for key, s in got.items():
        # the trainer's engine made them: the same text as that engine gives evalkit run, seed for seed
        assert s["completion"] == direct[key]["completion"] == again[key]["completion"]
        assert s["model"] == f"{tiny_model}@step-0" and s["completion_tokens"] <= 16


def test_trl_vllm_server_generates_the_evaluation(trainer, vllm_engine, plain_vllm_server, tmp_path):
    from trl.generation.vllm_client import VLLMClient

    client = VLLMClient(base_url=plain_vllm_server.removesuffix("/v1"), connection_timeout=60)  # TRL's own client
    got, _ = evaluate_on(trainer, StandInVLLMGeneration("server", vllm_client=client), tmp_path, "server")
    local, _ = evaluate_on(trainer, StandInVLLMGeneration("colocate", llm=vllm_engine.llm), tmp_path, "local")
    assert len(got) == 4 and got.keys() == local.keys()
    for key, s in got.items():  # same prompts, same per-sample seeds, same model: the same samples
        assert s["prompt"] == local[key]["prompt"] and s["completion"] == local[key]["completion"]
