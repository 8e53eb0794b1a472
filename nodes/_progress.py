"""Progress bars, interrupt checks and live text for long-running node work."""

import comfy.model_management as mm
import comfy.utils


def check_interrupt() -> None:
    """Raise ComfyUI's InterruptProcessingException if the user pressed cancel (never swallow it)."""
    mm.throw_exception_if_processing_interrupted()


def progress_bar(total: int, node_id=None):
    return comfy.utils.ProgressBar(total, node_id=node_id) if node_id else comfy.utils.ProgressBar(total)


def text_streamer(node_id):
    """Callback(str) that shows the text generated so far on the node (no-op outside the server)."""
    try:
        from server import PromptServer
    except ImportError:
        PromptServer = None
    server = getattr(PromptServer, "instance", None) if PromptServer else None
    if server is None or node_id is None or not hasattr(server, "send_progress_text"):
        return lambda text: None

    def send(text: str) -> None:
        server.send_progress_text(text, node_id)

    return send
