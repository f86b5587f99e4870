"""Every UI string exists in French, Dutch and English, and every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

from vde.web.i18n import LANGUAGES, Translations

WEB = Path(__file__).resolve().parents[2] / "src" / "vde" / "web"


def test_every_language_has_every_key():
    tr = Translations.load()
    keys = {lang: set(tr.strings[lang]) for lang in LANGUAGES}
    assert keys["fr"] == keys["nl"] == keys["en"]
    for lang in LANGUAGES:
        assert all(v.strip() for v in tr.strings[lang].values()), lang


def test_every_key_the_templates_and_script_use_exists():
    tr = Translations.load()
    used = set()
    for tpl in (WEB / "templates").glob("*.html"):
        # keys built from a prefix ('kind.' ~ i.kind) are checked by their values below
        used |= set(re.findall(r"t\('([a-z_.0-9]*[a-z0-9])'", tpl.read_text()))
    js = (WEB / "static" / "js" / "dashboard.js").read_text()
    used |= {"js." + k for k in re.findall(r'\bt\("([a-z_.]+)"', js)}
    assert used, "no keys found: the pattern is wrong"
    used |= {f"kind.{k}" for k in ("home", "group")} | {
        f"period.{p}" for p in ("day", "week", "month", "year")
    }
    used |= {f"error.{s}" for s in (403, 404, 422, 429)}
    for key in (
        "consumed",
        "produced",
        "imported",
        "exported",
        "self_consumption",
        "self_sufficiency",
    ):
        used |= {f"total.{key}", f"total.{key}.help"}
    missing = sorted(k for k in used if k not in tr.strings["fr"])
    assert not missing, missing
