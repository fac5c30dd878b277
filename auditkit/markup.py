"""Strings from users' files and forms shown as typed, never as markup.

`plain` makes text literal inside Markdown: Streamlit's (every `st.markdown`, caption, alert box, metric, label,
tab and expander title, tooltip) and exported Markdown (model cards). `html_text` makes it literal inside HTML
(the HTML report) and `chart_text` inside Plotly's chart text, which understands a few tags, links among them.
Nothing a group name or a file name holds can become a link, an image, an HTML tag, an icon or a Streamlit
directive (`:red[...]`, `:material/...:`, `:smile:`, `$...$`).

Backslash escapes stop the Markdown syntax, but GitHub-flavoured Markdown (Streamlit's and the Hugging Face Hub's)
also turns bare URLs (`http://`, `www.`) and e-mail addresses into links, and Streamlit turns `:name:` codes into
icons, by searching the text after the escapes are resolved. So `plain` also puts an invisible word joiner
(U+2060) after every `:` and `@` and inside `www.`: the text reads the same and none of those patterns match.
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
WORD_JOINER = "\u2060"
_LINK_PATTERNS = re.compile(r"(?<=[:@])|(?<=[wW]{3})(?=\.)")  # where a URL, address or icon code would match


def plain(text: object, *, lines: bool = False) -> str:
    """`text` made literal inside Markdown: every Markdown, HTML and Streamlit special character escaped.

    Line breaks become spaces, so the result is safe inside a sentence, a label or a table cell; with `lines`
    each line is kept as a line of its own (a Markdown hard break). Leading spaces are kept as characters, so
    they never start a code block; control characters become spaces; word joiners break URLs, e-mail addresses
    and icon codes (see the module docstring).
    """
    text = _CONTROL.sub(" ", _SPECIAL.sub(r"\\\1", _LINK_PATTERNS.sub(WORD_JOINER, str(text))))
    if not lines:
        return _indent(_LINE_BREAK.sub(" ", text))
    return "  \n".join(_indent(line) for line in _LINE_BREAK.split(text))


def html_text(text: object) -> str:
    """`text` made literal inside HTML elements and quoted attributes."""
    return html.escape(str(text), quote=True)


def chart_text(text: object) -> str:
    """`text` made literal inside Plotly's chart text (labels, titles, legends, hover text): no tag can start.
    Quotes stay as they are, since Plotly shows `&quot;` as typed; `html.unescape` gives the text back."""
    return html.escape(str(text), quote=False)


def _indent(line: str) -> str:
    """Leading spaces and tabs as character references, which Markdown shows but never reads as indentation."""
    return _INDENT.sub(lambda m: "".join(f"&#{ord(c)};" for c in m.group()), line)
