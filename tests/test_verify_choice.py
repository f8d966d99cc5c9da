"""The choice verifier: option letters in every common form; the final statement wins."""

from __future__ import annotations

import pytest

from evalkit.verifiers import VerifyItem, get_verifier
from evalkit.verifiers.choice import verify_choice


@pytest.mark.parametrize("completion", [
    "B",
    "(B)",
    "\\boxed{B}",
    "$\\boxed{\\text{(B)}}$",
    "\\text{(B)}",
    "the answer is B",
    "Answer: B",
    "**Answer:** (B)",
    "The correct option is B.",
    "it's B, not A",
    "(A) looked right at first, but the answer is B rather than A.",
    "<think>The answer is A. Wait, no.</think>\n\nThe answer is $\\boxed{B}$",
])
def test_letter_forms(completion):
    v = verify_choice(completion, "B")
    assert (v.correct, v.answer, v.reason) == (True, "B", "correct")


def test_wrong_letter_and_gold_forms():
    v = verify_choice("Answer: C", "(B)")
    assert (v.correct, v.answer, v.reason) == (False, "C", "wrong")
    assert verify_choice("\\boxed{D}", "\\boxed{D}").correct is True


def test_only_the_final_answer_counts():
    assert verify_choice("<think>the answer is B</think>I cannot decide.", "B").reason == "no_answer"
    assert verify_choice("<think>the answer is B", "B").reason == "truncated"
    assert verify_choice("The answer is B", "B", finish_reason="length").reason == "truncated"


@pytest.mark.parametrize("completion", [None, "", b"\xff\x00", "I am not sure.", "x" * 1_000_000])
def test_bad_input_gets_no_answer(completion):
    v = verify_choice(completion, "A")
    assert (v.correct, v.score, v.reason) == (False, 0.0, "no_answer")


def test_gold_that_is_no_letter_is_unjudged():
    assert verify_choice("B", None).correct is None
    assert verify_choice("B", "forty-two").reason == "error"


def test_registered_for_task_specs():
    v = get_verifier("choice", letters="ABCD")
    assert v.name == "choice"
    got = v.verify_many([VerifyItem("Answer: E", "A"), VerifyItem("\\boxed{A}", "A")])
    assert [g.reason for g in got] == ["no_answer", "correct"]  # E is not an option here


@pytest.mark.parametrize("completion,letter", [
    ("The answer is for sure D, it can't be A or B", "D"),
    ("It's definitely (C).", "C"),
    ("It cannot be A, B or D; the answer is clearly C", "C"),
    ("The answer is probably B", "B"),
])
def test_certainty_words_and_negated_lists(completion, letter):
    assert verify_choice(completion, letter).answer == letter


def test_negated_letters_in_a_list_never_count():
    # Near miss: every letter named here is ruled out, so nothing is chosen.
    assert verify_choice("It can't be A or B.", "A").reason == "no_answer"


def test_a_bare_answer_is_read_whole():
    assert verify_choice("(C)", "C", answer_only=True).correct is True
    # A bare answer has no think block to close: "<think>" in it is never truncation.
    v = verify_choice("<think> so the answer is B", "B", answer_only=True)
    assert (v.correct, v.reason) == (True, "correct")


@pytest.mark.parametrize("completion", [
    "The answer is: B",
    "So the answer is: **B**",
    "Answer: $B$",
    "Answer: \\(B\\)",
    "The answer is $\\text{B}$.",
    "The answer is [B]",
    "Answer - B",
    "The answer would be B.",
    "A is wrong. Thus, B is the correct answer.",
    "$\\boxed{\\mathrm{B}}$",
    "答案是 B",  # the answer in Chinese, as a C-Eval or CMMLU prompt has it written
    "所以正确答案为：(B)。",
    "答案：**B**，因为 A 不成立",
])
def test_letter_forms_models_also_write(completion):
    v = verify_choice(completion, "B")
    assert (v.correct, v.answer, v.reason) == (True, "B", "correct")


@pytest.mark.parametrize("completion,chosen", [
    ("Answer: A, C", "A, C"),
    ("The answer is (A) or (B).", "A, B"),
    ("The answer is A, B, C, or D", "A, B, C, D"),
    ("Answer: A/B", "A, B"),
    ("Answer: $A$ or $B$", "A, B"),
    ("The answer is A, B, C, or D since each fits", "A, B, C, D"),  # words after the list keep it a list
    ("The answer is A or C because both work.", "A, C"),
    ("The answer is C, A because both work.", "A, C"),  # a letter, not the article, before "because"
    ("The answer is C or A cyclic ether.", "A, C"),  # joined by "or": listed
    ("Answer: C, A", "A, C"),
    ("The answer is C, A only.", "A, C"),  # words that follow a letter are no option's text
    ("The answer is C, A likely.", "A, C"),
    ("The answer is (A) or (C) since", "A, C"),
    ("The answer is (A) or maybe (C).", "A, C"),  # read as A: the hedge ended the list
    ("\\boxed{A} or \\boxed{C}", "A, C"),  # read as C, the last box
    ("(C) or maybe (A)", "A, C"),  # the README's own example without "the answer is": read as A, the last letter
    ("I think (C) or (A).", "A, C"),
    ("\\text{(C)} or \\text{(A)}", "A, C"),
    ("答案是 C 或 A", "A, C"),  # or, and, and the list comma in Chinese
    ("答案是A和C。", "A, C"),
    ("答案是 A、C", "A, C"),
    ("答案是A、C、D", "A, C, D"),
    ("答案是B或C，因为都对", "B, C"),
])
def test_several_letters_in_one_statement_are_not_the_gold_letter(completion, chosen):
    v = verify_choice(completion, "A")
    assert (v.correct, v.answer, v.reason) == (False, chosen, "wrong")
    assert "several letters" in v.detail


@pytest.mark.parametrize("completion, letter", [
    # a Chinese explanation after the letter rules other options out or compares them: it lists none
    ("\\boxed{C}，A、B、D均不正确", "C"),
    ("所以答案是 \\boxed{B}，A 选项错误在于忽略了摩擦", "B"),
    ("答案为\\boxed{D}和C类似", "D"),
    ("答案是B，A、C、D均错误", "B"),
    ("答案是 A，B 不对", "A"),
    ("the answer is B 和 A 不同", "B"),
    ("The answer is (B)、(A) wrong", "B"),
    ("The answer is (C)，A cyclic ether", "C"),
    ("答案是A吗？不对，应该选C", "C"),  # a question states nothing; "应该选" (should choose) does
    ("故选B", "B"),
])
def test_a_letter_joined_in_chinese_is_listed_only_where_the_list_ends_the_statement(completion, letter):
    v = verify_choice(completion, letter)
    assert (v.correct, v.answer) == (True, letter), v


@pytest.mark.parametrize("completion", [
    "So we conclude (C) A quick check confirms this.",  # the option's own text starts with a capital
    "Thus (C) H2O is the molecule.",
    "Therefore: (C) G protein coupled receptor.",
    "(C) H",
    "(A) and (B) are wrong, so (C).",
    # after a comma, "A" and a word in small letters starts the option's text (read as "A, C" before)
    "So the answer is (C), A cyclic ether.",
    "The answer is option C, A decrease in pressure.",
    "So the answer is (C), A likely candidate for the reaction.",  # a listing word inside the option's text
])
def test_a_letter_in_parentheses_followed_by_the_options_text_is_one_letter(completion):
    v = verify_choice(completion, "C")
    assert (v.correct, v.answer) == (True, "C"), v.detail


@pytest.mark.parametrize("completion", [
    # the last letter in parentheses was read though the text rules it out after a colon or calls it a distractor
    "Option (C): correct. Option (D): incorrect.",
    "(C) seems right; (D) is a distractor.",
    "(D): wrong. (C): right.",
    "Option (D): **incorrect**. Option (C) holds.",
])
def test_a_letter_ruled_out_after_a_colon_or_called_a_distractor_is_not_chosen(completion):
    v = verify_choice(completion, "C")
    assert (v.correct, v.answer) == (True, "C"), v.detail
    assert verify_choice("The answer is (D): incorrect options aside.", "D").correct is True  # a phrase, no verdict


@pytest.mark.parametrize("completion", [
    # review: after a statement, a box or a tag, the words after a colon are the option's own text ("which is false?")
    "The answer is (D): false, false.", "Answer: (D): incorrect", "So the answer is \\boxed{D}: false.",
    "Which is NOT correct? The answer is (D): not correct.", "Answer: D: wrong",
])
def test_a_colon_after_a_stated_letter_opens_the_options_own_text(completion):
    v = verify_choice(completion, "D")
    assert (v.correct, v.answer) == (True, "D"), v.detail


@pytest.mark.parametrize("completion", [
    "The answer is A, not B.",
    "The answer is A and I am sure of it.",  # "I" starts a sentence here, not a list
    "The answer is A, and B is wrong.",
])
def test_one_letter_with_more_words_after_it_is_still_one_letter(completion):
    assert verify_choice(completion, "A").answer == "A"


@pytest.mark.parametrize("completion", [
    "(A) 3 (B) 4 (C) 5 (D) 6",  # the options restated, none chosen
    "None of (A), (B), (C) or (D) fits.",
])
def test_naming_every_option_chooses_none(completion):
    v = verify_choice(completion, "D")
    assert (v.correct, v.reason) == (False, "no_answer")


def test_a_letter_ruled_out_after_it_is_not_chosen():
    assert verify_choice("(A) is wrong and (B) too, so (C)", "C").answer == "C"


@pytest.mark.parametrize("completion, letters", [
    ("Answer: I believe it's C", "ABCDEFGHIJ"),  # read as option I under the default letters
    ("The answer is I think (C).", "ABCDEFGHIJ"),
    ("\\boxed{C. 42}", "ABCD"),  # the option restated in the box: no answer
    ("\\boxed{C) 42}", "ABCD"),
    ("\\boxed{\\text{C. } 42}", "ABCD"),
    ("C is correct.", "ABCD"),
    ("C is the answer.", "ABCD"),
])
def test_a_pronoun_is_no_option_and_a_restated_option_or_a_short_verdict_is_read(completion, letters):
    v = verify_choice(completion, "C", letters=letters)
    assert (v.correct, v.answer) == (True, "C"), v.detail
    assert verify_choice("The answer is I.", "I").correct is True  # option I itself still reads
    assert verify_choice("C is not correct. D is.", "C", letters="ABCD").correct is not True


@pytest.mark.parametrize("completion", [
    "The answer is A (or possibly C).",
    "The answer is A \\text{ or } C",
    "The answer is A and/or C",
    "The answer is A vs C",
    "The answer is A versus C",
    "The answer is A|C",
    "The answer is A+C",
    "The answer is A∨C",
    "The answer is A \\lor C",
    "The answer is A \\vee C",
])
def test_letters_joined_by_any_or_are_several_letters(completion):
    # each of these scored A, the first letter, for gold A: a hedge the README says is wrong
    v = verify_choice(completion, "A")
    assert (v.correct, v.answer) == (False, "A, C"), v


@pytest.mark.parametrize("completion", [
    "The answer is not A, it's C",  # was no answer: "not A, " was read as negating the C of "it's C"
    "Rather than A, choose C",
    "The answer is C; A and B are wrong.",  # was A, C: the letters of a clause of their own were listed
    "The answer is C, B fails.",
    "The answer is C; A, B and D are wrong.",  # a comma list with a plural verb is a clause of its own
    "The answer is C, A, B, D fail.",
    "The answer is C; B, D have errors.",
    "The answer is C, D aren't valid.",
])
def test_letters_ruled_out_beside_the_chosen_one_do_not_count(completion):
    v = verify_choice(completion, "C")
    assert (v.correct, v.answer) == (True, "C"), v


@pytest.mark.parametrize("completion, chosen", [
    ("\\boxed{B} or \\boxed{C}, I can't decide.", "B, C"),  # "I" is no letter of a clause of their own
    ("The answer is A or C, I have to guess.", "A, C"),
    ("The answer is A or C, B does not work.", "A, C"),
    ("The answer is A or C and D is wrong.", "A, C"),  # D alone is the subject of "is"
])
def test_a_clause_after_a_list_does_not_shorten_it(completion, chosen):
    v = verify_choice(completion, "C", finish_reason="stop")
    assert (v.correct, v.answer) == (False, chosen), v


def test_a_negation_before_a_statement_still_rules_its_letter_out():
    assert verify_choice("I would not choose B", "B").reason == "no_answer"
    assert verify_choice("It can't be A or B, so the answer is C", "C").correct is True


@pytest.mark.parametrize("completion, chosen", [
    ("The answer is B or C, A and D are wrong.", "B, C"),  # scored B: C was read as the start of "C, A and D are"
    ("The answer is B or C, A and D don't fit.", "B, C"),
    ("(B) or (C), (A) and (D) are wrong.", "B, C"),
    ("The answer is (A) or C", "A, C"),
    ("The answer is B vs. A's 10.", "B"),  # a possessive is no letter
])
def test_a_list_joined_by_or_keeps_its_letters_before_a_clause_of_its_own(completion, chosen):
    assert verify_choice(completion, "B").answer == chosen


@pytest.mark.parametrize("completion, gold", [
    ("The answer is (B) A circle", "B"),  # scored A, B: the option's text starts with a capital
    ("**Answer: (C) B-DNA**", "C"),
    ("The answer is (B) H2O", "B"),
    ("The answer is (C) E. coli", "C"),
    ("The answer is (D) I, III", "D"),
    ("Answer: D) A, B and C", "D"),
    ("**B) A decrease of 10%**", "B"),
    ("(A) and (B) are wrong, so (C).", "C"),
    ("The answer is C, A and B are wrong.", "C"),
])
def test_an_option_restated_after_its_letter_in_parentheses_is_that_letter(completion, gold):
    v = verify_choice(completion, gold)
    assert (v.correct, v.answer) == (True, gold), v


@pytest.mark.parametrize("completion, chosen", [
    ("The correct answer is B and D is wrong.", "B"),  # "is" rules out D alone
    ("**Answer: C** and D is wrong", "C"),
    ("Thus the answer is C and A and B are incorrect.", "C"),
    ("The answer is C, and A and B are incorrect.", "C"),
    ("The answer is C or D, and A and B are incorrect.", "C, D"),
    ("The answer is (B) (C)", "B, C"),
    ("The answer is (C) (B) contradicts the given data.", "C"),  # B's own clause
    ("The answer is **(A) (C)**.", "A, C"),
    ("The answer is (A) (C)$.", "A, C"),
])
def test_what_a_statement_chooses_beside_letters_a_clause_rules_out(completion, chosen):
    assert verify_choice(completion, "C").answer == chosen


@pytest.mark.parametrize("completion, chosen", [
    # a correction after the choice chooses again: the first letter was scored
    ("The answer is B... no wait, it's C.", "C"),
    ("The answer is B. Actually, C.", "C"),
    ("Final answer: B.\nWait, that's wrong. Final: C", "C"),
    ("The answer is \\boxed{B}\n\nHmm, actually it's C.", "C"),
    ("The answer is B.\n\nCorrection: C.", "C"),
    ("The answer is A? No — B.", "B"),
    # what is no correction leaves the choice: a sentence that goes on from the letter, a question, a hedge
    ("The answer is B. Wait, C is wrong, so B.", "B"),
    ("The answer is B (wait, let me double check: yes, B).", "B"),
    ("The answer is B. Actually, C could also work.", "B"),
    ("**Answer: B**\n\nWhy not A? No, A ignores the friction term.", "B"),
    ("**Answer: B**\n\nActually, A careful reader might object.", "B"),
    ("Answer: B\n\nActually, F = ma here, so B holds.", "B"),
    ("Answer: B\n\nOops, typo above: in step 2 it should be C_p, not C_v.", "B"),
    ("\\boxed{B}\n\nActually, C is the answer choice most students pick.", "B"),
    ("The answer is B. Wait, maybe it's C?", "B"),
    ("The answer is B. Wait, C? Hmm.", "B"),
    # an option named, not chosen: "Option C" alone was read as the answer; chosen, it still is
    ("The answer is B. Option C is tempting, but it fails.", "B"),
    ("So we choose option B.", "B"),
    ("I'd go with option B.", "B"),
    ("**Option B**", "B"),
    ("Let's evaluate each option.\n\nOption A is wrong. Option C fails.\n\nTherefore, option B.", "B"),
    # several letters inside one box, or joined by a dash and "or", are several
    ("\\boxed{(B),(C)}", "B, C"),
    ("\\boxed{\\text{(B) and (C)}}", "B, C"),
    ("\\boxed{(B) \\& (C)}", "B, C"),
    ("The answer is B — or maybe C.", "B, C"),
    ("\\boxed{B) A circle}", "B"),
])
def test_a_correction_chooses_again_and_a_box_of_several_letters_is_several(completion, chosen):
    v = verify_choice(completion, "B")
    assert v.answer == chosen and v.correct is (chosen == "B"), v


@pytest.mark.parametrize("completion, chosen", [
    # a letter after "so" that ends its sentence is chosen; the options ruled out before it are not
    ("Options A and B are wrong, so C.", "C"),
    ("A fails the units check. Thus **C**.", "C"),
    ("so I.", None),  # the pronoun, not option I
    ("So C is 3 and D is 4", None),
    # small letters stated as the answer, where no capital is chosen
    ("Answer: c", "C"),
    ("\\boxed{c}", "C"),
    ("$\\boxed{(c)}$", "C"),
    ("The answer is (c) 4 m.", "C"),
    ("c", "C"),
    ("Answer: not b", None),
    ("The answer is a circle.", None),
    ("The answer is (b).\nWait, C.", "C"),  # a correction after a small letter chooses again
    # e and i alone or boxed are Euler's number and the imaginary unit; in parentheses, options
    ("$\\boxed{e}$", None),
    ("The answer is i.", None),
    ("The answer is (e).", "E"),
    # a capital still comes first: \boxed{e} is Euler's number beside the stated (B)
    ("So $\\boxed{e}$, and the answer is (B).", "B"),
])
def test_so_a_letter_and_small_letters_stated_as_the_answer(completion, chosen):
    v = verify_choice(completion, "C")
    assert (v.answer, v.correct) == (chosen, chosen == "C"), v


def test_a_gold_in_small_letters_is_its_option():
    assert verify_choice("Answer: C", "c").correct is True
    get_verifier("choice").check_gold("c")  # no ValueError


@pytest.mark.timeout(30)  # a guard, not a measure: each took minutes or more before, and is instant now
@pytest.mark.parametrize("completion, chosen", [
    ("Answer is" + " " * 300 + "(B)", "B"),  # white space between the rows' parts backtracked as a power of its run
    ("Answer is" + " " * 300 + "x", None),
    ("(A)," * 5000 + " and (B) are wrong", "A"),  # each letter of a list read the rest of it (quadratic)
    ("The answer is " + "A, " * 6000, "A"),  # and took twice the time for each letter of ten (2.7 s)
    ("The answer is\n\n\n   B.", "B"),  # a run holding a line break is still white space between the words
])
def test_long_runs_of_white_space_or_of_listed_letters_are_read_at_once(completion, chosen):
    assert verify_choice(completion, "B").answer == chosen


def test_a_line_ending_in_cr_lf_ends_a_correction_as_lf_does():
    assert verify_choice("The answer is B.\r\nWait, actually C\r\n", "C").answer == "C"


SUMMARY = "<think>So B.</think>\n\nEnergy is conserved: $E = mgh \\approx 42$ J.\n\n"


@pytest.mark.parametrize("final", [
    # the label's colon outside its markup, or the letter quoted (each was no answer)
    "**Answer**: B", "**Final Answer**: B", "*Answer*: B", "**Answer**: **B**", "**最终答案**: B",
    '{"answer": "B"}', "```json\n{\"reasoning\": \"mgh\", \"answer\": \"B\"}\n```", 'Answer: "B"', "<answer>B</answer>",
    # a box with the option's words, or in italics
    "\\boxed{\\text{Option B}}", "\\boxed{\\textit{B}}",
    # a summary's last line that is the option, alone or with its text
    "B", "B.", "**B**", "**Option B**", "B) 42 J", "**B) 42 J**", "**B)** 42 J", "**B.** 42 J", "**B** – 42 J",
    # Chinese: the right option is B, option B is right, a full-width letter
    "因此正确选项是 B。", "选项B正确。", "答案：Ｂ", "答案是（Ｂ）",
    # a unit after a number is no option (MMLU-Pro's ten letters reach J)
    "(B) 42 J is correct.", "Thus, option (B): 2 H is right.", "The energy 42 J is the correct value, so (B).",
    # "answer X" without a verb or a colon discusses an option after the answer: the answer stands
    "**Answer: B**\n\n- Answer A assumes h = 0.6 m.\n- Answer D: violates conservation",
    "Answer: B\n\nThe answer C would need h = 0.36 m.", "The answer is (B).\n\nNote that answer (C) would follow if g = 1.",
    "Answer choice D gives 0 J, which violates conservation. Therefore, B is the correct answer.",
    "Answer (B)", "Answer B.", "Answer – B", "Answer = B",
    # ... and as the review found the first version of this missing ("answer X" with a wrapped or hedged letter)
    "A) 32\nB) 53\nC) 66\nD) 36\n**Final Answer** B", "Final Answer $B$", "Final answer \\(B\\)", "answer definitely B",
    "Answer B, since it is the only one that conserves energy.",
    "It must be B.", "$B$",
])
def test_answers_as_models_write_them_after_a_summary(final):
    v = verify_choice(SUMMARY + final, "B", letters="ABCDEFGHIJ")
    assert (v.reason, v.answer) == ("correct", "B"), v


@pytest.mark.parametrize("final", [
    "A careful check confirms it.",  # an article, not a choice
    "(A) is wrong.", "A) fails",  # a verdict on one option
    "A) 12 J\nB) 42 J\nC) 8 J\nD) 4 J",  # the options listed
    "A. 12 J is too small\nB. 42 J",  # a verdict on each
    "So I.", "I think so.",
    # a verdict on the option, a variable, or another option on the last line (the review's finds)
    "C) incorrect", "C: wrong", "C - incorrect", "**D** – wrong", "F: 10 N", "E: 5 J",
    "B. Or maybe C.", "B) 4 or C) 5", "B) 4, C) 5", "B. C. D.", "B) and C) both work", "**B** – or D",
])

def test_a_last_line_that_chooses_no_option_is_no_answer(final):
    v = verify_choice(SUMMARY.replace("So B.", "Hmm.") + final, "B", letters="ABCDEFGHIJ")
    assert v.reason == "no_answer", v


def test_a_gold_in_small_letters_is_its_option_e_and_i_too():
    # gold `e` was refused as "not an option letter (ABCDEFGHIJ)", E being one
    assert verify_choice("Answer: E", "e").reason == "correct" and verify_choice("Answer: (I)", "i").reason == "correct"
    assert verify_choice("Answer: B", "b").reason == "correct" and verify_choice("Answer: E", "e", letters="ABCD").reason == "error"


@pytest.mark.parametrize("completion, chosen", [
    # boxes and answer tags that name several options are several letters, as `\\boxed{A} or \\boxed{C}` is
    ("\\boxed{\\text{Option A}} or \\boxed{\\text{Option B}}", "A, B"), ("\\boxed{Choice A} and \\boxed{Choice C}", "A, C"),
    ("<answer>B</answer> or <answer>C</answer>", "B, C"), ("\\boxed{B \\text{ or C}}", None),
    # a question, and a negation, in Chinese
    ("选项B正确吗？", None), ("不是选项B正确", None),
])
def test_new_answer_forms_still_list_hedges_and_keep_questions_and_negations(completion, chosen):
    from evalkit.verifiers.choice import extract_choice

    assert extract_choice(completion)[0] == chosen


def test_the_options_listed_line_by_line_choose_none():
    # the first of them was read as the answer ("leading" row): gold A credited a restatement
    assert verify_choice("<think>So B.</think>\n\nA) 12 J\nB) 42 J\nC) 7 J\nD) 0 J", "A").reason == "no_answer"
    assert verify_choice("A) 12 J\nB) 42 J\nC) 7 J\nD) 0 J\nAnswer: B", "B").reason == "correct"
    assert verify_choice("A. Because energy is conserved.", "A").reason == "correct"
    assert verify_choice("A) 12 J\n\nB) 42 J\n\nC) 7 J\n\nD) 0 J", "A").reason == "no_answer"  # a blank line apart


@pytest.mark.parametrize("completion, chosen", [
    # a real answer first, the options listed after it (the options-first rule read the whole text as a list)
    ("A. The energy is 42 J because mgh.\n\nFor reference the options were:\nA) 42 J\nB) 12 J\nC) 7 J", "A"),
    ("C) 7 J\n\nOptions:\nA. 12 J\nB. 3 J\nD. 5 J", "C"),
    # the letter alone right after the list chooses; a list's bare last item does not
    ("A) 12 J\nB) 42 J\nC) 7 J\nD) 3 J\nB", "B"), ("A) 12 J\nB) 42 J\nC) 7 J\nD) 3 J\n\n$B$", "B"),
    ("A) 12 J\nB) 42 J\nC) 7 J\nD) 3 J\n\nSo:\nD. 3 J", "D"), ("A) 12 J\nB) 42 J\nC) 7 J\nD)", None),
    # a letter that is part of a word or an expression after "must be" / "is" is no choice
    ("X must be C-shaped.", None), ("The current should be A/2 amps.", None), ("The angle must be A + B", None),
    ("the expression must be A times B.", None), ("It's B - 42 J", "B"),
])
def test_an_answer_beside_a_list_of_the_options_and_letters_in_expressions(completion, chosen):
    from evalkit.verifiers.choice import extract_choice

    assert extract_choice(completion, "ABCD")[0] == chosen


@pytest.mark.parametrize("completion, chosen", [
    # "the answer is" followed by the option's text, not its letter: a term, a formula, a name with a digit
    ("The answer is D-glucose.", None), ("The answer is B = 0.5 T, which is option C.", "C"),
    ("The answer is B12 deficiency.", None), ("Answer: E = mc^2, so the energy grows.", None),
    ("The answer is A = 12 m^2.", None), ("The answer is D/2.", None), ("The answer is C4 plants; so option A.", "A"),
    ("答案是D-葡萄糖", None), ("It is B12 deficiency.", None),
    # the letter itself, however it is dressed, and letters joined as a list, still are
    ("The answer is (B).", "B"), ("Answer: B", "B"), ("The answer is **C**.", "C"), ("The answer is $B$.", "B"),
    ("答案：C", "C"), ("Answer: C\n2. The next question", "C"), ("The answer is B - the others fail.", "B"),
    ("Answer: A/B", "A, B"), ("The answer is A+C", "A, C"),
    # emphasis is no multiplication: a `*` that closes or opens it after the letter
    ("*Answer: B*", "B"), ("*Final answer: C*", "C"), ("*The correct answer is D*.", "D"), ("*答案：B*", "B"),
    ("**Final Answer:** B *(42 J)*", "B"), ("The answer is B*.", "B"), ("Answer: **B***", "B"),
    ("*Answer: B* because it holds", "B"), ("The answer is B/", "B"),
    ("The answer is B*C", None), ("The answer is B * 2", None), ("The answer is B^2", None),
    ("The answer is B + 42", None),
])
def test_the_answer_is_followed_by_a_term_that_starts_with_a_letter_is_no_choice(completion, chosen):
    # "The answer is D-glucose (option B)" read D: a GPQA answer naming its option's text was scored as that
    # text's first letter, and counted correct where it coincided with the gold
    from evalkit.verifiers.choice import extract_choice

    assert extract_choice(completion, "ABCD")[0] == chosen


@pytest.mark.parametrize("completion, chosen", [
    # a small letter with a bracket after it, or "option" before it, after the answer's words (no_answer before)
    ("Answer: b) 42", "B"), ("The answer is option b.", "B"), ("the correct option is (b)", "B"),
    ("The correct option is c.", "C"), ("Answer: e) 3 J", "E"),
    # not an article, a word, Euler's e, or an option merely named
    ("The answer is a dog.", None), ("The answer is e.", None), ("Option c is tempting.", None),
])
def test_a_small_letter_the_answer_names_with_a_bracket_or_as_an_option(completion, chosen):
    from evalkit.verifiers.choice import extract_choice

    assert extract_choice(completion, "ABCDE")[0] == chosen


@pytest.mark.parametrize("final, gold, correct", [
    # a final answer that only judges the option it opens with rules it out (it was paid as that option: a policy
    # could collect the reward by writing "A) fails")
    ("(A) and (D) are wrong.", "A", False), ("A) fails", "A", False), ("C) incorrect", "C", False),
    ("A) doesn't work", "A", False), ("(A) is wrong.", "A", False),
    # an option with its text, or its reason, still chooses it; an option's own text is capitalised, as options are
    ("A) 42 J", "A", True), ("B) 42 J is right", "B", True), ("A) has the lowest energy", "A", True),
    ("B) False, False", "B", True), ("C) No change", "C", True), ("A) No", "A", True), ("B) Incorrect", "B", True),
    ("D. Not enough information to determine.", "D", True), ("**B) False, False**\n\nBoth statements are false.", "B", True),
    # a hedge in parentheses, as the README lists it
    ("The answer is (for sure) B", "B", True), ("So the answer is (probably) C.", "C", True),
])
def test_an_answer_that_judges_the_option_it_opens_with_does_not_choose_it(final, gold, correct):
    from evalkit.rewards import choice_reward

    assert verify_choice("<think>x</think>" + final, gold).correct is correct
    assert choice_reward(["<think>x</think>" + final], answer=[gold]) == [1.0 if correct else 0.0]
