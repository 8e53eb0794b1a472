"""Window planning for long prompts (conditioning.token_windows): sentence packing and LLMGA arithmetic."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genassist.conditioning import token_windows as pw


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


# ---- splitting -------------------------------------------------------------------------------------

def test_split_text_tiles_the_text_and_keeps_numbers_and_brackets():
    text = "A fox, 3.5 m long, sleeps (in the grass. really) here. Then it wakes!\nEnd"
    sentences = pw.split_text(text, pw.SENTENCE)
    assert "".join(sentences) == text
    assert sentences == ["A fox, 3.5 m long, sleeps (in the grass. really) here. ", "Then it wakes!\n", "End"]
    assert pw.split_text("red, green: blue - grey", pw.CLAUSE) == ["red, ", "green: ", "blue - ", "grey"]


def test_split_text_respects_escaped_brackets():
    text = r"a \(literal. bracket and more. text"
    assert pw.split_text(text, pw.SENTENCE) == [r"a \(literal. ", "bracket and more. ", "text"]


# ---- sentence packing ------------------------------------------------------------------------------

def test_pack_keeps_sentences_whole_and_splits_only_overlong_ones():
    text = "one two three. four five six seven. a b c d e f g h i j, k l. end."
    plan = pw.pack_sentences(text, words, capacity=8, max_windows=10)
    texts = [w.text(text) for w in plan.windows]
    # the 12-word sentence is longer than a window: its words flow on from window 1; the others stay whole
    assert texts == ["one two three. four five six seven. a ", "b c d e f g h i ", "j, k l. end."]
    assert [w.tokens for w in plan.windows] == [8, 8, 4]
    assert [w.cut_at for w in plan.windows] == [pw.SENTENCE, pw.WORD, pw.WORD]


def test_pack_drops_whole_windows_beyond_max():
    text = "a b c. d e f. g h i."
    plan = pw.pack_sentences(text, words, capacity=3, max_windows=2)
    assert [w.text(text) for w in plan.windows] == ["a b c. ", "d e f. "]
    assert [w.text(text) for w in plan.dropped] == ["g h i."]


def test_pack_empty_text_is_one_empty_window():
    plan = pw.pack_sentences("", words, capacity=75, max_windows=4)
    assert len(plan.windows) == 1 and plan.windows[0].tokens == 0


def test_overlong_word_gets_its_own_window():
    long_word = "x" * 10
    text = f"a b. {long_word} c."

    def chars(s):
        return sum(len(w) for w in s.split())

    plan = pw.pack_sentences(text, chars, capacity=4, max_windows=10)
    assert [w.text(text) for w in plan.windows] == ["a b. ", f"{long_word} ", "c."]


sentence_words = st.lists(st.sampled_from(["fox", "red", "the", "sky", "a", "tall", "grass", "sea"]),
                          min_size=1, max_size=14)
paragraph = st.lists(st.tuples(sentence_words, st.sampled_from([". ", "! ", "? ", "; ", ".\n"])),
                     min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(paragraph, st.integers(min_value=3, max_value=20))
def test_no_sentence_shorter_than_a_window_is_split(sentences, capacity):
    text = "".join(" ".join(ws) + end for ws, end in sentences)
    plan = pw.pack_sentences(text, words, capacity=capacity, max_windows=10**6)
    spans = [(w.start, w.end) for w in plan.windows]
    assert "".join(w.text(text) for w in plan.windows) == text  # nothing lost, nothing repeated
    assert all(w.tokens <= capacity for w in plan.windows)
    assert sum(w.tokens for w in plan.windows) == words(text)
    start = 0
    for ws, end in sentences:
        stop = start + len(" ".join(ws) + end.rstrip())
        if len(ws) <= capacity:
            holders = [i for i, (a, b) in enumerate(spans) if a < stop and b > start]
            assert len(holders) == 1, (text[start:stop], capacity)
        start += len(" ".join(ws) + end)


@settings(max_examples=200, deadline=None)
@given(paragraph, st.integers(min_value=3, max_value=20))
def test_greedy_packing_uses_no_more_windows_than_needed_at_sentence_level(sentences, capacity):
    """Next-fit over whole sentences is optimal for ordered packing; we match it when all fit."""
    if any(len(ws) > capacity for ws, _ in sentences):
        return
    text = "".join(" ".join(ws) + end for ws, end in sentences)
    plan = pw.pack_sentences(text, words, capacity=capacity, max_windows=10**6)
    used, count = 0, 1
    for ws, _ in sentences:
        if used + len(ws) > capacity:
            count, used = count + 1, 0
        used += len(ws)
    assert len(plan.windows) == count


# ---- LLMGA arithmetic --------------------------------------------------------------------------------

@pytest.mark.parametrize("n, chunks, positions", [(0, 1, 77), (75, 1, 77), (76, 2, 152), (230, 4, 302),
                                                   (300, 4, 302), (301, 4, 302)])
def test_llmga_chunk_count_and_positions(n, chunks, positions):
    plan = pw.plan_llmga(n, max_chunks=4)
    assert (plan.chunks, plan.positions) == (chunks, positions)
    assert plan.positions == 75 * plan.chunks + 2
    assert plan.kept == min(n, 300) and plan.dropped == max(0, n - 300)


@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=1, max_value=12))
def test_llmga_spans_cover_kept_tokens_and_trims_sum_to_positions(n, max_chunks):
    plan = pw.plan_llmga(n, max_chunks)
    spans = plan.spans()
    assert spans[0][0] == 0 and spans[-1][1] == plan.kept
    assert all(a == b_prev for (_, b_prev), (a, _) in zip(spans, spans[1:]))
    assert all(b - a <= 75 for a, b in spans)
    assert sum(b - a for a, b in plan.keep_slices()) == plan.positions


def test_llmga_trim_keeps_outer_bos_and_eos_only():
    assert pw.plan_llmga(200, 4).keep_slices() == [(0, 76), (1, 76), (1, 77)]
    assert pw.plan_llmga(10, 4).keep_slices() == [(0, 77)]


def test_llmga_rejects_zero_chunks():
    with pytest.raises(ValueError, match="max_chunks"):
        pw.plan_llmga(10, 0)


def test_window_layouts():
    assert pw.llmga_window([5, 6], "B", "E", "P", 6) == ["B", 5, 6, "P", "P", "E"]
    assert pw.clip_window([5, 6], "B", "E", "P", 6) == ["B", 5, 6, "E", "P", "P"]
    with pytest.raises(ValueError, match="do not fit"):
        pw.clip_window(list(range(5)), "B", "E", "P", 6)


def test_report_helpers():
    assert pw.bpe_to_text(["a</w>", "red</w>", "fox</w>", ",</w>", "run", "s</w>"]) == "a red fox, runs"
    assert pw.preview("x " * 100, 20).startswith('"x x') and "…" in pw.preview("x " * 100, 20)
    assert pw.hard_split([1, 2, 3], 2) == [[1, 2], [3]] and pw.hard_split([], 2) == [[]]
