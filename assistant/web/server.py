"""One ASGI app: the JSON API and widget (FastAPI) with the Gradio pages mounted at /."""

from __future__ import annotations

from ..settings import Settings


def create_web_app(settings: Settings, assistant=None, feedback=None):
    """Build (and warm up) everything the server needs; nothing listens until it is run."""
    import gradio as gr

    from .api import create_api
    from .console import install_console
    from .feedback import FeedbackStore
    from ..service import build_assistant
    from .ui import build_ui

    assistant = assistant or build_assistant(settings)
    assistant.warm_up()
    feedback = feedback or FeedbackStore(settings.feedback_path)
    api = create_api(assistant, feedback)
    install_console(api, assistant, feedback, settings)  # before the Gradio pages claim "/"
    demo = build_ui(assistant, feedback).queue(default_concurrency_limit=settings.concurrency)
    # No file serving beyond Gradio's own assets, no monitoring, no server-side rendering.
    return gr.mount_gradio_app(api, demo, path="/", show_error=False, enable_monitoring=False,
                               ssr_mode=False, allowed_paths=[], footer_links=[])
