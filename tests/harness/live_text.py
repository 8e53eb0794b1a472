"""The server's websocket as the web UI reads it: JSON status events and the binary progress-text frames that
``PromptServer.send_progress_text`` sends to show text on a node while it runs."""

import json
import struct
import time

TEXT_EVENT = 3  # protocol.BinaryEventTypes.TEXT


def decode_text_frame(frame: bytes) -> tuple[str, str] | None:
    """(node id, text) of a progress-text frame: event type, then node-id length, node id, UTF-8 text."""
    (event,) = struct.unpack(">I", frame[:4])
    if event != TEXT_EVENT:
        return None
    (size,) = struct.unpack(">I", frame[4:8])
    return frame[8:8 + size].decode(), frame[8 + size:].decode()


def run_watching_text(server, graph: dict, timeout: float = 300) -> tuple[list, dict]:
    """Queue `graph` with a websocket client attached and read until the prompt ends; returns
    (events in arrival order: ("text", node_id, text) or ("done", prompt_id, status), the history entry)."""
    import websocket

    client_id = "genassist-live-text"
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={client_id}", timeout=timeout)
    events: list = []
    try:
        prompt_id = server.post_json("/prompt", {"prompt": graph, "client_id": client_id})["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = ws.recv()
            if isinstance(frame, bytes):
                decoded = decode_text_frame(frame)
                if decoded:
                    events.append(("text", *decoded))
                continue
            message = json.loads(frame)
            data = message.get("data", {})
            if data.get("prompt_id") != prompt_id:
                continue
            if message["type"] in ("execution_success", "execution_error", "execution_interrupted"):
                events.append(("done", prompt_id, message["type"]))
                break
        else:
            raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout} s")
    finally:
        ws.close()
    return events, server.wait(prompt_id, timeout=60)
