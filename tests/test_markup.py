"""No markup from data: `auditkit.markup` against hostile strings, rendered by a CommonMark renderer, and the
exports (model card, HTML, PDF) of an audit whose names, file name and model-card text are hostile."""
from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from auditkit.markup import WORD_JOINER, chart_text, html_text, plain
from auditkit.report import huggingface_model_card, read_card_file, render_report
from auditkit.report.errors import ReportError

# Each would render as markup if it reached Markdown or HTML as it is.
HOSTILE = {
    "image": "![beacon](http://127.0.0.1:9/beacon.png)",
    "link": "[click me](javascript:alert(1))",
    "autolink": "<https://evil.example/x>",
    "bare URL": "see https://evil.example/x and www.evil.example",
    "e-mail": "mallory@evil.example",
    "html tag": '<img src="http://127.0.0.1:9/i.png" onerror="alert(1)">',
    "anchor": '<a href="http://127.0.0.1:9/">link</a>',
    "javascript URL": "javascript:alert(document.cookie)",
    "backticks": "`rm -rf /`",
    "heading": "# Heading",
    "setext heading": "Title\n=====",
    "list": "- one\n1. two",
    "quote": "> quoted",
    "table": "a|b\n-|-\n1|2",
    "emphasis": "**bold** _it_ ~~gone~~",
    "reference link": "[x]: http://evil.example\n[x]",
    "entity": "&lt;b&gt; &#60;",
    "streamlit directives": ":red[alarm] :material/warning: :smile:",
    "math": "$x^2$",
    "indented code": "    code block",
}
_RENDER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_MARKUP_TAGS = re.compile(r"<(?!/?p>|br />)[a-z/]", re.IGNORECASE)  # any tag except paragraphs and line breaks


def _rendered_text(html: str) -> str:
    """The text a browser would show for `html` made of paragraphs and line breaks only."""
    text = re.sub(r"<br />\n?|</?p>", "\n", html).replace(WORD_JOINER, "")  # word joiners are invisible
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


@pytest.mark.parametrize("name", HOSTILE)
def test_plain_renders_every_hostile_string_as_the_characters_typed(name):
    text = HOSTILE[name]
    html = _RENDER.render(plain(text, lines=True))
    assert not _MARKUP_TAGS.search(html), html  # no link, image, heading, code, list, table, emphasis or raw tag
    shown = [line.strip() for line in _rendered_text(html).splitlines() if line.strip()]
    assert shown == [line.strip() for line in text.splitlines()]  # every character shown, line by line


# What GitHub-flavoured Markdown (Streamlit's, the Hugging Face Hub's) and Streamlit look for in text once the
# escapes are resolved: bare URLs and e-mail addresses (the regular expressions of Streamlit's bundled
# mdast-util-gfm-autolink-literal), Streamlit's icons and emoji codes.
_TEXT_PATTERNS = [re.compile(r"(https?://|www(?=\.))([-.\w]+)", re.IGNORECASE),
                  re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)"), re.compile(r":material/"),
                  re.compile(r":[a-z0-9_+-]+:")]


@pytest.mark.parametrize("name", HOSTILE)
def test_no_url_address_or_icon_code_survives_in_the_shown_text(name):
    html = _RENDER.render(plain(HOSTILE[name], lines=True))
    text = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert not [p.pattern for p in _TEXT_PATTERNS if p.search(text)], text


def test_plain_escapes_exactly_the_markup_characters():
    wj = WORD_JOINER
    assert plain("![x](http://a.b/c.png)") == rf"\!\[x\]\(http\:{wj}//a\.b/c\.png\)"
    assert plain("group 'x' has 10 rows, 5% of 200") == r"group 'x' has 10 rows, 5% of 200"
    assert plain(":red[x] $y$ a|b ~z~ a=b &c") == rf"\:{wj}red\[x\] \$y\$ a\|b \~z\~ a\=b \&c"
    assert plain("ann@example.org www.x.org") == rf"ann@{wj}example\.org www{wj}\.x\.org"
    assert plain("<b>") == r"\<b\>"
    assert plain(3.5) == r"3\.5"


def test_plain_keeps_one_line_unless_asked_and_never_indents():
    assert plain("a\nb\r\nc\u2028d") == "a b c d"
    assert plain("a\n# b", lines=True) == "a  \n\\# b"
    assert plain("    x") == "&#32;&#32;&#32;&#32;x"
    assert plain("\tx\x00y\x1b") == "&#9;x y "


def test_html_text_escapes_tags_quotes_and_ampersands():
    assert html_text('<a href="javascript:x">&</a>') == "&lt;a href=&quot;javascript:x&quot;&gt;&amp;&lt;/a&gt;"
    assert html_text("it's") == "it&#x27;s"


def test_chart_text_escapes_what_starts_a_tag_and_keeps_quotes_plotly_would_show_as_entities():
    assert chart_text('<a href="x">&</a>') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'
    assert html.unescape(chart_text('<b>"it\'s"</b> &amp;')) == '<b>"it\'s"</b> &amp;'


def _hostile_audit() -> dict:
    image, link, tag = HOSTILE["image"], HOSTILE["link"], HOSTILE["html tag"]
    return {
        "inputs": {"data_file": f"{image}.csv", "rows": 100, "data_sha256": "a" * 64,
                   "columns": {"target": link, "sensitive": [tag], "positive_label": "1"},
                   "warnings": [f"group '{image}' of '{tag}' has only 10 rows (minimum 30)"]},
        "predictions": {"accuracy": 0.8, "positive_rate": 0.4},
        "fairness": {tag: {"by_group": {image: {"selection_rate": 0.5, "count": 10},
                                        link: {"selection_rate": 0.2, "count": 90}},
                           "demographic_parity_difference": 0.3,
                           "small_groups": {image: 10},
                           "four_fifths_rule": {"sentence": f"group '{image}' is selected 0.4x as often"}}},
    }


CARD_TEXT = {"intended_use": f"Read {HOSTILE['link']} and {HOSTILE['image']}",
             "contacts": f"{HOSTILE['anchor']}\n{HOSTILE['javascript URL']}\n<https://evil.example>",
             "limitations": HOSTILE["html tag"]}


def test_model_card_keeps_no_link_image_or_tag_from_data_or_edited_fields():
    card = huggingface_model_card(_hostile_audit(), overrides=CARD_TEXT)
    body = card.split("\n---\n", 1)[1]  # after the YAML metadata
    html = _RENDER.render(body)
    assert "<a " not in html and "<img" not in html and "<script" not in html
    assert 'href="javascript' not in html and "src=" not in html.replace("src=&quot;", "")
    # the characters are all still there, shown as typed
    shown = _rendered_text(html)
    assert "Model card: predictions in ![beacon](http://127.0.0.1:9/beacon.png).csv" in shown
    assert f"Read {HOSTILE['link']} and {HOSTILE['image']}" in shown
    assert f"Limitations: {HOSTILE['html tag']}" in shown
    # the edited multi-line field keeps its lines
    assert shown.split("Contacts</h2>")[1].strip().splitlines()[:2] == [
        HOSTILE["anchor"], HOSTILE["javascript URL"]]


def test_html_and_pdf_reports_carry_no_link_or_image_from_the_audit():
    audit = _hostile_audit()
    html = render_report(audit, "html", card_overrides=CARD_TEXT).decode("utf-8")
    assert not re.search(r"<a[\s>]|<img[\s>]|<script|javascript:alert\(1\)\"", html)
    assert "&lt;img src=&quot;http://127.0.0.1:9/i.png&quot;" in html  # shown, escaped
    pdf = render_report(audit, "pdf", card_overrides=CARD_TEXT)
    assert b"/URI" not in pdf and b"/Link" not in pdf and b"/Subtype /Image" not in pdf


def test_model_card_file_is_read_safely(tmp_path):
    good = tmp_path / "card.yaml"
    good.write_text("contacts: risk@example.org\nlimitations: small data\n", encoding="utf-8")
    assert read_card_file(good) == {"contacts": "risk@example.org", "limitations": "small data"}
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh")),
                    encoding="utf-8")
    with pytest.raises(ReportError, match=r"the model-card file .*bomb\.yaml expands to more than 100,000 values"):
        read_card_file(bomb)
    listed = tmp_path / "list.yaml"
    listed.write_text("- contacts\n", encoding="utf-8")
    with pytest.raises(ReportError, match="must map model-card fields to text"):
        read_card_file(listed)
