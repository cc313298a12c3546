"""The clinic console at /admin: sign-in, documents, insights and widget settings.

``install_console`` adds its routes and its middleware (sessions, the role guard on /admin, /desk
and /api/staff) to the FastAPI app; the server calls it before mounting the Gradio pages at /.
"""

from __future__ import annotations


def install_console(app, assistant, feedback, settings) -> None:
    from .routes import install

    install(app, assistant, feedback, settings)
