"""Question text as HTML a page can show: plain text escaped, Moodle's [html] and [markdown] rendered and sanitised.

Question text arrives from GIFT and Moodle XML files written elsewhere, so HTML
in it is untrusted: nh3 (the Rust sanitiser ammonia) keeps formatting, tables,
code, links and images (embedded data: images included, as Moodle XML carries
them) and drops scripts, event handlers, styles and anything else.
"""

from __future__ import annotations

import markdown
import nh3
from django.utils.html import escape, linebreaks

PLAIN, HTML, MARKDOWN = "plain", "html", "markdown"
FORMATS = (PLAIN, HTML, MARKDOWN)

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "div", "dl", "dt", "em", "figcaption", "figure", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
}
_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "ol": {"start"},
}
_SCHEMES = {"http", "https", "mailto", "data"}


def sanitise(html: str) -> str:
    """Untrusted HTML reduced to safe formatting (links get rel="noopener noreferrer")."""
    cleaned = nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_SCHEMES,
                        link_rel="noopener noreferrer")
    # data: URLs are kept for images only (Moodle XML embeds pictures that way), never for links.
    return cleaned.replace('href="data:', 'href="#data:')


def render_inline(text: str, text_format: str) -> str:
    """Safe HTML for a short piece (a choice, an answer) without the paragraph Moodle wraps around it."""
    if text_format == PLAIN:
        return escape(text)
    html = render(text, text_format).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return html


def render(text: str, text_format: str) -> str:
    """Safe HTML for `text` written in `text_format` (plain, html or markdown)."""
    if text_format == HTML:
        return sanitise(text)
    if text_format == MARKDOWN:
        return sanitise(markdown.markdown(text, extensions=["tables", "fenced_code"]))
    return linebreaks(escape(text))
