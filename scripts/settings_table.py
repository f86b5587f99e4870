"""Prints the README's settings table and the example vde.toml from the Settings model.

python scripts/settings_table.py table     # Markdown table for the README
python scripts/settings_table.py toml      # docs/vde.example.toml
"""

from __future__ import annotations

import sys

from vde.settings import Settings


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return ""
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    if isinstance(value, bool):
        return str(value).lower()  # TOML spells booleans in lower case
    return repr(value) if isinstance(value, str) else str(value)


def table() -> str:
    lines = [
        "| setting (vde.toml) | environment | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = _default(name).replace("|", "\\|")
        desc = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | `VDE_{name.upper()}` | `{default}` | {desc} |")
    return "\n".join(lines)


def toml() -> str:
    out = ["# vde settings; every key is optional. Environment variables VDE_<KEY> win.", ""]
    for name, field in Settings.model_fields.items():
        out.append(f"# {field.description}")
        default = _default(name)
        out.append(f"# {name} = {default!s}" if default else f"# {name} =")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(table() if sys.argv[1:] == ["table"] else toml())
