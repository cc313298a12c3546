"""Start the chat app: `python app.py` (HOST and PORT choose the address, default 127.0.0.1:7860)."""

from __future__ import annotations

import logging
import os
import sys

# Gradio reads this before anything else; the app must not phone home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.errors import AssistantError  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        from assistant.service import build_assistant
        from assistant.ui import build_ui

        settings = Settings.from_env()
        assistant = build_assistant(settings)
        assistant.warm_up()
        demo = build_ui(assistant)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Microneedling assistant on http://{settings.host}:{settings.port}", flush=True)
    demo.queue(default_concurrency_limit=4).launch(
        server_name=settings.host, server_port=settings.port, share=False, show_error=False,
        enable_monitoring=False, ssr_mode=False, quiet=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
