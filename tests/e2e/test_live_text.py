"""Live text through the real server: while Refine Prompt's answer streams from an OpenAI-compatible server,
the node's text reaches a websocket client in pieces, growing, before the prompt finishes (the web UI shows
these progress-text frames on the node)."""

from harness.graphs import scripted_mllm
from harness.live_text import run_watching_text
from harness.openai_server import ScriptedOpenAIServer

ANSWER = "<gen_image>a red fox curled up in fresh snow at dawn, soft pink light</gen_image>"


def refine_graph(base_url: str) -> dict:
    return {
        "1": scripted_mllm(base_url, stream=True),
        "2": {"class_type": "GenAssist_RefinePrompt",
              "inputs": {"mllm": ["1", 0], "task": "generate", "text": "fox, snow", "seed": 0,
                         "max_new_tokens": 128, "temperature": 0.2, "style": "paragraph"}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }


def test_refine_prompt_text_arrives_in_pieces_before_the_prompt_ends(comfy_server):
    with ScriptedOpenAIServer(reply=ANSWER, chunk_chars=6, chunk_delay=0.05) as llm:
        events, entry = run_watching_text(comfy_server, refine_graph(llm.base_url))
    assert entry["status"]["status_str"] == "success"
    assert events[-1][0] == "done" and events[-1][2] == "execution_success"
    texts = [text for kind, node_id, text in (e for e in events if e[0] == "text") if node_id == "2"]
    assert len(texts) >= 5, texts  # 81 characters in chunks of 6: many frames, not one at the end
    assert len(set(texts)) == len(texts) and all(b.startswith(a) for a, b in zip(texts, texts[1:])), texts
    assert ANSWER.startswith(texts[0]) and len(texts[0]) < len(ANSWER)
    assert texts[-1] == ANSWER
