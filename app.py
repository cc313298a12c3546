"""Start the web app: `python app.py` (HOST and PORT choose the address, default 127.0.0.1:7860).

One server: the Gradio chat and front-desk pages at /, the JSON API under /api, the widget at
/widget.js, OpenAPI docs at /docs.
"""

from __future__ import annotations

import logging
import os
import sys

# Read by Gradio at import: the app must not phone home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.errors import AssistantError  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        import uvicorn

        from assistant.web.server import create_web_app, server_config

        settings = Settings.from_env()
        server = uvicorn.Server(server_config(create_web_app(settings), settings))
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Microneedling assistant on http://{settings.host}:{settings.port} "
          f"(API docs at /docs, widget at /widget.js)", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
