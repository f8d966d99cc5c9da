"""EvalCallback in a real TRL GRPOTrainer on CPU with the tiny offline model: what it logs is what its
run directories hold, and training is the same with and without it."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("trl")

from evalkit.integrations.trl import EvalCallback
from evalkit.rewards import math_reward

QUESTIONS = [("What is $1+1$?", "2"), ("What is $2+3$?", "5")]
# what training logs that depends on the sampled completions
TRAIN_KEYS = ("loss", "grad_norm", "reward", "reward_std", "completions/mean_length")


def length_reward(completions, **kwargs):
    """Varies with every completion, so GRPO's advantages and loss follow the sampled text."""
    return [len(c) / 100 for c in completions]


@pytest.fixture(scope="module")
def toy_task(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("task")
    (root / "sums.jsonl").write_text("".join(json.dumps({"q": q, "a": a}) + "\n" for q, a in QUESTIONS))
    (root / "sums.yaml").write_text("name: sums\ndataset: {local: sums.jsonl}\nfields: {problem: q, answer: a}\n"
                                    "verifier: math\n")
    return root / "sums.yaml"


def train(tiny_model, out: Path, callback: EvalCallback | None):
    trainer = build_trainer(tiny_model, out)
    if callback is not None:
        callback.attach(trainer)
    trainer.train()
    return trainer


def build_trainer(tiny_model, out: Path, callbacks=None, max_steps: int = 4, save_steps: int | None = None):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(out), use_cpu=True, max_steps=max_steps, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=16, logging_steps=1, report_to=[], learning_rate=1e-3,
        save_strategy="steps" if save_steps else "no", save_steps=save_steps or 500,
        seed=0, dataloader_num_workers=0, log_completions=False,
    )
    data = Dataset.from_list([{"prompt": q, "answer": a} for q, a in QUESTIONS])
    return GRPOTrainer(model=str(tiny_model), reward_funcs=[math_reward, length_reward], args=args,
                       train_dataset=data, callbacks=callbacks)


def test_callback_logs_its_run_directories_and_leaves_training_alone(tiny_model, toy_task, tmp_path):
    from evalkit.trace._model import MODEL_PATH

    mine = tmp_path / "my_detector.json"  # a user's reflection model (here a copy of the shipped weights)
    shutil.copy(MODEL_PATH, mine)
    callback = EvalCallback(tasks=[str(toy_task)], n=2, every_steps=2, limit=2, reflection_model=str(mine))
    with_eval = train(tiny_model, tmp_path / "a", callback)
    without = train(tiny_model, tmp_path / "b", None)

    history = with_eval.state.log_history
    evals = [h for h in history if "eval/sums/avg@n" in h]
    assert [h["step"] for h in evals] == [2, 4]  # every 2 steps; the end (4) is not evaluated twice
    for h in evals:
        run_dir = tmp_path / "a" / "evalkit" / f"step-{h['step']}"
        [result] = json.loads((run_dir / "results.json").read_text())["results"]
        samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
        assert result["model"] == f"{tiny_model}@step-{h['step']}" and len(samples) == 4
        assert json.loads((run_dir / "config.json").read_text())["reflection_model"]["file"] == str(mine)
        assert h["eval/sums/avg@n"] == result["metrics"]["avg@n"]["value"]
        assert h["eval/sums/pass@1"] == result["metrics"]["pass@1"]["value"]
        assert h["eval/sums/pass@2"] == result["metrics"]["pass@2"]["value"]
        assert h["eval/sums/truncated"] == sum(s["reason"] == "truncated" for s in samples) / 4
        assert h["eval/sums/truncated"] > 0  # 16 tokens of gibberish rarely close the think block
        assert h["eval/sums/completion_tokens"] == sum(s["completion_tokens"] for s in samples) / 4
        markers = sum(len(s["trace"]["markers"]) for s in samples)
        length = sum(s["trace"]["length"] for s in samples)
        assert math.isclose(h["eval/sums/markers_per_1k"], round(1000 * markers / length, 3))
        assert all(s["completion_tokens"] <= 16 for s in samples)  # the trainer's completion budget
    assert [e.step for e in callback.evaluations] == [2, 4]

    # the policy changed between the evaluations, and training never saw them
    def curve(trainer):
        return [[h.get(k) for k in TRAIN_KEYS] for h in trainer.state.log_history if "loss" in h]

    assert len(curve(without)) == 4
    assert curve(with_eval) == curve(without)


def test_callback_refuses_bad_settings_at_once(toy_task):
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="unknown task 'nosuch'"):
        EvalCallback(tasks=["nosuch"])
    with pytest.raises(InputError, match="every_steps must be at least 1"):
        EvalCallback(tasks=[str(toy_task)], every_steps=0)
    with pytest.raises(InputError, match="n must be at least 1, got 0"):
        EvalCallback(tasks=[str(toy_task)], n=0)
    with pytest.raises(InputError, match="limit must be at least 1"):
        EvalCallback(tasks=[str(toy_task)], limit=-5)
    with pytest.raises(InputError, match="missing.json: not a reflection model evalkit can read"):
        EvalCallback(tasks=[str(toy_task)], reflection_model="missing.json")
    # these were taken, and stopped training at its first evaluation, under the CLI's option names
    for settings, says in ((dict(temperature=-1.0), "EvalCallback: temperature: expected a finite number >= 0"),
                           (dict(top_p=2.0), "EvalCallback: top_p: expected a number in (0, 1]"),
                           (dict(max_tokens=0), "EvalCallback: max_tokens: expected at least 1 token"),
                           (dict(n=2.5), "EvalCallback: n must be a whole number, got 2.5"),
                           (dict(on_error="ignore"), "on_error must be 'warn' or 'raise'"),
                           # these two failed every evaluation, or read "no" as true
                           (dict(system_prompt=5), "EvalCallback: system_prompt must be text or None, got 5"),
                           (dict(think_prefill="no"), "EvalCallback: think_prefill must be True or False, got 'no'"),
                           (dict(out_dir="/proc/evalkit-cannot-write-here"), "out_dir '/proc/evalkit-cannot-write-here' "
                                                                            "cannot hold the run directories")):
        with pytest.raises(InputError, match=re.escape(says)):
            EvalCallback(tasks=[str(toy_task)], **settings)
    copy = toy_task.parent / "copy.yaml"
    copy.write_text(toy_task.read_text())  # another file whose task has the same name
    with pytest.raises(InputError, match="are both named 'sums'"):
        EvalCallback(tasks=[str(toy_task), str(copy)])
    # tasks that load but cannot be run were taken, then failed every evaluation (and, in the same callback,
    # left a good task's figures unlogged): found as the callback is made now, as `evalkit run` finds them
    spec = toy_task.read_text()
    for name, text, says in (("verifier", spec.replace("verifier: math", "verifier: nosuch"), "unknown verifier 'nosuch'"),
                             ("data", spec.replace("sums.jsonl", "gone.jsonl"), "field 'dataset.local': file not found"),
                             ("column", spec.replace("problem: q", "problem: question"), "names column 'question'"),
                             ("template", spec + "prompt: '{{ nosuch }}'\n", "'nosuch' is undefined")):
        bad = toy_task.parent / f"bad_{name}.yaml"
        bad.write_text(text.replace("name: sums", f"name: bad_{name}"))
        with pytest.raises(InputError, match=re.escape(says)):
            EvalCallback(tasks=[str(toy_task), str(bad)])
    with pytest.raises(InputError, match="sums.jsonl: a data file, not a task spec"):
        EvalCallback(tasks=[str(toy_task.parent / "sums.jsonl")])  # was "malformed YAML"


def test_a_baseline_is_logged_and_a_failed_evaluation_does_not_stop_training(tiny_model, toy_task, tmp_path, capfd):
    # an evaluation made before train() was missing from log_history (train() replaces the state), and
    # one that failed mid-training (here: its data file gone) threw the training run away
    task = tmp_path / "sums.yaml"
    shutil.copy(toy_task, task)
    shutil.copy(toy_task.parent / "sums.jsonl", tmp_path / "sums.jsonl")
    trainer = build_trainer(tiny_model, tmp_path / "out")
    callback = EvalCallback(tasks=[str(task)], every_steps=2, limit=1).attach(trainer)
    baseline = callback.evaluate_now()
    (tmp_path / "sums.jsonl").unlink()
    trainer.train()
    assert trainer.state.global_step == 4
    evals = [h for h in trainer.state.log_history if "eval/sums/avg@n" in h]
    assert [h["step"] for h in evals] == [0] and evals[0]["eval/sums/avg@n"] == baseline.metrics["eval/sums/avg@n"]
    assert [step for step, _ in callback.failures] == [2, 4]
    err = capfd.readouterr().err
    assert "evalkit: warning: the evaluation at step 2 failed (InputError: " in err and "training goes on" in err


def test_a_callback_given_in_callbacks_is_refused_before_the_first_step(tiny_model, toy_task, tmp_path):
    # Trainer(callbacks=[...]) never shows a callback its trainer: it used to fail at its first
    # evaluation, after every_steps steps of training were spent
    from evalkit.errors import InputError

    trainer = build_trainer(tiny_model, tmp_path, callbacks=[EvalCallback(tasks=[str(toy_task)], every_steps=3)])
    with pytest.raises(InputError, match=r"needs its trainer.*attach\(trainer\)"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_trainer_given_attaches_once_and_a_finished_run_resumed_is_not_evaluated_again(tiny_model, toy_task,
                                                                                       tmp_path):
    # EvalCallback(trainer=t) never evaluated; attached twice it evaluated twice a step; a finished run
    # resumed evaluated its last step again, a second point at that step in log_history
    def evals(trainer):
        return [h["step"] for h in trainer.state.log_history if "eval/sums/avg@n" in h]

    trainer = build_trainer(tiny_model, tmp_path / "out", max_steps=2, save_steps=2)
    callback = EvalCallback(tasks=[str(toy_task)], every_steps=1, limit=1, trainer=trainer)
    trainer.train()
    assert [e.step for e in callback.evaluations] == [1, 2] and evals(trainer) == [1, 2]
    again = build_trainer(tiny_model, tmp_path / "out", max_steps=2, save_steps=2)
    resumed = EvalCallback(tasks=[str(toy_task)], every_steps=1, limit=1).attach(again)
    assert resumed.attach(again) is resumed
    assert sum(c is resumed for c in again.callback_handler.callbacks) == 1
    again.train(resume_from_checkpoint=True)
    assert again.state.global_step == 2
    assert resumed.evaluations == [] and evals(again) == [1, 2]


def test_a_finished_run_resumed_is_not_evaluated_again_when_it_ends_between_evaluations(tiny_model, toy_task,
                                                                                       tmp_path):
    # the last step (4, not a multiple of every_steps) is evaluated as training ends, after the last checkpoint is
    # saved, so no log history holds it: resumed, the finished run evaluated step 4 again and replaced step-4/
    trainer = build_trainer(tiny_model, tmp_path / "out", max_steps=4, save_steps=4)
    callback = EvalCallback(tasks=[str(toy_task)], every_steps=3, limit=1, trainer=trainer)
    trainer.train()
    assert [e.step for e in callback.evaluations] == [3, 4]
    first = (tmp_path / "out" / "evalkit" / "step-4" / "samples.jsonl").read_text()
    again = build_trainer(tiny_model, tmp_path / "out", max_steps=4, save_steps=4)
    resumed = EvalCallback(tasks=[str(toy_task)], every_steps=3, limit=1, trainer=again)
    again.train(resume_from_checkpoint=True)
    assert again.state.global_step == 4 and resumed.evaluations == []
    assert (tmp_path / "out" / "evalkit" / "step-4" / "samples.jsonl").read_text() == first


def test_two_callbacks_of_one_trainer_may_not_write_the_same_run_directories(tiny_model, toy_task, tmp_path):
    # each wrote <output_dir>/evalkit/step-N with overwrite: the second replaced the first's run, whose logged
    # figures then matched no directory
    from evalkit.errors import InputError

    trainer = build_trainer(tiny_model, tmp_path / "out")
    EvalCallback(tasks=[str(toy_task)], every_steps=1, trainer=trainer)
    with pytest.raises(InputError, match="another EvalCallback of this trainer writes its run directories"):
        EvalCallback(tasks=[str(toy_task)], every_steps=2, trainer=trainer)
    with pytest.raises(InputError, match="another EvalCallback"):
        EvalCallback(tasks=[str(toy_task)], out_dir=str(tmp_path / "out" / "evalkit"), trainer=trainer)
    other = EvalCallback(tasks=[str(toy_task)], every_steps=2, out_dir=str(tmp_path / "other"), trainer=trainer)
    assert sum(isinstance(c, EvalCallback) for c in trainer.callback_handler.callbacks) == 2 and other.trainer is trainer


def test_a_second_callback_evaluates_the_last_step_the_first_evaluated_too(tiny_model, toy_task, tmp_path):
    # the end's evaluation was skipped where the log history held the task's keys at the last step, however they got
    # there: another callback's evaluation a moment before, in the same train(), counted as this one's (QA)
    trainer = build_trainer(tiny_model, tmp_path / "out", max_steps=4)
    first = EvalCallback(tasks=[str(toy_task)], every_steps=2, limit=1, trainer=trainer)
    second = EvalCallback(tasks=[str(toy_task)], n=2, every_steps=3, limit=1, out_dir=str(tmp_path / "second"),
                          trainer=trainer)
    trainer.train()
    assert [e.step for e in first.evaluations] == [2, 4] and [e.step for e in second.evaluations] == [3, 4]
    assert (tmp_path / "second" / "step-4" / "results.json").is_file()


def test_callback_decides_the_think_format_from_the_policys_template(tiny_model, toy_task, tmp_path, monkeypatch):
    # a Magistral-style template: `evalkit run` on the folder reads [THINK] from it, and so must the callback
    import types

    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = tmp_path / "magistral-like"
    shutil.copytree(tiny_model, model)
    template = (model / "chat_template.jinja").read_text()
    (model / "chat_template.jinja").write_text(
        "{{ '<|im_start|>system\\nThink between [THINK] and [/THINK], then answer.<|im_end|>\\n' }}" + template)
    monkeypatch.setattr(transformers.Trainer, "log", lambda self, logs, *a, **k: None)  # the stub keeps no history
    trainer = types.SimpleNamespace(
        model=AutoModelForCausalLM.from_pretrained(model, dtype="float32"),
        processing_class=AutoTokenizer.from_pretrained(model),
        use_vllm=False, state=types.SimpleNamespace(global_step=1),
        args=types.SimpleNamespace(output_dir=str(tmp_path / "out"), max_completion_length=4),
        accelerator=types.SimpleNamespace(is_main_process=True, unwrap_model=lambda m: m),
        control=types.SimpleNamespace(should_log=False), callback_handler=types.SimpleNamespace(callbacks=[]))
    trainer.add_callback = trainer.callback_handler.callbacks.append
    evaluation = EvalCallback(tasks=[str(toy_task)], n=1, limit=1, trainer=trainer).evaluate_now()
    decided = json.loads((evaluation.run_dir / "config.json").read_text())["think_format"]
    assert decided["name"] == "magistral" and "[THINK]" in decided["decided_by"]
    sample = json.loads((evaluation.run_dir / "samples.jsonl").read_text().split("\n")[0])
    assert sample["prompt"].endswith("<|im_start|>assistant\n[THINK]")


def test_a_step_where_nothing_could_be_judged_logs_nan_not_a_gap(tmp_path):
    # results.json holds no metrics when no sample was judged (no gold, a sandbox down): the callback
    # logged truncated and tokens but left avg@n and pass@k out, so the dashboard showed a gap
    import evalkit
    from evalkit.integrations.trl import eval_metrics

    # (a task with no gold at all is refused before it generates: one problem here has a gold, unsampled)
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": None}) + "\n"
                                      + json.dumps({"id": "g", "problem": "2+2?", "answer": "4"}) + "\n")
    (tmp_path / "nogold.yaml").write_text("name: nogold\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    rows = [{"problem_id": "m", "sample": s, "completion": "\\boxed{5}"} for s in range(2)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(tmp_path / "nogold.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False)
    got = eval_metrics(run.run_dir)
    assert {"eval/nogold/avg@n", "eval/nogold/pass@1", "eval/nogold/pass@2"} <= set(got), got
    assert math.isnan(got["eval/nogold/avg@n"]) and math.isnan(got["eval/nogold/pass@2"])
    # a task that chose its metrics logs only those
    (tmp_path / "nogold.yaml").write_text("name: nogold\ndataset: {local: p.jsonl}\nfields: {id: id}\n"
                                          "metrics: [avg@n]\n")
    run = evalkit.evaluate([str(tmp_path / "nogold.yaml")], completions=tmp_path / "c.jsonl",
                           out=tmp_path / "run2", progress=False)
    assert not any("pass@" in k for k in eval_metrics(run.run_dir)) and "eval/nogold/avg@n" in eval_metrics(run.run_dir)


def test_the_logged_figures_of_a_run_of_several_models_are_one_models_never_a_mix(tmp_path):
    # the demo holds four models under one task: the last one's avg@n overwrote the others', and the
    # markers rate was pooled over all four
    import evalkit
    from evalkit.errors import InputError
    from evalkit.integrations.trl import eval_metrics

    run = evalkit.evaluate(["demo"], out=tmp_path / "run", progress=False).run_dir
    with pytest.raises(InputError, match=r"the run holds 4 models \(.*deepseek-reasoner\); name the one"):
        eval_metrics(run)
    results = {r["model"]: r for r in json.loads((run / "results.json").read_text())["results"]}
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for model, entry in results.items():
        got = eval_metrics(run, model=model)
        assert got["eval/demo/avg@n"] == entry["metrics"]["avg@n"]["value"]
        assert got["eval/demo/truncated"] == entry["n_truncated"] / entry["n_samples"]
        own = [s["trace"] for s in samples if s["model"] == model]
        from evalkit.trace import summarize

        assert got["eval/demo/markers_per_1k"] == summarize(own)["markers_per_1k"]
    assert len({eval_metrics(run, model=m)["eval/demo/markers_per_1k"] for m in results}) == 4
    with pytest.raises(InputError, match="no results for model 'other'"):
        eval_metrics(run, model="other")


_TWO_RANKS = r'''
import datetime, json, os, sys, types
import torch, torch.distributed as dist, torch.multiprocessing as mp


class Generating(Exception):
    pass


def rank_main(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=20))
    from evalkit.integrations.trl import EvalCallback
    torch.manual_seed(rank)
    model = torch.nn.Linear(2, 2)
    gathered = []

    class Engine:  # the main process's colocated engine: generating is as far as this test goes
        def get_tokenizer(self):
            raise Generating("generating")

    class StandInVLLMGeneration:  # TRL's contract: sync_weights gathers every parameter from every process
        mode, enable_sleep_mode, llm = "colocate", False, Engine()

        def sync_weights(self):
            for p in model.parameters():
                parts = [torch.empty_like(p.data) for _ in range(2)]
                dist.all_gather(parts, p.data)
                gathered.append(len(parts))

    trainer = types.SimpleNamespace(
        accelerator=types.SimpleNamespace(is_main_process=rank == 0, unwrap_model=lambda m: m), model=model,
        use_vllm=True, vllm_generation=StandInVLLMGeneration(), _last_loaded_step=49, processing_class=None,
        state=types.SimpleNamespace(global_step=50, log_history=[]),
        args=types.SimpleNamespace(output_dir=out, max_completion_length=16))
    callback = EvalCallback(tasks=["aime24"], n=1, every_steps=50, limit=1)
    callback.trainer = trainer
    try:
        result = repr(callback.evaluate_now())
    except Exception as e:
        result = f"{type(e).__name__}: {e}"[:200]
    dist.barrier()  # the next step's first collective
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"result": result, "gathered": gathered, "marker": trainer._last_loaded_step}, f)
    dist.destroy_process_group()  # a gloo group left to the exit aborted a process now and then (SIGABRT)


if __name__ == "__main__":
    mp.spawn(rank_main, args=(int(sys.argv[1]), sys.argv[2]), nprocs=2, join=True)
'''


def test_every_process_pushes_the_weights_before_the_main_one_evaluates(tmp_path):
    # ZeRO-3 and FSDP: TRL's sync_weights gathers each parameter from every process. Two real torch.distributed
    # processes (gloo); only sync_weights is a stand-in (TRL pushes into vLLM over GPUs), making the all-gather
    # ZeRO-3 makes. The main process pushing alone waited for the other until the collective timed out.
    import json
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "ranks.py").write_text(_TWO_RANKS)
    done = subprocess.run([sys.executable, str(tmp_path / "ranks.py"), str(port), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["result"] == "Generating: generating", ranks[0]  # pushed, then on to generation
    assert ranks[1]["result"] == "None"  # the other process takes part in the push, and evaluates nothing
    assert ranks[0]["gathered"] == ranks[1]["gathered"] == [2, 2]  # weight and bias, from both processes
    assert ranks[0]["marker"] == ranks[1]["marker"] == 50  # TRL's marker alike on both: its next push is on both


def test_a_failed_weight_push_stops_training_even_under_warn(tmp_path):
    # the other processes may be inside the gather the push left half done: "training goes on" would hang in the next
    # collective until it timed out
    import types

    from evalkit.integrations.trl import WeightPushError

    class FailingPush:
        mode, enable_sleep_mode, llm = "colocate", False, None

        def sync_weights(self):
            raise ConnectionError("the vLLM server refused the update")

    trainer = types.SimpleNamespace(
        accelerator=types.SimpleNamespace(is_main_process=True, unwrap_model=lambda m: m), model=None,
        use_vllm=True, vllm_generation=FailingPush(), _last_loaded_step=0, processing_class=None,
        state=types.SimpleNamespace(global_step=5, log_history=[]),
        args=types.SimpleNamespace(output_dir=str(tmp_path), max_completion_length=16))
    callback = EvalCallback(tasks=["aime24"], n=1, every_steps=5, limit=1, on_error="warn")
    callback.trainer = trainer
    with pytest.raises(WeightPushError, match="the vLLM server refused the update"):
        callback.on_step_end(None, trainer.state, None)
    assert trainer._last_loaded_step == 0  # nothing was pushed
