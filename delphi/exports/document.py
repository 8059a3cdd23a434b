"""The study report as Markdown and as DOCX, from the same HTML as the page and the PDF.

The report HTML is read back into a small tree (headings, paragraphs, lists,
tables, figures) so the three formats have the same sections and tables by
construction.  A drawing becomes its text alternative (the SVG's title or the
figure's caption); the navigation and the styles are left out.  DOCX needs
python-docx, an optional extra (``pip install 'delphi[docx]'``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from .pdf import PdfUnavailable

DOCX_HINT = "DOCX export needs python-docx, which is not installed: pip install 'delphi[docx]'"
SKIP = {"nav", "style", "script", "head", "colgroup"}
VOID = {"meta", "link", "br", "col", "img", "input", "hr", "rect", "line", "polygon", "path"}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}


class DocxUnavailable(PdfUnavailable):
    """python-docx is not installed (handled wherever a missing PDF library is)."""


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def text(self, in_table: bool = False) -> str:
        """The node's text, spaces collapsed; a drawing gives its title."""
        if self.tag == "svg":
            title = next((c for c in self.children if isinstance(c, Node) and c.tag == "title"),
                         None)
            if title is None:
                return ""
            return re.sub(r"\s+", " ", "".join(c for c in title.children
                                                 if isinstance(c, str))).strip()
        if self.tag in SKIP or self.tag in ("title", "desc"):
            return ""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag == "br":
                parts.append(" ")
            else:
                parts.append(child.text(in_table))
        return re.sub(r"\s+", " ", "".join(parts)).strip()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


@dataclass
class Block:
    """One block of the report: heading, paragraph, list, table or caption."""

    kind: str
    text: str = ""
    level: int = 0
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    header_rows: int = 0


def blocks(html: str) -> list[Block]:
    """The report's blocks in reading order."""
    builder = _TreeBuilder()
    builder.feed(html)
    out: list[Block] = []
    _walk(builder.root, out)
    return out


def _walk(node: Node, out: list[Block]) -> None:
    for child in node.children:
        if isinstance(child, str):
            if child.strip() and node.tag not in ("root", "html", "body", "section", "div"):
                out.append(Block("paragraph", child.strip()))
            continue
        tag = child.tag
        if tag in SKIP:
            continue
        if tag in HEADINGS:
            out.append(Block("heading", child.text(), HEADINGS[tag]))
        elif tag == "p":
            if text := child.text():
                out.append(Block("paragraph", text))
        elif tag in ("ul", "ol"):
            items = [c.text() for c in child.children if isinstance(c, Node) and c.tag == "li"]
            out.append(Block("list", items=[i for i in items if i]))
        elif tag == "table":
            out.append(_table(child))
        elif tag == "figure":
            caption = next((c for c in child.children
                            if isinstance(c, Node) and c.tag == "figcaption"), None)
            text = caption.text() if caption is not None else child.text()
            if text:
                out.append(Block("caption", text))
        elif tag == "svg":
            if text := child.text():
                out.append(Block("caption", text))
        else:
            _walk(child, out)


def _table(table: Node) -> Block:
    rows: list[list[str]] = []
    header_rows, caption = 0, ""

    def collect(node: Node, in_head: bool) -> None:
        nonlocal header_rows, caption
        for child in node.children:
            if not isinstance(child, Node):
                continue
            if child.tag == "caption":
                caption = child.text()
            elif child.tag in ("thead", "tbody", "tfoot"):
                collect(child, child.tag == "thead")
            elif child.tag == "tr":
                cells = [c for c in child.children if isinstance(c, Node) and c.tag in ("td", "th")]
                row: list[str] = []
                for cell in cells:
                    row.append(cell.text(True))
                    row.extend([""] * (int(cell.attrs.get("colspan", "1") or 1) - 1))
                rows.append(row)
                if in_head:
                    header_rows += 1

    collect(table, False)
    width = max((len(r) for r in rows), default=0)
    rows = [r + [""] * (width - len(r)) for r in rows]
    return Block("table", caption, rows=rows, header_rows=header_rows)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|") or " "


def report_markdown(html: str) -> str:
    """The report as Markdown: headings, paragraphs, lists, pipe tables with captions."""
    lines: list[str] = []
    for b in blocks(html):
        if b.kind == "heading":
            lines += [f"{'#' * b.level} {b.text}", ""]
        elif b.kind == "paragraph":
            lines += [b.text, ""]
        elif b.kind == "caption":
            lines += [f"*{b.text}*", ""]
        elif b.kind == "list":
            lines += [f"- {item}" for item in b.items] + [""]
        elif b.kind == "table" and b.rows:
            if b.text:
                lines += [f"**{b.text}**", ""]
            head = b.rows[0] if b.header_rows else [""] * len(b.rows[0])
            body = b.rows[1:] if b.header_rows else b.rows
            lines.append("| " + " | ".join(_md_cell(c) for c in head) + " |")
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def report_docx(html: str) -> bytes:
    """The report as an editable Word document with the same sections and tables."""
    try:
        import docx
    except ImportError as exc:
        raise DocxUnavailable(f"{DOCX_HINT} ({exc})") from None
    document = docx.Document()
    found = blocks(html)
    for b in found:
        if b.kind == "heading":
            document.add_heading(b.text, level=min(b.level, 4) - 1 if b.level > 1 else 0)
        elif b.kind == "paragraph":
            document.add_paragraph(b.text)
        elif b.kind == "caption":
            document.add_paragraph().add_run(b.text).italic = True
        elif b.kind == "list":
            for item in b.items:
                document.add_paragraph(item, style="List Bullet")
        elif b.kind == "table" and b.rows:
            if b.text:
                document.add_paragraph(b.text, style="Caption")
            table = document.add_table(rows=len(b.rows), cols=len(b.rows[0]))
            table.style = "Table Grid"
            # Row by row: table.cell(r, c) walks the whole grid each call (quadratic).
            for r, (row_obj, row) in enumerate(zip(table.rows, b.rows, strict=True)):
                for cell, text in zip(row_obj.cells, row, strict=True):
                    cell.text = text
                    if r < b.header_rows:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
    buffer = io.BytesIO()
    document.core_properties.title = next((b.text for b in found if b.kind == "heading"),
                                          "Study report")
    document.save(buffer)
    return buffer.getvalue()
