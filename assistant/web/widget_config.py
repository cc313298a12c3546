"""What the website widget shows (title, greeting, colour, corner, starter questions, the clinic's
phone and booking or contact link), as GET /api/widget-config serves it. A plain function of the settings, so an admin console can
layer a clinic's saved values over it."""

from __future__ import annotations

from ..settings import Settings


def widget_config(settings: Settings) -> dict:
    """The widget's configuration as JSON-ready data; the script tag's data- attributes override it."""
    return {
        "title": settings.widget_title,
        "greeting": settings.widget_greeting,
        "accent": settings.widget_accent,
        "position": settings.widget_position,
        "starters": settings.starters,
        "phone": settings.clinic_phone,
        "contact_url": settings.clinic_contact_url,
        # How long a callback request left with the widget's form is kept (the consent says so).
        "retention_days": settings.feedback_retention_days,
    }
