"""Example cases of a study report: which cases to show for a model (its most confident right
and wrong calls, across the truth classes), and the figure that shows them with the model's heat
map, truth, its call and how many readers read them right. Pure: arrays in, PNG or SVG out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from analysis.table.longtable import SCORE_PREFIX, LongTable
from reports.figures import plain_text, render

__all__ = ["ExampleCase", "example_case_choices", "example_cases_figure"]


@dataclass(frozen=True)
class ExampleCase:
    """One example case of :func:`example_cases_figure`.

    ``image`` is the case's 2-D array (any real scale; shown between its 1st and 99th
    percentiles; ``None`` when it cannot be read, and the panel says so). ``heat`` is the
    model's heat map in [0, 1] covering the same field of view (any grid; it is stretched over
    the image), or ``None`` when none was stored. ``correct`` puts the case in the "model
    right" or the "model wrong" row.
    """

    case: str
    truth: str
    predicted: str
    probability: float | None
    correct: bool
    image: np.ndarray | None
    heat: np.ndarray | None = None
    readers_right: int | None = None
    readers_total: int | None = None

    def caption(self) -> str:
        text = f"case {self.case}\ntruth {self.truth}, model {self.predicted}"
        if self.probability is not None:
            text += f" ({self.probability:.2f})"
        if self.readers_total:
            text += f"\nreaders right {self.readers_right}/{self.readers_total}"
        return text


def example_case_choices(table: LongTable, comparison: dict, *, model: str,
                         site_group: str = "all", n_right: int = 3,
                         n_wrong: int = 3) -> list[dict]:
    """The example cases to show for ``model`` in ``site_group``: up to ``n_right`` cases it
    called right and ``n_wrong`` it called wrong.

    Within each row the cases are taken round-robin over the truth classes (in label order), so
    that the examples span the classes, and within a class by the model's probability of its
    call, highest first: its most confident successes and its most confident errors (ties by
    case id). Reads are those the comparison analysed: the model's in the primary condition (or
    its only condition); for "readers right", each human reader's first session of the primary
    condition. Returns dicts ``{case, truth, predicted, probability, correct, readers_right,
    readers_total}``.
    """
    primary = comparison.get("primary_condition")
    sub = table.site_group(site_group) if site_group != "all" else table
    rows = sub.reads[sub.reads["reader"] == model]
    if primary in set(rows["condition"]):
        rows = rows[rows["condition"] == primary]
    if rows.empty:
        return []
    humans = sub.reads[(sub.reads["reader_kind"] == "human")
                       & (sub.reads["condition"] == primary)]
    if not humans.empty:
        first = humans.groupby("reader")["session"].transform("min")
        humans = humans[humans["session"] == first]
    right = (humans["label"] == humans["truth"]).groupby(humans["case"]).agg(["sum", "count"])
    choices = []
    for r in rows.drop_duplicates("case").to_dict("records"):
        p = r.get(f"{SCORE_PREFIX}{r['label']}")
        p = float(p) if p is not None and np.isfinite(p) else None  # None: no scores
        stats = right.loc[r["case"]] if r["case"] in right.index else None
        choices.append({
            "case": str(r["case"]), "truth": str(r["truth"]), "predicted": str(r["label"]),
            "probability": p, "correct": bool(r["label"] == r["truth"]),
            "readers_right": int(stats["sum"]) if stats is not None else None,
            "readers_total": int(stats["count"]) if stats is not None else None,
        })
    order = {label: i for i, label in enumerate(table.labels)}
    chosen = []
    for correct, n in ((True, n_right), (False, n_wrong)):
        pool = sorted((c for c in choices if c["correct"] is correct),
                      key=lambda c: (order.get(c["truth"], len(order)),
                                     -(c["probability"] if c["probability"] is not None
                                       else -1.0), c["case"]))
        by_class: dict[str, list[dict]] = {}
        for c in pool:
            by_class.setdefault(c["truth"], []).append(c)
        queues = list(by_class.values())
        picked: list[dict] = []
        while len(picked) < n and any(queues):
            for q in queues:
                if q and len(picked) < n:
                    picked.append(q.pop(0))
        chosen += picked
    return chosen


@plain_text
def example_cases_figure(cases: Sequence[ExampleCase], *, title: str = "Example cases",
                         fmt: str = "png") -> bytes | str:
    """Example cases in two rows, the model right (top) and wrong (bottom): each image in
    grey with the model's heat map over it (jet colours, more opaque where hotter) and a caption
    with truth, the model's call and probability, and how many readers read it right."""
    rows = [("model right", [c for c in cases if c.correct]),
            ("model wrong", [c for c in cases if not c.correct])]
    n_cols = max(1, *(len(r[1]) for r in rows))
    fig = Figure(figsize=(2.1 * n_cols + 0.6, 5.2))
    axes = fig.subplots(2, n_cols, squeeze=False)
    for row, (name, items) in enumerate(rows):
        for col in range(n_cols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(items):
                ax.set_axis_off()
                if col == 0:
                    ax.text(0.5, 0.5, f"no case: {name}", ha="center", va="center",
                            fontsize=8, transform=ax.transAxes)
                continue
            c = items[col]
            if c.image is None:
                ax.text(0.5, 0.5, "image unavailable", ha="center", va="center", fontsize=7,
                        transform=ax.transAxes)
                ax.set_xlabel(c.caption(), fontsize=6.5)
                continue
            image = np.asarray(c.image, dtype=np.float32)
            if image.ndim != 2:
                raise ValueError(f"case {c.case}: image must be 2-D, got shape {image.shape}")
            finite = image[np.isfinite(image)]
            lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
            extent = (-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5)
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
                      extent=extent, interpolation="bilinear")
            if c.heat is not None:
                heat = np.clip(np.nan_to_num(np.asarray(c.heat, dtype=np.float32)), 0, 1)
                # Colour by heat, and opacity too: cold parts leave the anatomy visible.
                rgba = matplotlib.colormaps["jet"](heat)
                rgba[..., 3] = 0.6 * np.sqrt(heat)
                ax.imshow(rgba, extent=extent, interpolation="bilinear")
            for spine in ax.spines.values():
                spine.set_color("tab:green" if c.correct else "tab:red")
                spine.set_linewidth(2)
            ax.set_xlabel(c.caption() + ("" if c.heat is not None else "\n(no heat map)"),
                          fontsize=6.5)
        axes[row, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    return render(fig, fmt)
