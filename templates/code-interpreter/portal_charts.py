"""The data behind a matplotlib figure, in the shape of the E2B SDK's chart types.

One axes gives one chart (line, scatter, bar, pie, box_and_whisker, or unknown); a figure with
several axes that hold something gives a "superchart" whose elements are those charts.
Written for this project: E2B's extractor is not packaged for Debian.
"""
import datetime
import re

import matplotlib.axes
import matplotlib.dates
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.patches import Wedge

# boxplot() computes its statistics and hands them to bxp(): remember them on the axes,
# since the drawn lines alone do not say which is a whisker and which a cap.
if not getattr(matplotlib.axes.Axes.bxp, "_portal", False):
    _bxp = matplotlib.axes.Axes.bxp

    def _recording_bxp(self, bxpstats, *args, **kwargs):
        result = _bxp(self, bxpstats, *args, **kwargs)
        self.__dict__.setdefault("_portal_boxes", []).extend(dict(s) for s in bxpstats)
        return result

    _recording_bxp._portal = True
    matplotlib.axes.Axes.bxp = _recording_bxp


def _number(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def _unit(label):
    if not label:
        return None
    match = re.search(r"\(([^)]*)\)\s*$", label) or re.search(r"\[([^\]]*)\]\s*$", label)
    return match.group(1) if match else None


def _scale(axis, ax_scale):
    converter = getattr(axis, "converter", None)
    if isinstance(converter, matplotlib.dates.DateConverter) or type(converter).__name__.endswith("DateConverter"):
        return "datetime"
    if type(converter).__name__ == "StrCategoryConverter":
        return "categorical"
    return ax_scale


def _value(v, scale, axis):
    if scale == "datetime":
        try:
            return matplotlib.dates.num2date(float(v)).astimezone(datetime.timezone.utc).isoformat()
        except (TypeError, ValueError, OverflowError):
            return str(v)
    if scale == "categorical":
        units = getattr(axis, "units", None)
        mapping = getattr(units, "_mapping", None) or {}
        for name, index in mapping.items():
            if index == v:
                return name
    return _number(v)


def _label(artist):
    label = artist.get_label()
    return None if not label or label.startswith("_") else label


def _axes_meta(ax, with_ticks):
    meta = {
        "title": ax.get_title() or None,
        "x_label": ax.get_xlabel() or None,
        "y_label": ax.get_ylabel() or None,
        "x_unit": _unit(ax.get_xlabel()),
        "y_unit": _unit(ax.get_ylabel()),
    }
    if with_ticks:
        for name, axis, ax_scale in (("x", ax.xaxis, ax.get_xscale()), ("y", ax.yaxis, ax.get_yscale())):
            scale = _scale(axis, ax_scale)
            ticks = list(axis.get_ticklocs())
            try:
                labels = [str(t) for t in axis.get_major_formatter().format_ticks(ticks)]
            except Exception:
                labels = [t.get_text() for t in axis.get_ticklabels()]
            meta[f"{name}_ticks"] = [_value(t, scale, axis) for t in ticks]
            meta[f"{name}_tick_labels"] = labels
            meta[f"{name}_scale"] = scale
    return meta


def _points(xs, ys, ax):
    xscale = _scale(ax.xaxis, ax.get_xscale())
    yscale = _scale(ax.yaxis, ax.get_yscale())
    return [[_value(x, xscale, ax.xaxis), _value(y, yscale, ax.yaxis)] for x, y in zip(xs, ys)]


def _chart_of_axes(ax):
    boxes = ax.__dict__.get("_portal_boxes")
    if boxes:
        elements = []
        for i, s in enumerate(boxes):
            elements.append({
                "label": str(s.get("label", i + 1)),
                "min": _number(s["whislo"]), "first_quartile": _number(s["q1"]), "median": _number(s["med"]),
                "third_quartile": _number(s["q3"]), "max": _number(s["whishi"]),
                "outliers": [_number(v) for v in s.get("fliers", [])],
            })
        return {"type": "box_and_whisker", **_axes_meta(ax, False), "elements": elements}

    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    if wedges:
        return {
            "type": "pie", "title": ax.get_title() or None,
            "elements": [{"label": w.get_label(), "angle": _number(round(abs(w.theta2 - w.theta1), 4)), "radius": _number(w.r)} for w in wedges],
        }

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    if bars:
        ticks = list(ax.get_xticks())
        try:
            names = [str(t) for t in ax.xaxis.get_major_formatter().format_ticks(ticks)]
        except Exception:
            names = [t.get_text() for t in ax.get_xticklabels()]
        elements = []
        for container in bars:
            group = container.get_label()
            for rect in container.patches:
                center = rect.get_x() + rect.get_width() / 2
                label = names[min(range(len(ticks)), key=lambda i: abs(ticks[i] - center))] if ticks else str(center)
                elements.append({"label": label, "group": group if group and not group.startswith("_") else None,
                                 "value": _number(rect.get_height())})
        return {"type": "bar", **_axes_meta(ax, False), "elements": elements}

    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    lines = [l for l in ax.get_lines() if len(l.get_xdata()) > 0]
    if lines and len(lines) >= len(scatters):
        elements = [{"label": _label(l), "points": _points(l.get_xdata(orig=False), l.get_ydata(orig=False), ax)} for l in lines]
        return {"type": "line", **_axes_meta(ax, True), "elements": elements}
    if scatters:
        elements = []
        for c in scatters:
            offsets = c.get_offsets()
            elements.append({"label": _label(c), "points": _points(offsets[:, 0], offsets[:, 1], ax)})
        return {"type": "scatter", **_axes_meta(ax, True), "elements": elements}
    return {"type": "unknown", "title": ax.get_title() or None, "elements": []}


def chart_of(figure):
    axes = [ax for ax in figure.get_axes() if ax.get_visible() and ax.get_label() != "<colorbar>"]
    if not axes:
        return None
    if len(axes) == 1:
        return _chart_of_axes(axes[0])
    suptitle = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) is not None else None
    return {"type": "superchart", "title": suptitle or None, "elements": [_chart_of_axes(ax) for ax in axes]}
