"""Strings from users' files and forms shown as typed, never as markup.

`plain` makes text literal inside Markdown: Streamlit's (every `st.markdown`, caption, alert box, metric, label,
tab and expander title, tooltip) and exported Markdown (model cards). `html_text` makes it literal inside HTML
and inside Plotly's chart text, which understands a few tags, links among them. Nothing a group name or a file
name holds can become a link, an image, an HTML tag or a Streamlit directive (`:red[...]`, `:material/...:`, `$`).
"""
from __future__ import annotations

import html
import re

# Markdown's specials (CommonMark, GitHub tables, strikethrough and autolinks) and Streamlit's directives and math:
# every one is escaped with a backslash, which CommonMark allows before any ASCII punctuation.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_INDENT = re.compile(r"^[ \t]+", flags=re.MULTILINE)


def plain(text: object, *, lines: bool = False) -> str:
    """`text` made literal inside Markdown: every Markdown, HTML and Streamlit special character escaped.

    Line breaks become spaces, so the result is safe inside a sentence, a label or a table cell; with `lines`
    each line is kept as a line of its own (a Markdown hard break). Leading spaces are kept as characters, so
    they never start a code block; control characters become spaces.
    """
    text = _CONTROL.sub(" ", _SPECIAL.sub(r"\\\1", str(text)))
    if not lines:
        return _indent(_LINE_BREAK.sub(" ", text))
    return "  \n".join(_indent(line) for line in _LINE_BREAK.split(text))


def html_text(text: object) -> str:
    """`text` made literal inside HTML (elements and quoted attributes) and Plotly chart text."""
    return html.escape(str(text), quote=True)


def _indent(line: str) -> str:
    """Leading spaces and tabs as character references, which Markdown shows but never reads as indentation."""
    return _INDENT.sub(lambda m: "".join(f"&#{ord(c)};" for c in m.group()), line)
