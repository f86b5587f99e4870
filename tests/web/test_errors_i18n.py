"""Error details in the reader's language (fr, nl, en; the session's choice, else the
browser's Accept-Language, else French), with a code that stays the same in every language;
422 validation messages name the parameter and say what to write."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest

from vde.timeutil import check_span, parse_instant
from vde.web.i18n import LANGUAGES, Translations
from vde.web.i18n.errors import DETAILS, match_detail, translate_detail

from .conftest import csrf

WEB = Path(__file__).resolve().parents[2] / "src" / "vde" / "web"
D = "2026-06-15"


def _raised_details() -> list[tuple[str, str]]:
    """(file:line, detail with every {placeholder} filled) of each HTTPException the web
    layer raises with a literal detail, read from the source."""
    found = []
    for path in sorted(WEB.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and len(node.args) >= 2):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in ("HTTPException", "StarletteHTTPException"):
                continue
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                text = arg.value
            elif isinstance(arg, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "7" for v in arg.values)
            else:  # str(exc) of a ValueError: checked below from its source
                continue
            found.append((f"{path.name}:{node.lineno}", text))
    return found


def test_every_detail_the_web_layer_raises_is_known_and_translated():
    raised = _raised_details()
    assert len(raised) > 20, "the source scan finds nothing: its pattern is wrong"
    # default messages of the throttle and of ValueErrors passed on as they are
    raised += [("throttle", "too many failed logins; try again later")]
    raised += [("starlette", "Not Found"), ("starlette", "Method Not Allowed")]
    for bad in ("abc", "1000000000w", "99999999999999999999"):
        with pytest.raises(ValueError) as exc:
            parse_instant(bad)
        raised.append(("timeutil", str(exc.value)))
    with pytest.raises(ValueError) as exc:
        check_span(-(10**12), 0)
    raised.append(("timeutil", str(exc.value)))
    unknown = [(where, d) for where, d in raised if match_detail(d) is None]
    assert unknown == []
    tr = Translations.load()
    for code in DETAILS:
        texts = {lang: tr.strings[lang].get(f"err.{code}") for lang in LANGUAGES}
        assert all(texts.values()), (code, texts)
        assert len(set(texts.values())) == 3, (code, texts)  # really three languages


def test_an_unforeseen_detail_becomes_the_status_title_not_english():
    tr = Translations.load()
    assert translate_detail(tr, "nl", 404, "some internal reason") == (
        "error",
        "Pagina niet gevonden.",
    )
    assert translate_detail(tr, "fr", 500, None) == ("error", "Une erreur est survenue.")


EXPECTED = {
    "fr": {
        "login_required": "Connectez-vous d'abord.",
        "admin_only": "Réservé aux administrateurs.",
        "no_installation": "Cette installation n'existe pas ou ne vous est pas accessible.",
        "not_found": "Cette adresse n'existe pas.",
        "date": "« date » : « 2026-13-45 » n'est pas une date valable ; écrivez AAAA-MM-JJ "
        "(par exemple 2026-06-15).",
        "unit": "« unit » : « week » n'est pas accepté ; utilisez l'une de ces valeurs : "
        "15min, hour, day, month.",
    },
    "nl": {
        "login_required": "Meld u eerst aan.",
        "admin_only": "Alleen voor beheerders.",
        "no_installation": "Deze installatie bestaat niet of is niet voor u toegankelijk.",
        "not_found": "Dit adres bestaat niet.",
        "date": "‘date’: ‘2026-13-45’ is geen geldige datum; schrijf JJJJ-MM-DD "
        "(bijvoorbeeld 2026-06-15).",
        "unit": "‘unit’: ‘week’ wordt niet aanvaard; gebruik een van deze waarden: "
        "15min, hour, day, month.",
    },
    "en": {
        "login_required": "Log in first.",
        "admin_only": "Administrators only.",
        "no_installation": "This installation does not exist or is not yours to see.",
        "not_found": "This address does not exist.",
        "date": "'date': '2026-13-45' is not a valid date; write YYYY-MM-DD (e.g. 2026-06-15).",
        "unit": "'unit': 'week' is not accepted; use one of: 15min, hour, day, month.",
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_api_errors_follow_the_browser_language(anon, alice, lang):
    h = {"accept-language": {"fr": "fr-BE,fr;q=0.9", "nl": "nl-BE", "en": "en-GB,en;q=0.8"}[lang]}
    want = EXPECTED[lang]
    r = anon.get("/api/me", headers=h)
    assert (r.status_code, r.json()) == (
        401,
        {"detail": want["login_required"], "code": "login_required"},
    )
    r = alice.get("/api/admin/users", headers=h)
    assert (r.status_code, r.json()) == (403, {"detail": want["admin_only"], "code": "admin_only"})
    r = alice.get(f"/api/installations/CDB002/energy?date={D}", headers=h)
    assert (r.status_code, r.json()["code"], r.json()["detail"]) == (
        404,
        "no_installation",
        want["no_installation"],
    )
    r = alice.get("/api/nothing-here", headers=h)
    assert (r.status_code, r.json()["code"], r.json()["detail"]) == (
        404,
        "not_found",
        want["not_found"],
    )
    # FastAPI's own validation (422): a sentence per parameter, in the same language
    r = alice.get("/api/installations/CDB001/energy?date=2026-13-45&unit=week", headers=h)
    body = r.json()
    assert r.status_code == 422 and body["code"] == "invalid"
    assert body["detail"] == f"{want['date']} {want['unit']}"
    assert [(e["loc"], e["msg"]) for e in body["errors"]] == [
        (["query", "date"], want["date"]),
        (["query", "unit"], want["unit"]),
    ]
    assert all(set(e) == {"loc", "type", "msg"} for e in body["errors"])  # no input, no ctx


def test_the_sessions_choice_wins_over_the_browser(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        c.get("/login?lang=nl")  # the language menu's choice, kept in a cookie
        r = c.get("/api/me", headers={"accept-language": "en"})
        assert r.json()["detail"] == "Meld u eerst aan."
        r = c.get("/api/me?lang=en", headers={"accept-language": "fr"})
        assert r.json()["detail"] == "Log in first."
    with TestClient(app) as c:  # nothing known: French
        assert c.get("/api/me", headers={"accept-language": "de"}).json()["detail"] == (
            "Connectez-vous d'abord."
        )


def test_error_pages_are_translated_too(alice):
    page = alice.get("/i/CDB002", headers={"accept-language": "nl"})
    assert page.status_code == 404
    assert '<html lang="nl">' in page.text and "Pagina niet gevonden" in page.text
    assert "Deze installatie bestaat niet of is niet voor u toegankelijk." in page.text
    page = alice.get("/sharing/CDBA01?month=1900-01", headers={"accept-language": "en"})
    assert page.status_code == 422 and "between 1971 and 9998" in html.unescape(page.text)


def test_a_form_field_is_never_quoted_back(store_app_client):
    """A password too long is refused (422) naming the field, without echoing it."""
    c = store_app_client
    secret = "S3cr3t-" + "x" * 5000
    r = c.post(
        "/invite",
        data={
            "login": "carol",
            "token": "t",
            "password": secret,
            "password2": secret,
            "csrf_token": csrf(c),
        },
        headers={"accept-language": "en"},
    )
    assert r.status_code == 422
    assert "'password': too long (at most 4096 characters)." in html.unescape(r.text)
    assert "S3cr3t" not in r.text


@pytest.fixture
def store_app_client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def test_no_english_left_in_any_translated_error():
    """French and Dutch error texts are not copies of the English ones."""
    tr = Translations.load()
    keys = [k for k in tr.strings["en"] if k.startswith("err.")]
    assert len(keys) > 25
    for k in keys:
        en = tr.strings["en"][k]
        for lang in ("fr", "nl"):
            assert tr.strings[lang][k] != en, (lang, k)
            placeholders = set(re.findall(r"\{(\w+)\}", en))
            assert set(re.findall(r"\{(\w+)\}", tr.strings[lang][k])) == placeholders, (lang, k)


def test_a_bug_answers_500_in_the_readers_language_without_its_text(seeded):
    """A route that fails unexpectedly: JSON 500 with a translated detail (a page for
    HTML), never the exception's message; the security headers are still there."""
    from fastapi.testclient import TestClient

    from .conftest import make_app

    app = make_app(seeded)

    def boom() -> None:
        raise RuntimeError("secret internal state 0xdeadbeef")

    app.add_api_route("/api/boom", boom)
    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/boom", headers={"accept-language": "nl"})
        assert r.status_code == 500
        assert r.json() == {"detail": "Er is een fout opgetreden.", "code": "server_error"}
        assert "script-src 'self'" in r.headers["content-security-policy"]
        page = c.get("/boom", headers={"accept-language": "en"})
        assert page.status_code == 500 and "Something went wrong" in page.text
        assert "deadbeef" not in r.text + page.text
