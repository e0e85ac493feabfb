"""Themes live in TOML files (top-level `themes/`, shipped as `relaychat/themes`), not in code.

Every colour the app uses comes from a theme: Textual's base colours plus the `relay-*` variables
(`relay-large`, `relay-small`, `relay-cue`, `relay-muted`). Users can drop their own `*.toml` in
`<config dir>/themes/`. The last theme picked is remembered in `<config dir>/ui-state.toml`.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

import tomli_w
from textual.theme import Theme

from relaychat.paths import config_dir

DEFAULT_THEME = "relay-dark"

# Used until a theme sets them (e.g. Textual's built-in themes), so every stylesheet parses.
RELAY_VARIABLE_DEFAULTS = {
    "relay-large": "#5CB8FF",
    "relay-small": "#FFA657",
    "relay-cue": "#FF7AC6",
    "relay-muted": "#7D8590",
}

_THEME_KEYS = [
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "dark",
]


class ThemeFileError(ValueError):
    pass


def bundled_themes_dir() -> Path:
    """`relaychat/themes` in a wheel (or via the repo's symlink), else the checkout's `themes/`."""
    packaged = Path(str(files("relaychat") / "themes"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "themes"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def theme_from_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThemeFileError(f"cannot read theme {path}: {exc}") from exc
    if "primary" not in data:
        raise ThemeFileError(f"theme {path} has no `primary` colour")
    variables = {**RELAY_VARIABLE_DEFAULTS, **{str(k): str(v) for k, v in data.get("variables", {}).items()}}
    base = {key: data[key] for key in _THEME_KEYS if key in data}
    return Theme(name=str(data.get("name", path.stem)), variables=variables, **base)


def load_themes() -> list[Theme]:
    """Bundled themes, then the user's (a user theme with a bundled name replaces it)."""
    found: dict[str, Theme] = {}
    for folder in (bundled_themes_dir(), user_themes_dir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                theme = theme_from_file(path)
                found[theme.name] = theme
    return list(found.values())


def _state_file() -> Path:
    return config_dir() / "ui-state.toml"


def remembered_theme() -> str | None:
    try:
        return tomllib.loads(_state_file().read_text(encoding="utf-8")).get("theme")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def remember_theme(name: str) -> None:
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps({"theme": name}), encoding="utf-8")
