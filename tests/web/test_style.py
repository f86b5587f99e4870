"""The menu bar's text stays readable: white on every colour of its gradient is >= 4.5:1
(WCAG AA). axe-core cannot measure text on a gradient, so this test does."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "src" / "vde" / "web" / "static" / "css" / "vde.css"


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_on_known_pairs():
    assert round(contrast("#ffffff", "#000000"), 1) == 21.0
    assert round(contrast("#ffffff", "#767676"), 2) == 4.54  # the classic AA grey


def test_menu_text_is_white_and_readable_on_every_gradient_stop():
    css = CSS.read_text()
    rule = re.search(r"\.bg-vde \{ background: linear-gradient\(([^)]*)\)", css)
    assert rule, "the menu bar's gradient moved: update this test"
    stops = re.findall(r"#[0-9a-fA-F]{6}", rule.group(1))
    assert len(stops) >= 2
    assert re.search(r"\.bg-vde \.nav-link, \.bg-vde \.navbar-text \{ color: #fff; \}", css)
    for stop in stops:
        assert contrast("#ffffff", stop) >= 4.5, stop
