"""German and English are complete: both files have the same keys and placeholders, every key the page and its
scripts use exists, and the page has no literal text that escapes translation."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

STATIC = Path(__file__).resolve().parents[3] / "webhook" / "static" / "console"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Keys built at run time from API values (state, severity...): their families must exist in both files.
DYNAMIC = ("state.", "severity.", "delivery.", "mirror.", "swap.", "live.", "ev.", "link.")


def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    return data


class Literal(HTMLParser):
    """Text and labelling attributes of index.html that carry no translation key."""

    VOID = frozenset({"meta", "link", "input", "br", "img", "path", "hr", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str | None]] = []
        self.keys: set[str] = set()
        self.untranslated: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("data-i18n", "data-i18n-label"):
            if a.get(name):
                self.keys.add(str(a[name]))
        for name in ("aria-label", "placeholder", "title", "alt"):
            if a.get(name) and not a.get("data-i18n-label"):
                self.untranslated.append(f"<{tag} {name}={a[name]!r}>")
        if tag not in self.VOID:
            self.stack.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or not self.stack or text.startswith("<!--"):
            return
        top = self.stack[-1]
        if "data-i18n" not in top and "lang" not in top:  # lang: a language's own name (English, Deutsch)
            self.untranslated.append(text)


def used_in_scripts() -> set[str]:
    keys: set[str] = set()
    for js in STATIC.glob("*.js"):
        keys.update(re.findall(r"""\bt\(["']([a-z0-9_.]+)["']""", js.read_text(encoding="utf-8")))
    return keys


def test_german_and_english_have_the_same_keys_and_placeholders() -> None:
    en, de = strings("en"), strings("de")
    assert sorted(set(en) ^ set(de)) == []
    for key in en:
        assert en[key].strip() and de[key].strip(), key
        assert set(PLACEHOLDER.findall(en[key])) == set(PLACEHOLDER.findall(de[key])), key


def test_every_key_the_page_and_scripts_use_exists_and_the_page_has_no_literal_text() -> None:
    page = Literal()
    page.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert page.untranslated == []
    en = strings("en")
    assert sorted((page.keys | used_in_scripts()) - set(en)) == []
    for family in DYNAMIC:
        assert any(k.startswith(family) for k in en), family
    for state in ("triggered", "acknowledged", "snoozed", "resolved"):
        assert f"state.{state}" in en
    for sev in ("critical", "high", "medium", "low"):
        assert f"severity.{sev}" in en


def test_scripts_never_write_markup() -> None:
    for js in STATIC.glob("*.js"):
        source = js.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{js.name} uses {sink}"
