"""The network view (after TensorFlow Playground): every neuron's output over the input plane as a small
heatmap, every weight as an edge coloured by its sign and thickened by its size, and the output's
surface with the data — drawn as ONE raster image.

Why a raster: a figure of one Plotly heatmap per neuron plus one trace per edge costs the browser about
a quarter of a second per live refresh and the page stutters; one pre-rendered image keeps the rest of
the page at idle latency (measured, shared/notes/live-network-view.md).  :func:`network_figure` wraps
the image in a Plotly figure with one invisible marker per neuron, so hovering still names each
neuron and its numbers.

Pure: plain arrays in (:class:`NetworkPicture`), pixels / figures out.  Colours as in Playground:
orange for negative, blue for positive, near-white for 0.
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

NEGATIVE = np.array([245, 147, 34], dtype=float)   # Playground's orange
POSITIVE = np.array([8, 119, 189], dtype=float)    # Playground's blue
ZERO = np.array([246, 246, 246], dtype=float)
BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
CLASS_COLOURS = ((245, 147, 34), (8, 119, 189), (0, 158, 115), (213, 94, 0), (204, 121, 167), (86, 180, 233),
                 (240, 228, 66), (60, 60, 60))
TITLE_H = 36      # px above the columns for the layer titles (two lines: layer, activation)
MARGIN = 10
LEFT = 24         # room left of the input column for the inputs' names


@dataclass(frozen=True)
class NetworkPicture:
    """Everything the view draws, as plain arrays (grids have rows = y from low to high)."""

    input_names: tuple[str, ...]
    inputs: np.ndarray                    # [n_in, R, R]: each input feature over the plane
    hidden_titles: tuple[str, ...]        # one per hidden layer, e.g. "hidden 1 · ReLU" (drawn on two lines)
    hidden: tuple[np.ndarray, ...]        # per hidden layer [units, R, R]: each neuron's output
    weights: tuple[np.ndarray, ...]       # per Linear layer [out, in], input to output
    biases: tuple[np.ndarray, ...]        # per Linear layer [out]
    output: np.ndarray                    # [Ro, Ro]: P(class 1), the predicted class, or the predicted value
    output_kind: str                      # "probability" | "classes" | "value"
    output_title: str
    points: np.ndarray                    # [n, 2] data points in plane coordinates
    point_values: np.ndarray              # [n] their classes (or targets)
    extent: tuple[float, float, float, float]   # x0, x1, y0, y1 of every grid
    dead: tuple[np.ndarray, ...] = ()     # per hidden layer [units] bool: exactly 0 on every training sample
    value_scale: float = 1.0              # |value| drawn at full colour on a regression surface
    selected: tuple[int, int] | None = None     # (hidden layer, unit) drawn with a frame

    @property
    def n_classes(self) -> int:
        return int(self.point_values.max()) + 1 if self.output_kind != "value" and len(self.point_values) else 2


@dataclass
class Layout:
    """Where each neuron was drawn: ``boxes[(column, unit)] = (x0, y0, x1, y1)`` in image pixels; column
    0 is the input, 1..L the hidden layers, L+1 the output panel."""

    width: int
    height: int
    box: int
    boxes: dict[tuple[int, int], tuple[int, int, int, int]] = field(default_factory=dict)


def diverging(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] (clipped; NaN drawn as 0) as RGB uint8: orange < 0 < blue."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=float), nan=0.0), -1.0, 1.0)[..., None]
    rgb = np.where(v >= 0, ZERO + (POSITIVE - ZERO) * v, ZERO + (NEGATIVE - ZERO) * (-v))
    return rgb.round().astype(np.uint8)


def neuron_scale(grid: np.ndarray) -> float:
    """The |value| drawn at full colour for one neuron: its largest |output| over the plane (1 if all 0)."""
    m = float(np.nanmax(np.abs(grid))) if grid.size and np.isfinite(grid).any() else 0.0
    return m if m > 0 else 1.0


def _cell(grid: np.ndarray, size: int, scale: float) -> Image.Image:
    img = Image.fromarray(diverging(grid[::-1] / scale), "RGB")  # image rows run top-down, y runs up
    return img.resize((size, size), Image.Resampling.NEAREST)


def _surface(pic: NetworkPicture, size: int) -> Image.Image:
    out = pic.output[::-1]
    if pic.output_kind == "probability":
        rgb = diverging(2.0 * out - 1.0)
    elif pic.output_kind == "classes":
        palette = np.array(CLASS_COLOURS, dtype=float)
        cls = np.clip(np.nan_to_num(out).astype(int), 0, len(palette) - 1)
        rgb = (ZERO + (palette[cls] - ZERO) * 0.45).round().astype(np.uint8)
    else:
        rgb = diverging(out / pic.value_scale)
    return Image.fromarray(rgb, "RGB").resize((size, size), Image.Resampling.BILINEAR)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # an old Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _blend(rgb: tuple[float, float, float], alpha: float) -> tuple[int, int, int]:
    return tuple(int(round(255 + (c - 255) * alpha)) for c in rgb)  # type: ignore[return-value]


def edge_width(w: float, ref: float) -> float:
    """Pixel width of an edge: 0.5 px for a zero weight to 6 px at ``ref`` (the net's 95th percentile |w|)."""
    return 0.5 + 5.5 * min(abs(w) / ref, 1.0) if ref > 0 else 0.5


def plan(pic: NetworkPicture, surface: int = 220) -> Layout:
    """Positions of every box: columns of neuron boxes (input, hidden...), then the output panel; room on the
    left for the longest input name."""
    columns = [len(pic.input_names), *(len(h) for h in pic.hidden)]
    small = _font(11)
    left = max(LEFT, 6 + max((int(small.getlength(n)) for n in pic.input_names), default=0))
    tallest = max(columns)
    box = 40 if tallest <= 8 else max(18, int(40 * 8 / tallest))
    gap = max(6, box // 4)
    col_gap = 74
    col_h = tallest * box + (tallest - 1) * gap
    height = TITLE_H + max(col_h, surface) + 2 * MARGIN
    x = left
    layout = Layout(0, height, box)
    for c, n in enumerate(columns):
        top = TITLE_H + MARGIN + (max(col_h, surface) - (n * box + (n - 1) * gap)) // 2
        for u in range(n):
            y = top + u * (box + gap)
            layout.boxes[(c, u)] = (x, y, x + box, y + box)
        x += box + col_gap
    top = TITLE_H + MARGIN + (max(col_h, surface) - surface) // 2
    layout.boxes[(len(columns), 0)] = (x, top, x + surface, top + surface)
    layout.width = x + surface + MARGIN
    return layout


def render(pic: NetworkPicture, surface: int = 220) -> tuple[np.ndarray, Layout]:
    """The whole network as an RGB image (H x W x 3 uint8) and where each neuron was drawn."""
    layout = plan(pic, surface)
    img = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    n_cols = len(pic.hidden) + 1
    # Edges first (weakest first, so strong weights stay on top), then the boxes over their ends.
    magnitudes = np.concatenate([np.abs(w).ravel() for w in pic.weights]) if pic.weights else np.zeros(1)
    finite = magnitudes[np.isfinite(magnitudes)]
    ref = float(np.percentile(finite, 95)) if finite.size else 0.0
    edges = []
    for layer, w in enumerate(pic.weights):
        target_col = layer + 1
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                src = layout.boxes[(layer, i)]
                dst = layout.boxes[(target_col, j)] if target_col < n_cols else layout.boxes[(n_cols, 0)]
                if target_col == n_cols and w.shape[0] > 1:  # several outputs: spread along the panel's side
                    y = dst[1] + (j + 0.5) * (dst[3] - dst[1]) / w.shape[0]
                else:
                    y = (dst[1] + dst[3]) / 2
                edges.append((abs(float(w[j, i])), float(w[j, i]), ((src[2], (src[1] + src[3]) / 2), (dst[0], y))))
    for size, value, line in sorted(edges, key=lambda e: e[0] if math.isfinite(e[0]) else 0.0):
        if not math.isfinite(value):
            continue
        strength = min(size / ref, 1.0) if ref > 0 else 0.0
        rgb = POSITIVE if value >= 0 else NEGATIVE
        draw.line(line, fill=_blend(tuple(rgb), 0.25 + 0.75 * strength), width=max(1, round(edge_width(value, ref))))
    for c, grids in enumerate([pic.inputs, *pic.hidden]):
        for u in range(len(grids)):
            x0, y0, x1, y1 = layout.boxes[(c, u)]
            img.paste(_cell(grids[u], layout.box, neuron_scale(grids[u])), (x0, y0))
            dead = c > 0 and len(pic.dead) >= c and bool(pic.dead[c - 1][u])
            draw.rectangle((x0 - 1, y0 - 1, x1, y1), outline=(120, 120, 120) if not dead else (200, 40, 40))
            if dead:
                draw.line((x0, y1 - 1, x1 - 1, y0), fill=(200, 40, 40), width=1)
    x0, y0, x1, y1 = layout.boxes[(n_cols, 0)]
    img.paste(_surface(pic, x1 - x0), (x0, y0))
    _points(draw, pic, (x0, y0, x1, y1))
    draw.rectangle((x0 - 1, y0 - 1, x1, y1), outline=(120, 120, 120))
    if pic.selected is not None:
        layer, unit = pic.selected
        box = layout.boxes.get((layer + 1, unit))
        if box is not None:
            draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 3, box[3] + 3), outline=INK, width=3)
    _titles(draw, pic, layout)
    return np.asarray(img), layout


def _points(draw: ImageDraw.ImageDraw, pic: NetworkPicture, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    ex0, ex1, ey0, ey1 = pic.extent
    if not len(pic.points) or ex1 <= ex0 or ey1 <= ey0:
        return
    px = x0 + (pic.points[:, 0] - ex0) / (ex1 - ex0) * (x1 - x0)
    py = y1 - (pic.points[:, 1] - ey0) / (ey1 - ey0) * (y1 - y0)
    for xx, yy, v in zip(px, py, pic.point_values):
        if pic.output_kind == "value":  # its target's colour, ringed dark so it stands out on the surface
            fill = tuple(int(c) for c in diverging(np.array([v / pic.value_scale]))[0])
            ring = (70, 70, 70)
        else:
            fill = tuple(int(c * 0.8) for c in CLASS_COLOURS[int(v) % len(CLASS_COLOURS)])
            ring = (255, 255, 255)
        draw.ellipse((xx - 3, yy - 3, xx + 3, yy + 3), fill=fill, outline=ring)


def fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: float) -> str:
    """``text`` as drawn in at most ``width`` px: whole if it fits, else without its bracketed remarks
    ("PReLU [learned init]" -> "PReLU"), else cut with "…" (the hover text keeps the whole label)."""
    def fits(t: str) -> bool:
        return draw.textlength(t, font=font) <= width

    if fits(text):
        return text
    short = re.sub(r"\s*[\[(].*?[\])]", "", text).strip() or text
    if fits(short):
        return short
    while len(short) > 1 and not fits(short + "…"):
        short = short[:-1]
    return short.rstrip() + "…"


def _titles(draw: ImageDraw.ImageDraw, pic: NetworkPicture, layout: Layout) -> None:
    font = _font(13)
    small = _font(11)
    titles = ["input", *pic.hidden_titles]
    centres = [(layout.boxes[(c, 0)][0] + layout.boxes[(c, 0)][2]) / 2 for c in range(len(titles) + 1)]
    for c, title in enumerate(titles):
        head, _, tail = title.partition(" · ")
        # Each title gets the room between its neighbours' centres (long labels ran into the next column).
        room = min(centres[c + 1] - centres[c], centres[c] - centres[c - 1] if c else np.inf) - 6
        draw.text((centres[c], 4), fit_text(draw, head, font, room), fill=INK, font=font, anchor="mt")
        if tail:
            draw.text((centres[c], 19), fit_text(draw, tail, small, room), fill=INK, font=small, anchor="mt")
    for u, name in enumerate(pic.input_names):
        x0, y0, x1, y1 = layout.boxes[(0, u)]
        draw.text((x0 - 3, (y0 + y1) / 2), name, fill=INK, font=small, anchor="rm")
    n_cols = len(pic.hidden) + 1
    x0, y0, x1, _ = layout.boxes[(n_cols, 0)]
    head, _, tail = pic.output_title.partition(": ")
    draw.text(((x0 + x1) / 2, 4), head, fill=INK, font=font, anchor="mt")
    if tail:
        draw.text(((x0 + x1) / 2, 19), tail, fill=INK, font=small, anchor="mt")


def png(image: np.ndarray) -> bytes:
    """An RGB array as PNG bytes (what ``st.image`` and the figure's data URI carry)."""
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def neuron_labels(pic: NetworkPicture) -> list[tuple[int, int, str]]:
    """(hidden layer, unit, hover text) for every hidden neuron: what it outputs over the plane."""
    out = []
    for layer, grids in enumerate(pic.hidden):
        for unit, grid in enumerate(grids):
            dead = len(pic.dead) > layer and bool(pic.dead[layer][unit])
            out.append((layer, unit, f"{pic.hidden_titles[layer]}, neuron {unit + 1}<br>output over the plane: "
                                     f"{float(np.nanmin(grid)):.3g} to {float(np.nanmax(grid)):.3g}<br>bias "
                                     f"{float(pic.biases[layer][unit]):.3g}" + ("<br><b>dead</b>" if dead else "")))
    return out


def network_figure(pic: NetworkPicture, image: np.ndarray | None = None, layout: Layout | None = None,
                   title: str | None = None, width: int = 480) -> go.Figure:
    """The raster in a Plotly figure with one invisible hover marker per hidden neuron (``customdata`` =
    [layer, unit], so a click can pick it).  The image is a layout image (drawn smoothly when scaled,
    unlike an Image trace), ``width`` px wide as the page shows it."""
    if image is None or layout is None:
        image, layout = render(pic)
    uri = "data:image/png;base64," + base64.b64encode(png(image)).decode()
    h, w = image.shape[:2]
    xs, ys, text, custom = [], [], [], []
    for layer, unit, label in neuron_labels(pic):
        x0, y0, x1, y1 = layout.boxes[(layer + 1, unit)]
        xs.append((x0 + x1) / 2)
        ys.append((y0 + y1) / 2)
        text.append(label)
        custom.append([layer, unit])
    scale = min(1.0, width / w)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", text=text, customdata=custom,
                               marker={"size": max(8, int(layout.box * scale)), "symbol": "square", "opacity": 0.01,
                                       "color": "#000"},
                               hovertemplate="%{text}<extra></extra>", showlegend=False, meta={"series": "neurons"}))
    fig.add_layout_image(source=uri, xref="x", yref="y", x=0, y=0, sizex=w, sizey=h, sizing="stretch",
                         xanchor="left", yanchor="top", layer="below")
    fig.update_xaxes(visible=False, range=[0, w], fixedrange=True)
    fig.update_yaxes(visible=False, range=[h, 0], scaleanchor="x", fixedrange=True)
    top = 40 if title else 0
    fig.update_layout(height=int(h * scale) + top + 4, margin={"l": 0, "r": 0, "t": top, "b": 0},
                      title={"text": title, "font": {"size": 15}} if title else None, dragmode=False,
                      clickmode="event+select", plot_bgcolor="rgba(0,0,0,0)", meta={"image": uri[:40]})
    return fig


# --- one neuron: its pre-activations over the data on top of its activation's slope -------------------

@dataclass(frozen=True)
class NeuronDetail:
    title: str
    counts: np.ndarray            # histogram of the neuron's pre-activation z over the training data
    edges: np.ndarray             # bin edges (len(counts) + 1)
    z: np.ndarray                 # where f' was evaluated
    slope: np.ndarray             # f'(z) by autograd
    eps: float
    saturated: tuple[tuple[float, float], ...]   # |f'| < eps out to an edge of the range
    dead: tuple[tuple[float, float], ...]        # f' exactly 0 there
    share_saturated: float                       # of the samples
    share_dead: float


def neuron_figure(d: NeuronDetail, height: int = 300) -> go.Figure:
    """Histogram of a neuron's pre-activation over the data (bars, left axis: samples) with f′ (line,
    right axis); grey bands where f′ is exactly 0 (no gradient), orange where |f′| < ε (saturated)."""
    centres = (d.edges[:-1] + d.edges[1:]) / 2
    widths = np.diff(d.edges)
    fig = go.Figure()
    for lo, hi in _minus(d.saturated, d.dead):  # where f' is exactly 0 the grey band says more
        fig.add_vrect(x0=lo, x1=hi, fillcolor="rgba(245,147,34,0.16)", line_width=0, layer="below")
    for lo, hi in d.dead:
        fig.add_vrect(x0=lo, x1=hi, fillcolor="rgba(120,120,120,0.22)", line_width=0, layer="below")
    fig.add_trace(go.Bar(x=centres, y=d.counts, width=widths, name="samples", marker={"color": "#0877bd"},
                         opacity=0.75, meta={"series": "pre_hist"},
                         hovertemplate="z ≈ %{x:.3g}: %{y} samples<extra></extra>"))
    fig.add_trace(go.Scatter(x=d.z, y=d.slope, mode="lines", name="f′(z)", yaxis="y2",
                             line={"color": "#222", "width": 2}, meta={"series": "slope"},
                             hovertemplate="f′(%{x:.3g}) = %{y:.3g}<extra></extra>"))
    top = float(np.nanmax(np.abs(d.slope))) if np.isfinite(d.slope).any() else 1.0
    fig.update_layout(
        title={"text": d.title, "font": {"size": 14}}, height=height, bargap=0,
        margin={"l": 55, "r": 55, "t": 40, "b": 70}, hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.28, "x": 0},
        yaxis={"title": {"text": "samples"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "f′(z)"}, "overlaying": "y", "side": "right", "showgrid": False,
                "tickmode": "auto", "nticks": 5,
                "range": [min(0.0, float(np.nanmin(d.slope)) if np.isfinite(d.slope).any() else 0.0),
                          1.08 * max(top, 1e-9)]})
    fig.update_xaxes(title_text="pre-activation z = w·x + b", range=[float(d.z[0]), float(d.z[-1])])
    return fig


def _minus(intervals: tuple[tuple[float, float], ...], cut: tuple[tuple[float, float], ...]
           ) -> list[tuple[float, float]]:
    """``intervals`` with the parts inside ``cut`` removed."""
    out = list(intervals)
    for c0, c1 in cut:
        rest = []
        for a, b in out:
            if b <= c0 or a >= c1:
                rest.append((a, b))
                continue
            if a < c0:
                rest.append((a, c0))
            if b > c1:
                rest.append((c1, b))
        out = rest
    return out


def shade_legend(d: NeuronDetail) -> str:
    """One sentence saying what the bands mean and how many samples fall in them."""
    parts = []

    def share(x: float) -> str:  # "0.3 %" rather than a misleading "0 %" for a few samples
        return f"{x:.1%}" if 0 < x < 0.1 else f"{x:.0%}"

    if d.dead:
        parts.append(f"grey: f′ is exactly 0, no gradient ({share(d.share_dead)} of the samples)")
    if d.saturated:
        parts.append(f"orange: saturated, |f′| < {d.eps:g} out to the edge ({share(d.share_saturated)} of the "
                     "samples)")
    return "; ".join(parts) if parts else f"no saturated or dead region in this range (|f′| ≥ {d.eps:g} throughout)"


def edge_intervals(z: np.ndarray, mask: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The runs of ``mask`` that touch an end of ``z`` (saturation out to the edge of the range, not an
    isolated crossing where f′ passes through 0)."""
    out: list[tuple[float, float]] = []
    if not len(z):
        return ()
    if mask[0]:
        stop = int(np.argmin(mask)) if not mask.all() else len(mask)
        out.append((float(z[0]), float(z[stop - 1])))
    if mask[-1] and not mask.all():
        start = len(mask) - int(np.argmin(mask[::-1]))
        out.append((float(z[start]), float(z[-1])))
    return tuple(out)
