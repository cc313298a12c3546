"""The widget's settings as the clinic saves them in the console, kept in DATA_DIR/widget.toml and
layered over the environment's: a setting whose environment variable is set keeps that value
(and the console shows it locked); the others take the saved value, with no restart."""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, fields, replace

from ...errors import ConfigError
from ...settings import Settings
from .accounts import WatchedFile
from ..widget_config import widget_config

# Console field -> Settings field (whose upper-cased name is the environment variable).
FIELDS = {"allowed_origins": "allowed_origins", "title": "widget_title", "greeting": "widget_greeting",
          "accent": "widget_accent", "position": "widget_position", "starters": "widget_starters",
          "phone": "clinic_phone", "contact_url": "clinic_contact_url"}
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_DEFAULTS = {f.name: f.default for f in fields(Settings)}
LABELS = {"ALLOWED_ORIGINS": "Allowed sites", "WIDGET_TITLE": "Title", "WIDGET_GREETING": "Greeting",
          "WIDGET_ACCENT": "Accent colour", "WIDGET_POSITION": "Position", "WIDGET_STARTERS": "Starter questions",
          "CLINIC_PHONE": "Clinic phone", "CLINIC_CONTACT_URL": "Booking or contact link"}


@dataclass(frozen=True)
class WidgetForm:
    """What the settings page shows: each value, and the fields the environment fixes."""
    values: dict[str, str]
    locked: dict[str, str]  # console field -> its environment variable


class WidgetSettings:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.data_dir / "widget.toml"
        self._file = WatchedFile(self.path, self._read)

    def locked(self) -> dict[str, str]:
        """Fields whose environment variable is set. Settings keep no record of where a value came
        from, so a value other than the built-in default counts as set there."""
        return {key: name.upper() for key, name in FIELDS.items()
                if getattr(self.settings, name) != _DEFAULTS[name]}

    def saved(self) -> dict[str, str]:
        """The saved values, re-read when the file changes (so every worker applies them at once)."""
        return self._file.get()

    def _read(self) -> dict[str, str]:
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path} is not valid TOML ({exc}): fix it, or delete it and save "
                              "the widget settings again in the console") from None
        return {k: str(v) for k, v in data.items() if k in FIELDS}

    def effective(self) -> Settings:
        """The settings with the saved values where the environment does not set them."""
        locked = self.locked()
        saved = {FIELDS[k]: v for k, v in self.saved().items() if k not in locked}
        return replace(self.settings, **saved) if saved else self.settings

    def config(self) -> dict:
        """What GET /api/widget-config serves."""
        return widget_config(self.effective())

    def origins(self) -> list[str]:
        """The CORS allowlist: the sites that may call the API from a browser."""
        return self.effective().origins

    def form(self) -> WidgetForm:
        current = self.effective()
        return WidgetForm({key: getattr(current, name) for key, name in FIELDS.items()}, self.locked())

    def save(self, values: dict[str, str]) -> None:
        """Check and store the values the environment does not fix; ConfigError says what is wrong."""
        locked = self.locked()
        clean = {}
        for key in FIELDS:
            if key in locked or key not in values:
                continue
            value = values[key].strip()
            if key == "starters":  # one question a line in the form; '|'-separated like WIDGET_STARTERS
                value = "|".join(q.strip() for q in re.split(r"[\r\n|]+", value) if q.strip())
            if key == "allowed_origins":
                sites = [s.strip().rstrip("/") for s in re.split(r"[\r\n,]+", value) if s.strip()]
                bad = [s for s in sites if not _ORIGIN.match(s)]
                if bad:
                    raise ConfigError(f"allowed sites must look like https://www.clinic.example (scheme and host, "
                                      f"no path), not {', '.join(repr(b) for b in bad)}")
                value = ",".join(sites)
            clean[key] = value
        # The checks are the environment's (one set of rules, run by Settings itself); their
        # messages name the variable, which the page calls by its label.
        try:
            replace(self.settings, **{FIELDS[k]: v for k, v in clean.items()})
        except ConfigError as exc:
            problems = [re.sub(r"^([A-Z_]+)=?", lambda m: LABELS.get(m.group(1), m.group(1)) + " ", p)
                        for p in exc.problems]
            raise ConfigError("; ".join(problems)) from None
        self._write(clean)

    def _write(self, values: dict[str, str]) -> None:
        import tomlkit

        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "# Saved by the console's widget settings page; environment variables win over these.\n"
        text += tomlkit.dumps(values)
        fd, tmp = tempfile.mkstemp(prefix=".widget-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, self.path)
