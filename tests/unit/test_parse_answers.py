"""Parsing of MLLM answers: LLMGA's tag rules, <think> blocks, fences, refusals — a corpus of odd answers."""

import pytest

from genassist.mllm.parsing import AnswerError, llmga_span, mgie_clean, parse_generation_answer

# (raw answer, expected prompt, expected requested_image)
CORPUS = [
    # LLMGA's four cases, as its training data writes them
    ("<gen_image> a red fox in snow </gen_image>", "a red fox in snow", True),
    ("a red fox in snow", "a red fox in snow", False),
    ("a red fox in snow </gen_image>", "a red fox in snow", False),
    ("<gen_image> a red fox in snow", "a red fox in snow", True),
    # text around the tags
    ("Sure! Here it is: <gen_image> a fox </gen_image> Enjoy.", "a fox", True),
    ("Here you go\n<gen_image>\na fox\n</gen_image>\n", "a fox", True),
    ("<gen_image>a fox</gen_image>", "a fox", True),  # no spaces: LLMGA's fixed +12 would eat the 'a'
    ("<gen_image>   a   fox \n\n in   snow </gen_image>", "a fox in snow", True),
    ("prefix </gen_image> <gen_image> a fox </gen_image>", "a fox", True),  # stray end tag before start
    ("<gen_image> a fox </gen_image><gen_image> a dog </gen_image>", "a fox", True),  # first one wins
    ("<gen_image> a fox </gen_image></s>", "a fox", True),
    ("<gen_image> a fox</s>", "a fox", True),
    ("<gen_image> a fox <|im_end|>", "a fox", True),
    ("<gen_image> a fox <|eot_id|>", "a fox", True),
    ("<gen_image> a fox <end_of_turn>", "a fox", True),
    ("<gen_image> a fox <|end|>", "a fox", True),
    # think blocks
    ("<think>the user wants a fox</think><gen_image> a fox </gen_image>", "a fox", True),
    ("<think>\nplan: <gen_image> draft </gen_image>\n</think>\n<gen_image> final fox </gen_image>", "final fox", True),
    ("<THINK>x</THINK> a fox", "a fox", False),
    ("reasoning without an opening tag</think>\n<gen_image> a fox </gen_image>", "a fox", True),
    ("<think>a</think><think>b</think> a fox", "a fox", False),
    # code fences
    ("```\n<gen_image> a fox </gen_image>\n```", "a fox", True),
    ("```text\na fox in snow\n```", "a fox in snow", False),
    ("Here:\n```\n<gen_image> a fox </gen_image>\n```\nDone", "a fox", True),
    ("``` a fox ```", "a fox", False),
    ("<gen_image> ```a fox``` </gen_image>", "a fox", True),
    # labels and quotes
    ("Prompt: a fox", "a fox", False),
    ("**Prompt:** a fox in snow", "a fox in snow", False),
    ("Final prompt: a fox", "a fox", False),
    ("Caption: a fox", "a fox", False),
    ('"a fox in snow"', "a fox in snow", False),
    ("'a fox'", "a fox", False),
    ("“a fox in snow”", "a fox in snow", False),
    ('<gen_image> "a fox" </gen_image>', "a fox", True),
    ("Description: <gen_image> a fox </gen_image>", "a fox", True),
    # whitespace and unicode
    ("\n\n  a fox  \n", "a fox", False),
    ("\ta\tfox\t", "a fox", False),
    ("<gen_image> un renard roux dans la neige, 8k </gen_image>", "un renard roux dans la neige, 8k", True),
    ("<gen_image> 雪の中の赤い狐 </gen_image>", "雪の中の赤い狐", True),
    ("<gen_image> a fox, (masterpiece:1.2), best quality </gen_image>", "a fox, (masterpiece:1.2), best quality", True),
    ("<gen_image> a fox\nwith a long tail </gen_image>", "a fox with a long tail", True),
    ("<gen_image> a fox. </gen_image> ", "a fox.", True),
    # near-miss tags are plain text (LLMGA's tags are <gen_image>, not <gen_img>)
    ("<gen_img> a fox </gen_img>", "<gen_img> a fox </gen_img>", False),
    ("<GEN_IMAGE> a fox </GEN_IMAGE>", "<GEN_IMAGE> a fox </GEN_IMAGE>", False),
    # untagged answers that mention refusal words later are fine
    ("A fox. I cannot stress enough how red it is.", "A fox. I cannot stress enough how red it is.", False),
    ("<gen_image> I'm sorry-looking puppy </gen_image>", "I'm sorry-looking puppy", True),
    ("<s> a fox </s>", "a fox", False),
    ("<|im_start|>assistant a fox", "<|im_start|>assistant a fox", False),
    ("<gen_image><gen_image> a fox </gen_image>", "a fox", True),
    ("<gen_image> a fox </gen_image> </gen_image>", "a fox", True),
    ("a fox </gen_image> trailing words", "a fox", False),
    ("<think></think>a fox", "a fox", False),
]

FAILURES = [
    "",
    "   \n ",
    "<gen_image> </gen_image>",
    "<gen_image></gen_image>",
    "<think>I should describe a fox but I ran out of tok",
    "<think>only thinking</think>",
    "```\n```",
    "I'm sorry, but I can't help with that.",
    "I cannot create images of real people.",
    "As an AI, I am unable to generate that.",
    "Sorry, I can't do that.",
    "Unfortunately, I cannot comply.",
]


def test_corpus_is_big_enough():
    assert len(CORPUS) + len(FAILURES) >= 50


@pytest.mark.parametrize("raw,expected,requested", CORPUS)
def test_parse_corpus(raw, expected, requested):
    parsed = parse_generation_answer(raw)
    assert parsed.prompt == expected
    assert parsed.requested_image is requested
    assert parsed.raw == raw


@pytest.mark.parametrize("raw", FAILURES)
def test_unusable_answers_raise_clear_errors(raw):
    with pytest.raises(AnswerError) as error:
        parse_generation_answer(raw)
    message = str(error.value)
    assert "refused" in message or "no prompt text" in message


def test_truncated_thinking_suggests_more_tokens():
    with pytest.raises(AnswerError, match="max_new_tokens"):
        parse_generation_answer("<think>still thinking when the budget ran out")


def test_think_text_is_kept_apart():
    parsed = parse_generation_answer("<think>plan it</think><gen_image> a fox </gen_image>")
    assert parsed.thinking == "plan it"


@pytest.mark.parametrize("raw,expected", [
    ("<gen_image> abc </gen_image>", (" abc ", True)),
    ("abc </gen_image>", ("abc ", False)),
    ("<gen_image> abc", (" abc", True)),
    ("abc", ("abc", False)),
])
def test_llmga_span_is_llmgas_rule_before_cleaning(raw, expected):
    assert llmga_span(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("The sky turns grey. Snow covers the roofs. People wear coats.", "The sky turns grey. Snow covers the roofs."),
    ("USER: x ASSISTANT: The road is wet. Puddles shine", "The road is wet. Puddles shine."),
    ("Snow falls</s> junk", "Snow falls."),
    ("Snow falls. [IMG0] [IMG1]", "Snow falls."),
    ("Snow falls on the town. An alternative would be rain.", "Snow falls on the town."),
    ("  The cat wears a hat!  It smiles. More.", "The cat wears a hat! It smiles."),
    ("<think>hmm</think>The lake freezes. Skaters appear. Night.", "The lake freezes. Skaters appear."),
    ("The lake freezes,", "The lake freezes."),
])
def test_mgie_clean(raw, expected):
    assert mgie_clean(raw) == expected


@pytest.mark.parametrize("raw", ["", "alternatively nothing", "I'm sorry, I can't edit images."])
def test_mgie_clean_errors(raw):
    with pytest.raises(AnswerError):
        mgie_clean(raw)
