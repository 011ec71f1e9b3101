"""A print-ready one-letter PDF, written directly (no drawing library needed).

US Letter (612 x 792 pt), the message in a built-in italic face, wrapped to the margins,
with the recipient's address block at the top. The handwriting-quality renderer (fonts,
authenticity presets, envelopes) replaces this in its own issue; this one is fast, real and
structurally checkable (pypdf reads its pages and text).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

PAGE_W, PAGE_H = 612, 792
MARGIN = 72
FONT_SIZE = 13
LEADING = 19
WRAP_CHARS = 78
LINES_PER_PAGE = int((PAGE_H - 2 * MARGIN - 120) / LEADING)


def _escape(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _wrap(body: str) -> list[str]:
    lines: list[str] = []
    for paragraph in body.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, WRAP_CHARS) or [""])
    return lines


def _page_stream(address: Sequence[str], lines: Sequence[str]) -> bytes:
    ops = ["BT", f"/F1 {FONT_SIZE} Tf", f"{LEADING} TL", f"{MARGIN} {PAGE_H - MARGIN} Td"]
    for line in address:
        ops.append(f"({_escape(line)}) Tj T*")
    if address:
        ops.append("T* T*")
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def render(message: str, address: Sequence[str], *, title: str = "Inkwell letter") -> bytes:
    """PDF bytes: the address block and `message` on as many pages as it needs."""
    lines = _wrap(message)
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    pages = pages or [[]]
    objects: list[bytes] = []
    # 1 catalog, 2 pages, 3 font, 4 info, then (page, content) pairs.
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Italic /Encoding /WinAnsiEncoding >>"
    )
    objects.append(f"<< /Title ({_escape(title)}) /Producer (Inkwell) >>".encode("latin-1"))
    for i, page_lines in enumerate(pages):
        stream = _page_stream(address if i == 0 else (), page_lines)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {6 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)
