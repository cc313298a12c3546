"""One ASGI app: the JSON API and widget (FastAPI) with the Gradio pages mounted beside them:
the patient chat at / and the front desk at /desk/."""

from __future__ import annotations

from ..settings import Settings


def create_web_app(settings: Settings, assistant=None, feedback=None):
    """Build (and warm up) everything the server needs; nothing listens until it is run."""
    import gradio as gr
    from fastapi.responses import RedirectResponse

    from .api import create_api
    from .console import install_console
    from .feedback import FeedbackStore
    from .pages import chat as chat_page, desk as desk_page
    from ..service import build_assistant

    assistant = assistant or build_assistant(settings)
    assistant.warm_up()
    feedback = feedback or FeedbackStore(settings.feedback_path)
    api = create_api(assistant, feedback)
    install_console(api, assistant, feedback, settings)  # before the Gradio pages claim "/"
    # No file serving beyond Gradio's own assets, no monitoring, no server-side rendering.
    mount = dict(show_error=False, enable_monitoring=False, ssr_mode=False, allowed_paths=[], footer_links=[])
    # Each page is an app of its own, so the patient page carries nothing of the desk's (and the
    # desk can get its own sign-in). The desk is mounted first: the mount at / takes every path.
    desk = desk_page.build_desk_page(assistant, feedback).queue(default_concurrency_limit=settings.concurrency)
    # A mount answers only below its path: /desk itself is sent on to /desk/ (relative, so it
    # also works behind a proxy that serves the app under a prefix).
    api.add_api_route("/desk", lambda: RedirectResponse("desk/"), include_in_schema=False)
    api = gr.mount_gradio_app(api, desk, path="/desk", css=desk_page.CSS, **mount)
    chat = chat_page.build_chat_page(assistant, feedback).queue(default_concurrency_limit=settings.concurrency)
    return gr.mount_gradio_app(api, chat, path="/", css=chat_page.CSS, js=chat_page.JS, **mount)
