"""The pages' languages: gettext catalogs (Babel) for Simplified Chinese and English.

Role: every string a page shows — in a template or in a page's ES module — is an
English message id looked up in the catalog of the page's locale. Catalogs are the
``.po`` files under ``dashboards/i18n/<locale>/LC_MESSAGES/fedhub.po``, read with Babel
when the process starts (no compile step to run the product). English is the source
language, so the English catalog is the identity. Dates and numbers are formatted per
locale with Babel on the server and ``Intl`` in the browser.

The locale of a page is the admin's stored preference, else the ``fedhub_lang`` cookie
the login page sets, else the browser's ``Accept-Language``, else Simplified Chinese.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES: tuple[str, ...] = ("zh-CN", "en")
"""What the pages speak, as BCP 47 tags (the form the browser and the API use)."""
DEFAULT_LOCALE = "zh-CN"
LANG_COOKIE = "fedhub_lang"
CATALOG_DIR = Path(__file__).resolve().parent.parent / "i18n"
DOMAIN = "fedhub"


def babel_name(locale: str) -> str:
    """``zh-CN`` → ``zh_CN`` (Babel's and gettext's spelling)."""
    return locale.replace("-", "_")


@functools.cache
def catalog(locale: str) -> Catalog | None:
    """The parsed catalog of ``locale`` (``None`` for English, the source language)."""
    if locale == "en":
        return None
    path = CATALOG_DIR / babel_name(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        return read_po(f, locale=babel_name(locale), domain=DOMAIN)


@functools.cache
def messages(locale: str) -> dict[str, str]:
    """Message id → translation, for the templates and the pages' scripts."""
    cat = catalog(locale)
    if cat is None:
        return {}
    return {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}


def pick(preferred: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page locale: stored preference, then cookie, then Accept-Language, then zh-CN."""
    for choice in (preferred, cookie):
        if choice in LOCALES:
            return choice
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class Translator:
    """Translates and formats for one locale; templates call it as ``_``."""

    locale: str

    def gettext(self, message: str) -> str:
        return messages(self.locale).get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=babel_name(self.locale))

    def datetime(self, value: datetime) -> str:
        return format_datetime(value, "medium", locale=babel_name(self.locale))

    def language_name(self, locale: str) -> str:
        """A language's own name (中文（中国）, English), for the chooser."""
        return str(Locale.parse(babel_name(locale)).get_display_name(babel_name(locale)))
