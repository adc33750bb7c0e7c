"""``manage.py evaluate_localisation --study SLUG (--model SHA_PREFIX | --shipped)
[--partitions test,external] [--all-cases]``: how well a model's Grad-CAM maps find the lesion.

For each partition, on the cases that have a lesion mask and that the model classifies correctly
(``--all-cases``: every case with a mask), the heat map of the predicted class is scored by the
pointing game (is the hottest pixel on the lesion?, Zhang et al. 2018) and by the share of the
heat inside the lesion (Wang et al. 2020); see :mod:`inference.engine.gradcam`.
"""

from __future__ import annotations

import json

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from inference import services
from inference.engine.card import ModelCard, ModelError, load_model
from inference.engine.gradcam import _masks_like, grad_cam, localisation_metrics
from inference.engine.networks import gradcam_layer
from inference.engine.predictor import Predictor
from inference.engine.transforms import Preprocess
from inference.management.arguments import study_and_model_version
from inference.models import ModelVersion
from studies.models import Image, Study


def localisation_of(version: ModelVersion, study: Study, partition: str, *,
                    correct_only: bool = True, batch_size: int = 32) -> dict:
    """Pointing game and heat share of ``version`` on one partition of ``study``."""
    card = ModelCard.from_dict(version.card)
    model = load_model(services.media_path(version.weights_file), card, map_location="cpu")
    codes = list(version.labels)
    rows = list(
        Image.objects.filter(study=study, partition=partition, reference__isnull=False)
        .exclude(mask_file="").exclude(array_file="")
        .order_by("id").values_list("id", "array_file", "mask_file", "reference__label")
    )
    if not rows:
        return {"partition": partition, "cases_with_mask": 0, "n": 0, "pointing_game": None,
                "mean_heat_inside": None, "lesion_share": None, "heat_on_lesion": None,
                "heat_on_image": None}
    prep = Preprocess(card.input_size)
    import torch

    x = torch.stack([prep(np.load(services.media_path(a), allow_pickle=False))
                     for _, a, _, _ in rows])
    probs = Predictor(model, device="cpu", batch_size=batch_size).predict(x)
    predicted = probs.argmax(axis=1)
    truth = np.array([codes.index(label) for *_, label in rows])
    keep = (predicted == truth) if correct_only else np.ones(len(rows), bool)
    result = {"partition": partition, "cases_with_mask": len(rows),
              "correct": int((predicted == truth).sum())}
    if not keep.any():
        return {**result, "n": 0, "pointing_game": None, "mean_heat_inside": None,
                "lesion_share": None, "heat_on_lesion": None, "heat_on_image": None}
    heat, _ = grad_cam(model, x[torch.from_numpy(keep)], layer=gradcam_layer(card.architecture),
                       class_index=predicted[keep], batch_size=batch_size, device="cpu")
    masks = [np.load(services.media_path(rows[i][2]), allow_pickle=False)
             for i in np.flatnonzero(keep)]
    # A uniform map puts this share of its heat on the lesion (and hits it with this chance):
    # the lesion's share of the padded square image, the baseline for both scores.
    chance = float(np.mean([m.astype(bool).sum() / max(m.shape) ** 2 for m in masks]))
    # Mean map value on the lesion (maps peak at 1) against the mean over the image: a coarse
    # map can be hot all over the lesion while its single hottest pixel lies beside it.
    cover = _masks_like(masks, heat, square="pad")
    on_lesion = (heat * cover).sum(axis=(1, 2)) / np.maximum(cover.sum(axis=(1, 2)), 1e-12)
    return {**result, **localisation_metrics(heat, masks).to_dict(), "lesion_share": chance,
            "heat_on_lesion": float(np.mean(on_lesion)), "heat_on_image": float(heat.mean())}


class Command(BaseCommand):
    help = "Pointing game and heat share inside the lesion mask of a model's Grad-CAM maps."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--model", metavar="SHA_PREFIX")
        which.add_argument("--shipped", action="store_true")
        parser.add_argument("--partitions", default="test,external")
        parser.add_argument("--all-cases", action="store_true",
                            help="score every case with a mask, not only correct ones")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        study, version = study_and_model_version(options)
        if version.format == ModelVersion.Format.TORCHSCRIPT:
            raise CommandError("Grad-CAM needs a state-dict model of a known architecture")
        try:
            results = [
                localisation_of(version, study, part.strip(),
                                correct_only=not options["all_cases"])
                for part in options["partitions"].split(",") if part.strip()
            ]
        except (ModelError, services.InferenceError) as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
            return
        which = "all cases with a mask" if options["all_cases"] else "correctly classified cases"
        synthetic = " [SYNTHETIC]" if study.synthetic or version.synthetic else ""
        self.stdout.write(f"Grad-CAM localisation of {version.name} ({version.short_sha}) on "
                          f"{study.slug}, {which}{synthetic}")
        self.stdout.write(f"{'partition':<12}{'with mask':>10}{'correct':>9}{'scored':>8}"
                          f"{'pointing game':>15}{'heat inside':>13}{'lesion share':>14}"
                          f"{'heat on lesion':>16}{'heat on image':>15}")
        for r in results:
            pg, hi, ls = r["pointing_game"], r["mean_heat_inside"], r["lesion_share"]
            hl, hm = r.get("heat_on_lesion"), r.get("heat_on_image")
            self.stdout.write(
                f"{r['partition']:<12}{r['cases_with_mask']:>10}{r.get('correct', 0):>9}"
                f"{r['n']:>8}{'n/a' if pg is None else f'{pg:.3f}':>15}"
                f"{'n/a' if hi is None else f'{hi:.3f}':>13}"
                f"{'n/a' if ls is None else f'{ls:.3f}':>14}"
                f"{'n/a' if hl is None else f'{hl:.3f}':>16}"
                f"{'n/a' if hm is None else f'{hm:.3f}':>15}"
            )
        self.stdout.write("lesion share: the lesion's share of the (square-padded) image, what a "
                          "uniform heat map would score on both measures; heat on lesion / on "
                          "image: mean map value (peak = 1) on the lesion / over the image")
