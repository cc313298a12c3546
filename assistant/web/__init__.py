"""Web: the JSON API, the Gradio pages, the widget and feedback."""
