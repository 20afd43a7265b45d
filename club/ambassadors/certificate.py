"""The end-of-term certificate: one A4 page (fpdf2) in the ambassador's language, with a font that has
Japanese glyphs (Noto Sans CJK from Debian's fonts-noto-cjk); without that font we say so instead."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TextMode

# Looked for in this order; a .ttc collection's first face is the Japanese one in Noto Sans CJK.
FONT_CANDIDATES: list[tuple[Path, Path | None]] = [
    (
        Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    ),
    (
        Path("/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf"),
        Path("/usr/share/fonts/opentype/noto/NotoSansCJKjp-Bold.otf"),
    ),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"), Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc")),
]

TEAL = (15, 61, 62)
GOLD = (184, 134, 43)
INK = (29, 42, 43)


class FontMissing(Exception):
    """No font with Japanese glyphs on this server: install Debian's fonts-noto-cjk."""


@dataclass(frozen=True)
class CertificateText:
    """Every line already written and formatted in the ambassador's language (see certificate_texts.py)."""

    language: str
    club: str
    heading: str
    lead: str  # the words before the name; none in Japanese, where the name comes first
    name: str
    body: str
    figures: list[str]
    categories_title: str
    categories: str
    closing: str
    issued: str


def find_font() -> tuple[Path, Path | None]:
    for regular, bold in FONT_CANDIDATES:
        if regular.is_file():
            return regular, bold if bold is not None and bold.is_file() else None
    raise FontMissing()


# The same data gives the same certificate: made once, kept until the data (or the day of issue) changes. The terms
# page starts making it (prepare) when it shows the download button, so the click usually finds it made.
KEEP = 256
_made: OrderedDict[str, bytes] = OrderedDict()
_making: dict[str, threading.Event] = {}
_lock = threading.Lock()


def _key(text: CertificateText) -> str:
    return hashlib.sha256(repr(text).encode()).hexdigest()


def is_made(text: CertificateText) -> bool:
    with _lock:
        return _key(text) in _made


def cached_build(text: CertificateText) -> bytes:
    """The certificate for this text, from the cache, or made now (once, however many ask at the same time)."""
    key = _key(text)
    while True:
        with _lock:
            if key in _made:
                _made.move_to_end(key)
                return _made[key]
            making = _making.get(key)
            if making is None:
                making = _making[key] = threading.Event()
                break
        making.wait(60)  # someone else is making it; then it is in the cache (or they failed and we try)
    try:
        pdf = build(text)
        with _lock:
            _made[key] = pdf
            while len(_made) > KEEP:
                _made.popitem(last=False)
        return pdf
    finally:
        with _lock:
            _making.pop(key, None)
        making.set()


def _bold(pdf: FPDF, size: float, color: tuple[int, int, int]) -> None:
    pdf.set_font("club", "", size)
    pdf.set_text_color(*color)
    pdf.set_draw_color(*color)
    pdf.text_mode = TextMode.FILL_STROKE
    pdf.set_line_width(size * 0.012)


def _regular(pdf: FPDF, size: float) -> None:
    pdf.set_font("club", "", size)
    pdf.text_mode = TextMode.FILL


def build(text: CertificateText) -> bytes:
    """Draw the certificate; CPU-bound (font subsetting), so call it in a worker thread."""
    regular, _bold_face = find_font()
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_lang(text.language)
    pdf.set_title(text.heading)
    pdf.set_author(text.club)
    pdf.set_creator(text.club)
    pdf.set_creation_date(dt.datetime.now(dt.UTC))
    pdf.set_auto_page_break(auto=False)
    # One face, embedded once: bold is drawn by stroking the regular glyphs. Loading and subsetting a second
    # 20 MB CJK face doubled the time of every certificate.
    pdf.add_font("club", "", str(regular))
    pdf.add_page()

    # A double frame in the club's colours.
    pdf.set_draw_color(*TEAL)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 190, 277)
    pdf.set_draw_color(*GOLD)
    pdf.set_line_width(0.5)
    pdf.rect(14, 14, 182, 269)

    _bold(pdf, 13, TEAL)
    pdf.set_xy(20, 28)
    pdf.cell(170, 8, text.club, align="C")
    _bold(pdf, 28, TEAL)
    pdf.set_xy(20, 48)
    pdf.multi_cell(170, 13, text.heading, align="C")

    pdf.set_text_color(*INK)
    if text.lead:
        _regular(pdf, 12)
        pdf.set_xy(25, pdf.get_y() + 8)
        pdf.multi_cell(160, 7, text.lead, align="C")
    _bold(pdf, 24, INK)
    pdf.set_xy(20, pdf.get_y() + 6)
    pdf.multi_cell(170, 12, text.name, align="C")
    pdf.set_draw_color(*GOLD)
    pdf.set_line_width(0.5)
    pdf.line(60, pdf.get_y() + 2, 150, pdf.get_y() + 2)
    _regular(pdf, 12)
    pdf.set_xy(25, pdf.get_y() + 8)
    pdf.multi_cell(160, 7, text.body, align="C")

    # The figures, two by two.
    y = pdf.get_y() + 8
    _bold(pdf, 13, TEAL)
    for index, figure in enumerate(text.figures):
        pdf.set_xy(25 + (index % 2) * 80, y + (index // 2) * 10)
        pdf.cell(80, 9, figure, align="C")
    pdf.set_text_color(*INK)
    pdf.set_y(y + 10 * ((len(text.figures) + 1) // 2) + 6)

    if text.categories:
        _bold(pdf, 12, INK)
        pdf.set_x(25)
        pdf.cell(160, 8, text.categories_title, align="C")
        pdf.ln(8)
        _regular(pdf, 11)
        pdf.set_x(25)
        pdf.multi_cell(160, 6, text.categories, align="C")

    _regular(pdf, 11)
    pdf.set_xy(25, 232)
    pdf.multi_cell(160, 6, text.closing, align="C")
    _regular(pdf, 10)
    pdf.set_text_color(82, 96, 95)
    pdf.set_xy(25, 262)
    pdf.cell(160, 5, text.issued, align="C")
    pdf.set_xy(25, 268)
    pdf.cell(160, 5, text.club, align="C")
    return bytes(pdf.output())
