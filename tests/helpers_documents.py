"""Small real PDF, Word and HTML files with known text on known pages, built in the test itself."""

from __future__ import annotations

import io

# A two-page bulletin: the answer to "Which company led the winning bids ...?" is on page 2.
FUJIAN_PAGES = [["Offshore Wind Auction Held in Fujian",
                 "On June 12, 2024, Fujian province held an auction for six offshore wind sites near Pingtan."],
                ["The winning bids came from three state-owned power companies, led by China Three Gorges."]]


def pdf_bytes(pages: list[list[str]], title: str = "", password: str = "") -> bytes:
    """A PDF (fpdf2) whose page ``n`` holds the paragraphs ``pages[n]``, each wrapped to the page width."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    pdf.set_font("Helvetica", size=11)
    for paragraphs in pages:
        pdf.add_page()
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(4)
    return bytes(pdf.output())


def scanned_pdf_bytes(pages: int = 2) -> bytes:
    """A PDF of pages with drawings and no text layer, as a scanner makes them."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.rect(20, 20, 170, 250, style="F")
    return bytes(pdf.output())


def docx_bytes(blocks: list[tuple[str, str]], title: str = "") -> bytes:
    """A Word document of (style, text) paragraphs: style "Title", "Heading 1", ... or "" for body text."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for style, text in blocks:
        document.add_paragraph(text, style=style or None)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def html_page(title: str, paragraphs: list[str], published: str = "", headline: str | None = None) -> str:
    """A news page: navigation, an article (headline and paragraphs), a footer; the date in its metadata."""
    meta = f'<meta property="article:published_time" content="{published}T08:00:00+08:00">' if published else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title} | Ministry news</title>"
            f'<meta property="og:title" content="{title}">{meta}</head><body>'
            "<nav><a href='/'>Home</a> <a href='/news'>News</a> <a href='/about'>About us</a></nav>"
            f"<article><h1>{headline if headline is not None else title}</h1>{body}</article>"
            "<footer>Copyright 2023 Ministry. All rights reserved. Contact us.</footer></body></html>")
