"""UI strings in French (default), Dutch and English; one JSON file per language.

Every key exists in every language (``tests/web/test_i18n.py`` checks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

LANGUAGES: tuple[str, ...] = ("fr", "nl", "en")
DEFAULT_LANGUAGE = "fr"
LANG_COOKIE = "vde_lang"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Translations:
    strings: dict[str, dict[str, str]]

    @classmethod
    def load(cls) -> Translations:
        return cls(
            {lang: json.loads((HERE / f"{lang}.json").read_text("utf-8")) for lang in LANGUAGES}
        )

    def get(self, lang: str, key: str, **fmt: object) -> str:
        """The string ``key`` in ``lang`` (French, then the key itself, when missing)."""
        text = self.strings.get(lang, {}).get(key) or self.strings[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**fmt) if fmt else text

    def for_js(self, lang: str) -> dict[str, str]:
        """The strings the dashboard's JavaScript needs (keys starting with ``js.``)."""
        return {k[3:]: v for k, v in self.strings[lang].items() if k.startswith("js.")}


def accepted_language(header: str | None) -> str | None:
    """The first of fr, nl, en in an Accept-Language header by quality (``nl-BE`` is nl)."""
    ranked = []
    for i, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def choose_language(request: Request) -> str:
    """``?lang=`` first, then the cookie, then the browser's Accept-Language, then French."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return accepted_language(request.headers.get("accept-language")) or DEFAULT_LANGUAGE
