"""The callback list (/admin/callbacks): patients' requests to be contacted, left with the form
under replies that are not an answer (web/contact.py), for every signed-in account; staff mark
each done once they have replied."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse


def install_callbacks(app: FastAPI, console) -> None:
    feedback, settings = console.feedback, console.settings

    @app.get("/admin/callbacks", include_in_schema=False)
    def callbacks(request: Request):
        rows = feedback.contact_requests()
        return console.render(request, "callbacks.html", title="Callbacks", page="callbacks",
                              open=[r for r in rows if not r["done_at"]], done=[r for r in rows if r["done_at"]],
                              days=settings.feedback_retention_days, mailing=bool(settings.smtp_host))

    @app.post("/admin/callbacks/{request_id}/done", include_in_schema=False)
    async def mark_done(request: Request, request_id: int):
        await console.form(request)
        if feedback.contact_done(request_id, request.scope["user"].name):
            request.session["flash"] = {"notice": f"Request #{request_id} is marked done."}
        else:
            request.session["flash"] = {"error": f"Request #{request_id} is not open: it was marked done already, "
                                                 "or deleted after its retention time."}
        return RedirectResponse("/admin/callbacks", status_code=303)
