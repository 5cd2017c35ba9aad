"""A small Markdown to HTML converter for the ``Markdown`` card component.

Cards must render without optional packages; when the ``markdown`` package is installed it is
used, else this subset: ATX headings, paragraphs, ``-``/``*``/``1.`` lists, fenced code blocks,
block quotes, horizontal rules, and inline ``code``, **bold**, *italic* and [links](url).
Everything else is shown as text, escaped, so user text can never inject markup.
"""

from __future__ import annotations

import html
import re

_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"__(.+?)__"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"<em>\1</em>"),
]
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")


def to_html(text: str) -> str:
    try:
        import markdown  # type: ignore[import-not-found]
    except ImportError:
        return _convert(str(text))
    return markdown.markdown(str(text), extensions=["tables", "fenced_code"])


def _inline(text: str) -> str:
    parts = _CODE.split(text)  # odd parts are code spans, kept literal
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        part = html.escape(part, quote=False)
        part = _LINK.sub(lambda m: f'<a href="{_safe_url(m.group(2))}">{m.group(1)}</a>', part)
        for pattern, repl in _INLINE:
            part = pattern.sub(repl, part)
        out.append(part)
    return "".join(out)


def _safe_url(url: str) -> str:
    url = html.unescape(url)
    if not re.match(r"^(https?:|mailto:|#|/|\./|[\w.-]+(/|$))", url):
        return "#"
    return html.escape(url, quote=True)


def _convert(text: str) -> str:
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    lines = text.replace("\r\n", "\n").split("\n")

    def flush() -> None:
        nonlocal list_tag
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append(
                f"<{list_tag}>"
                + "".join(f"<li>{_inline(i)}</li>" for i in items)
                + f"</{list_tag}>"
            )
            items.clear()
            list_tag = ""

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            block = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                block.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(block))}</code></pre>")
        elif not stripped:
            flush()
        elif m := _HEADING.match(stripped):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif re.fullmatch(r"(-{3,}|\*{3,}|_{3,})", stripped):
            flush()
            out.append("<hr>")
        elif stripped.startswith(">"):
            flush()
            out.append(f"<blockquote>{_inline(stripped.lstrip('>').strip())}</blockquote>")
        elif (m := _BULLET.match(line)) or (m2 := _NUMBERED.match(line)):
            tag = "ul" if m else "ol"
            if para or (list_tag and list_tag != tag):
                flush()
            list_tag = tag
            items.append((m or m2).group(1))  # type: ignore[union-attr]
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + stripped
        else:
            if items:
                flush()
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(out)
