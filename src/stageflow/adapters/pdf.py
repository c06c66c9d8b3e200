"""HTML to PDF with fpdf2 (its HTML subset: headings, paragraphs, bold/italic, lists,
tables, links, line breaks; no images). Text outside Latin-1 needs a Unicode font: DejaVu Sans
is used when the system has it (Debian's fonts-dejavu-core); otherwise the built-in Helvetica,
with characters it cannot show replaced by "?"."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF, ResourceAccessPolicy

# fpdf2 would load an <img>'s source from a path or a URL: a record's text could then read
# the server's files or reach inside its network. Reports carry no images.
_IMAGES = re.compile(r"<\s*img\b[^>]*>", re.IGNORECASE)

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)


@lru_cache(maxsize=1)
def _dejavu() -> dict[str, Path] | None:
    for directory in FONT_DIRS:
        styles = {
            "": directory / "DejaVuSans.ttf",
            "B": directory / "DejaVuSans-Bold.ttf",
            "I": directory / "DejaVuSans-Oblique.ttf",
            "BI": directory / "DejaVuSans-BoldOblique.ttf",
        }
        if all(path.exists() for path in styles.values()):
            return styles
    return None


def html_to_pdf(html: str, *, title: str) -> bytes:
    """A PDF of ``html`` (A4, 15 mm margins), with ``title`` in its metadata."""
    while _IMAGES.search(html):  # until none is left: removing one may join another
        html = _IMAGES.sub("", html)
    pdf = FPDF(format="A4")
    pdf.resource_access_policy = ResourceAccessPolicy.NONE  # and fpdf2 may load nothing
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(title)
    pdf.set_creator("stageflow")
    fonts = _dejavu()
    if fonts is not None:
        for style, path in fonts.items():
            pdf.add_font("DejaVu", style=style, fname=str(path))
        family = "DejaVu"
    else:
        family = "helvetica"
        html = html.encode("latin-1", "replace").decode("latin-1")
    pdf.add_page()
    pdf.set_font(family, size=11)
    pdf.write_html(html, font_family=family)
    return bytes(pdf.output())
