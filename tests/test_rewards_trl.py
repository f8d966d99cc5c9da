"""A real TRL GRPOTrainer, 2 steps on CPU with the tiny offline model, rewarded by evalkit."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("trl")

from evalkit.rewards import math_reward, math_reward_async, think_format_reward, think_format_reward_async

QUESTIONS = [("What is $1+1$?", "2"), ("What is $2+3$?", "5")]


def train(tiny_model, tmp_path, dataset, reward_funcs):
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, max_steps=2, per_device_train_batch_size=4,
        num_generations=4, max_completion_length=16, logging_steps=1, report_to=[], save_strategy="no",
        learning_rate=1e-5, seed=0, dataloader_num_workers=0, log_completions=False,
    )
    trainer = GRPOTrainer(model=str(tiny_model), reward_funcs=reward_funcs, args=args, train_dataset=dataset)
    trainer.train()
    return trainer


def check_rewards_logged(trainer):
    steps = [h for h in trainer.state.log_history if "rewards/math_reward/mean" in h]
    assert len(steps) == 2  # one log line per step
    for h in steps:
        for name in ("math_reward", "think_format_reward"):
            assert math.isfinite(h[f"rewards/{name}/mean"])  # None (unjudged) would make the mean NaN
        assert h["math_reward/unjudged"] == 0.0
    # What TRL logged per completion is exactly what evalkit says about those completions.
    logs = trainer._logs
    completions = list(logs["completion"])
    assert len(completions) >= 4  # TRL keeps the completions of the last generation batch
    gold = dict(QUESTIONS)
    prompts = list(logs["prompt"])
    answers = [gold[next(q for q in gold if q in str(p))] for p in prompts]
    assert list(logs["rewards"]["math_reward"]) == math_reward(completions=completions, answer=answers)
    assert list(logs["rewards"]["think_format_reward"]) == think_format_reward(completions=completions)
    reasons = list(logs["extra"]["math_reward/reason"])
    assert len(reasons) == len(completions)
    assert set(reasons) <= {"correct", "wrong", "no_answer", "truncated", "timeout"}


def test_grpo_trainer_standard_dataset(tiny_model, tmp_path):
    from datasets import Dataset

    data = Dataset.from_list([{"prompt": q, "answer": a} for q, a in QUESTIONS])
    trainer = train(tiny_model, tmp_path, data, [math_reward, think_format_reward])
    check_rewards_logged(trainer)


def test_grpo_trainer_conversational_dataset_async_rewards(tiny_model, tmp_path):
    from datasets import Dataset

    data = Dataset.from_list([{"prompt": [{"role": "user", "content": q}], "answer": a} for q, a in QUESTIONS])
    trainer = train(tiny_model, tmp_path, data, [math_reward_async, think_format_reward_async])
    assert isinstance(trainer._logs["completion"][0], list)  # chat messages reached the rewards
    check_rewards_logged(trainer)


def test_think_markers_that_are_special_tokens_are_read_with_the_tokenizer(tiny_model, caplog, monkeypatch):
    # TRL 1.16 decodes completions with skip_special_tokens=True (grpo_trainer.py); the tiny model's <think> and
    # </think> are special tokens, as gpt-oss's channels are: every reply reached the rewards without its close,
    # read as unfinished thinking, and scored 0 where `evalkit run` scored the same text 75% right
    import functools

    from transformers import AutoTokenizer

    import evalkit.rewards._judge as said

    monkeypatch.setattr(said, "_said", set())  # the warning is said once a process: here, whatever ran before
    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    written = ["So 1+1 is 2.\n</think>\nThe answer is \\boxed{2}.<|im_end|>",
               "2+3 makes 5.\n</think>\n\\boxed{5}<|im_end|>",
               "2+3 makes 6.\n</think>\n\\boxed{6}<|im_end|>",
               "maybe \\boxed{2} but"]  # cut off mid-thought
    ids = [tok.encode(t, add_special_tokens=False) for t in written]
    as_trl = tok.batch_decode(ids, skip_special_tokens=True)  # what TRL hands the reward
    assert "</think>" not in "".join(as_trl)
    golds, opened = ["2", "5", "5", "2"], [True] * 4
    assert math_reward(as_trl, completion_ids=ids, answer=golds, think_open=opened) == [0.0] * 4
    assert "give the reward the tokenizer, functools.partial(math_reward, tokenizer=tokenizer)" in caplog.text
    rewarded = functools.partial(math_reward, tokenizer=tok)
    assert rewarded(as_trl, completion_ids=ids, answer=golds, think_open=opened) == [1.0, 1.0, 0.0, 0.0]
    assert rewarded(as_trl, completion_ids=ids, answer=golds, think_open=opened) == math_reward(
        [t.replace("<|im_end|>", "") for t in written], answer=golds, think_open=opened)
    assert think_format_reward(as_trl, completion_ids=ids, think_open=opened, tokenizer=tok) == [1.0, 1.0, 1.0, 0.0]


def test_harmony_channels_and_literal_text_survive_the_second_decoding(tiny_model):
    # gpt-oss's markers span several special tokens (<|channel|>analysis<|message|>): keeping only a token that was
    # a whole marker dropped them all, and a reply cut off mid-thought was paid 1.0; a special token's text the
    # model wrote with ordinary tokens was cut out of its answer
    import functools

    from transformers import AutoTokenizer

    from evalkit.rewards import cosine_length_reward

    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    tok.add_special_tokens({"additional_special_tokens": ["<|channel|>", "<|message|>", "<|end|>", "<|start|>",
                                                          "<|return|>"]})
    done = "<|channel|>analysis<|message|>1+1 is 2.<|end|><|start|>assistant<|channel|>final<|message|>\\boxed{2}"
    cut = "<|channel|>analysis<|message|>maybe it is \\boxed{2} but let me"
    ids = [tok.encode(t, add_special_tokens=False) for t in (done, cut)]
    as_trl = tok.batch_decode(ids, skip_special_tokens=True)
    rewarded = functools.partial(math_reward, tokenizer=tok)
    assert rewarded(as_trl, completion_ids=ids, answer=["2", "2"], think_format="harmony") == [1.0, 0.0]
    assert think_format_reward(as_trl, completion_ids=ids, think_format="harmony", tokenizer=tok) == [1.0, 0.0]
    # the text `<|im_end|>` written in ordinary tokens is an answer's text, not the end of turn
    literal = "<think>x</think> Use <|im_end|> to stop: \\boxed{2}"
    literal_ids = [i for piece in ("<think>x</think> Use ", "<|im_", "end|> to stop: \\boxed{2}")
                   for i in tok.encode(piece, add_special_tokens=False)]
    assert tok.decode(literal_ids) == literal
    from evalkit.rewards._inputs import as_written

    assert as_written([literal], {"tokenizer": tok, "completion_ids": [literal_ids]}) == [literal]
    # cosine_length_reward reads them too (a tokenizer it took and ignored scored a right answer -1)
    written = ["So 2.\n</think>\n\\boxed{2}<|im_end|>"]
    think_ids = [tok.encode(t, add_special_tokens=False) for t in written]
    stripped = tok.batch_decode(think_ids, skip_special_tokens=True)
    bound = cosine_length_reward(stripped, think_ids, answer=["2"], think_open=[True], tokenizer=tok)
    assert bound == cosine_length_reward(["So 2.\n</think>\n\\boxed{2}"], think_ids, answer=["2"], think_open=[True])
    assert bound[0] > 0.5


def test_without_the_tokenizer_a_model_writing_its_own_special_open_marker_is_warned_about(tiny_model, caplog,
                                                                                           monkeypatch):
    # the tiny model writes its own <think> (a special token) and TRL decodes it away: every reply read as an answer
    # and a reply cut off mid-thought was paid for the box it mused about, without a word (QA)
    from transformers import AutoTokenizer

    import evalkit.rewards._judge as said

    monkeypatch.setattr(said, "_said", set())
    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    written = ["<think>so maybe \\boxed{7}", "<think>so maybe \\boxed{7}", "<think>ok</think>\\boxed{7}",
               "<think>hmm \\boxed{7}"]
    ids = [tok.encode(t, add_special_tokens=False) for t in written]
    as_trl = tok.batch_decode(ids, skip_special_tokens=True)
    assert math_reward(as_trl, completion_ids=ids, answer=["7"] * 4) == [1.0] * 4  # unreadable without the tokenizer
    assert "no completion of a batch holds a think marker (<think> … </think>)" in caplog.text
    assert "functools.partial(math_reward, tokenizer=tokenizer)" in caplog.text
    assert math_reward(as_trl, completion_ids=ids, answer=["7"] * 4, tokenizer=tok) == [0.0, 0.0, 1.0, 0.0]
    caplog.clear()
    monkeypatch.setattr(said, "_said", set())  # a policy that says it does not think is not warned about
    assert math_reward(as_trl, completion_ids=ids, answer=["7"] * 4, think_format="none") == [1.0] * 4
    assert "think marker" not in caplog.text


def test_gpt_oss_channels_trl_or_verl_decoded_away_are_read_back_under_harmony():
    # `<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…` reaches a reward decoded
    # with skip_special_tokens=True as `analysis…assistantfinal…`: the analysis was read as the answer (QA)
    from evalkit.rewards.verl import compute_score

    done = "analysisMaybe \\boxed{7}? No, 3+5=8.assistantfinalThe answer is \\boxed{8}."
    cut = "analysisWe need 3+4. maybe \\boxed{7}"
    assert math_reward([done, cut, done, cut], answer=["7", "7", "8", "7"], think_format="harmony",
                       completion_ids=[[1]] * 4) == [0.0, 0.0, 1.0, 0.0]
    assert think_format_reward([done, cut], think_format="harmony") == [1.0, 0.0]
    assert compute_score("math", cut, "7", {"think_format": "harmony"})["reason"] == "truncated"
    assert compute_score("math", done, "8", {"think_format": "harmony"})["score"] == 1.0
    # under auto, a batch where one reply shows the decoded channels reads each reply starting so as gpt-oss's
    assert math_reward([done, cut, "The analysis gives \\boxed{7}"], answer=["8", "7", "7"],
                       think_format="auto") == [1.0, 0.0, 1.0]
    # under r1 the same text is an answer, as any reply without markers is
    assert math_reward([cut], answer=["7"]) == [1.0]
