"""Every UI string exists in French, Dutch and English, and every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

from vde.processing.configlint import CODES as LINT_CODES
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
    used |= {f"lint.{c}" for c in LINT_CODES}  # the admin page's configuration warnings
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


def test_accept_language_picks_the_best_supported_language():
    from vde.web.i18n import accepted_language

    assert accepted_language("nl-BE,nl;q=0.9,en;q=0.8") == "nl"
    assert accepted_language("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4") == "en"
    assert accepted_language("en;q=0.2, fr;q=0.8") == "fr"
    assert accepted_language("de, it") is None
    assert accepted_language("fr;q=0, nl;q=bad") is None
    assert accepted_language(None) is None


def test_first_visit_follows_accept_language_then_the_choice_sticks(anon):
    page = anon.get("/login", headers={"accept-language": "nl-BE,nl;q=0.9"})
    assert '<html lang="nl">' in page.text
    page = anon.get("/login", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in page.text
    assert '<html lang="fr">' in anon.get("/login", headers={"accept-language": "de"}).text
    anon.get("/login?lang=fr")  # an explicit choice is kept in a cookie, over the header
    assert '<html lang="fr">' in anon.get("/login", headers={"accept-language": "nl"}).text
    anon.cookies.clear()
