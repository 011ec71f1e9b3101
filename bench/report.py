"""One result entry per goal, and the files that show them: latest.json, latest.md (a
Markdown table) and latest.png (ours beside the baseline, drawn with Pillow).

Every entry carries `ours`, `baseline`, `ratio`, `goal` and `goal_kind`: with "min" the
ratio must reach the goal (a throughput share), with "max" it must stay at or under it (a
slowdown, a latency). `met` is that comparison, written out.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

#: Benchmarks in the order they are shown.
ORDER = (
    "api",
    "api_latency",
    "pipeline",
    "webhooks",
    "scale",
    "growth",
    "growth_memory",
    "fairness",
)


def entry(
    *,
    measures: str,
    ours: float,
    baseline: float,
    unit: str,
    ratio: float,
    ratio_is: str,
    goal: float,
    goal_kind: str,
    detail: dict[str, Any],
) -> dict[str, Any]:
    assert goal_kind in ("min", "max")
    met = ratio >= goal if goal_kind == "min" else ratio <= goal
    return {
        "measures": measures,
        "ours": round(ours, 3),
        "baseline": round(baseline, 3),
        "unit": unit,
        "ratio": round(ratio, 3),
        "ratio_is": ratio_is,
        "goal": goal,
        "goal_kind": goal_kind,
        "met": met,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "detail": detail,
    }


def is_entry(value: object) -> bool:
    """An entry in this format (older files held other shapes under the same names)."""
    return (
        isinstance(value, dict)
        and {"ours", "baseline", "ratio", "goal", "goal_kind", "met", "unit"} <= value.keys()
        and isinstance(value["ours"], int | float)
    )


def _names(results: dict[str, Any]) -> list[str]:
    known = [n for n in ORDER if is_entry(results.get(n))]
    return known + sorted(n for n, v in results.items() if is_entry(v) and n not in ORDER)


def _figure(value: float) -> str:
    if value == int(value) and abs(value) < 10**6:
        return f"{int(value):,}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _goal(e: dict[str, Any], *, ascii: bool = False) -> str:
    if ascii:  # the chart's default font has no ≥ or ≤
        sign = ">=" if e["goal_kind"] == "min" else "<="
    else:
        sign = "≥" if e["goal_kind"] == "min" else "≤"
    return f"{sign} {_figure(e['goal'])}"


def row_texts(name: str, e: dict[str, Any]) -> list[str]:
    return [
        name,
        f"{_figure(e['ours'])} {e['unit']}",
        f"{_figure(e['baseline'])} {e['unit']}",
        _figure(e["ratio"]),
        _goal(e),
        "yes" if e["met"] else "**no**",
    ]


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| benchmark | ours | baseline | ratio | goal | met? |",
        "|---|---|---|---|---|---|",
    ]
    for name in _names(results):
        lines.append("| " + " | ".join(row_texts(name, results[name])) + " |")
    lines.append("")
    for name in _names(results):
        e = results[name]
        lines.append(f"- **{name}** ({e['measured_at']}): {e['measures']} Ratio: {e['ratio_is']}.")
    machine = results.get("machine", {})
    lines.append("")
    lines.append(
        f"Measured on {machine.get('cpus', '?')} cores (load generator, servers and "
        f"Postgres share them), Python {machine.get('python', '?')}; `make bench` wrote this "
        "from `bench/results/latest.json`."
    )
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], directory: Path) -> None:
    names = _names(results)
    ordered = {
        **{k: v for k, v in results.items() if k not in names},
        **{n: results[n] for n in names},
    }
    (directory / "latest.json").write_text(json.dumps(ordered, indent=2) + "\n")
    (directory / "latest.md").write_text(markdown(results))
    chart(results).save(directory / "latest.png", optimize=True)


# -- the chart ---------------------------------------------------------------------------

_W = 1040
_ROW_H = 74
_TOP = 56
_LABEL_W = 170
_BAR_W = 480
#: Room after the longest bar for its figure.
_VERDICT_X = _LABEL_W + _BAR_W + 140
_OURS = (46, 104, 182)
_BASE = (170, 170, 170)
_GOOD = (30, 130, 60)
_BAD = (190, 40, 40)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def chart(results: dict[str, Any]) -> Image.Image:
    """Per benchmark, ours and the baseline as bars on that benchmark's own scale (their
    units differ), the ratio and whether it meets the goal at the right."""
    names = _names(results)
    image = Image.new("RGB", (_W, _TOP + _ROW_H * max(len(names), 1) + 30), "white")
    draw = ImageDraw.Draw(image)
    title, small, text = _font(20), _font(12), _font(14)
    draw.text((16, 12), "Inkwell benchmarks: ours beside the same-run baseline", "black", title)
    draw.rectangle((_LABEL_W, 42, _LABEL_W + 12, 52), fill=_OURS)
    draw.text((_LABEL_W + 18, 39), "ours", "black", small)
    draw.rectangle((_LABEL_W + 70, 42, _LABEL_W + 82, 52), fill=_BASE)
    draw.text((_LABEL_W + 88, 39), "baseline", "black", small)
    for i, name in enumerate(names):
        e = results[name]
        y = _TOP + i * _ROW_H
        draw.line((16, y, _W - 16, y), fill=(225, 225, 225))
        draw.text((16, y + 24), name, "black", text)
        top = max(e["ours"], e["baseline"], 1e-9)
        for j, (value, colour) in enumerate(((e["ours"], _OURS), (e["baseline"], _BASE))):
            y0 = y + 10 + j * 28
            width = max(1, round(_BAR_W * value / top))
            draw.rectangle((_LABEL_W, y0, _LABEL_W + width, y0 + 22), fill=colour)
            draw.text(
                (_LABEL_W + width + 6, y0 + 4), f"{_figure(value)} {e['unit']}", "black", small
            )
        verdict = f"ratio {_figure(e['ratio'])}, goal {_goal(e, ascii=True)}"
        draw.text((_VERDICT_X, y + 16), verdict, _GOOD if e["met"] else _BAD, text)
        draw.text(
            (_VERDICT_X, y + 38),
            "met" if e["met"] else "not met",
            _GOOD if e["met"] else _BAD,
            text,
        )
    return image
