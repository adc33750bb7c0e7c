"""``manage.py train_model --study SLUG [--architecture A] [--input-size S] [--epochs N]
[--seed S] [--select-on macro_f1|macro_auc] [--output DIR] [--async]``.

Trains on the study's train partition, selects the epoch on validation, then reports test and
external metrics separately (never used for training or selection), and registers the weights
as a model version with its card.
"""

from __future__ import annotations

import json
import shlex
import sys

from django.core.management.base import BaseCommand, CommandError

from inference import services
from inference.engine.networks import ARCHITECTURES, DEFAULT_ARCHITECTURE
from studies.models import Study

SHOWN = ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "macro_auc")


class Command(BaseCommand):
    help = ("Train a classifier on the train partition (selection on validation) and report "
            "test and external metrics separately.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument("--architecture", default=DEFAULT_ARCHITECTURE,
                            choices=ARCHITECTURES)
        parser.add_argument("--input-size", type=int, default=128)
        parser.add_argument("--epochs", type=int, default=30)
        parser.add_argument("--patience", type=int, default=10,
                            help="stop after this many epochs without a better validation "
                            "metric (default 10)")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--augment", default="standard",
                            choices=services.AUGMENTATIONS,
                            help="training augmentation: the engine's standard MRI-like "
                            "augmentation, flips and intensity changes only, or none")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--select-on", default="macro_f1", choices=("macro_f1", "macro_auc"))
        parser.add_argument("--name", default="", help="name of the model version")
        parser.add_argument("--output", metavar="DIR", default="",
                            help="write weights and card here (default MEDIA_ROOT/models/...)")
        parser.add_argument("--async", dest="run_async", action="store_true",
                            help="queue the training on the gpu queue and return")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"--study {options['study']!r}: no such study")
        for name in ("input_size", "epochs", "batch_size", "patience"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')}: expected a positive integer, "
                                   f"got {options[name]}")
        parameters = {
            "architecture": options["architecture"],
            "input_size": options["input_size"],
            "epochs": options["epochs"],
            "patience": options["patience"],
            "batch_size": options["batch_size"],
            "lr": options["lr"],
            "select_on": options["select_on"],
            "augment": options["augment"],
            "name": options["name"],
            "command": "manage.py train_model " + shlex.join(sys.argv[2:])
            if len(sys.argv) > 1 and sys.argv[1] == "train_model" else "",
        }
        if not parameters["command"]:
            parameters["command"] = (
                f"manage.py train_model --study {study.slug} --architecture "
                f"{options['architecture']} --input-size {options['input_size']} --epochs "
                f"{options['epochs']} --seed {options['seed']} --select-on {options['select_on']} "
                f"--augment {options['augment']}"
            )
        run = services.training_run_create(
            study=study, seed=options["seed"], parameters=parameters,
            output_dir=options["output"], enqueue=options["run_async"],
        )
        if options["run_async"]:
            run.refresh_from_db()
            self.stdout.write(f"training run #{run.pk} queued ({run.status}); see the admin "
                              "or the training run's row for its result")
            return

        def progress(record):
            metric = record.metrics.get(options["select_on"])
            shown = "n/a" if metric is None else f"{metric:.3f}"
            self.stdout.write(
                f"  epoch {record.epoch:3d}  train loss {record.train_loss:.4f}  validation "
                f"loss {record.validation_loss:.4f}  {options['select_on']} {shown}"
                f"{'  *' if record.best else ''}  ({record.seconds:.1f} s)"
            )

        synthetic = " [SYNTHETIC data]" if study.synthetic else ""
        self.stdout.write(f"Training {options['architecture']} at {options['input_size']} px on "
                          f"{study.slug}{synthetic}: train partition, selection on validation")
        try:
            run = services.training_run_execute(run_id=run.pk, progress=progress)
        except (services.InferenceError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        m = run.metrics
        self.stdout.write(f"best epoch {m['best_epoch']} of {m['epochs_run']}, "
                          f"{m['train_seconds']} s")
        self.stdout.write(f"{'partition':<12}" + "".join(f"{k:>17}" for k in SHOWN))
        for part in ("validation", "test", "external"):
            values = m.get(part)
            if not values:
                self.stdout.write(f"{part:<12} (no cases)")
                continue
            self.stdout.write(f"{part:<12}" + "".join(_fmt(values.get(k)) for k in SHOWN))
        self.stdout.write("test and external were not used for training or selection"
                          + (". These numbers are SYNTHETIC (phantom data)." if study.synthetic
                             else "."))
        version = run.model_version
        if m.get("new_version", True):
            self.stdout.write(self.style.SUCCESS(
                f"registered model version {version.name}: sha256 {version.sha256}"
            ))
        else:
            self.stdout.write(self.style.WARNING(
                f"identical weights were already registered as {version.name}: sha256 "
                f"{version.sha256}"
            ))
        self.stdout.write(f"weights {m['weights']}\ncard {m['card']}")
        if options["verbosity"] > 1:
            self.stdout.write(json.dumps(m, indent=2))


def _fmt(value) -> str:
    if value is None:
        return f"{'n/a':>17}"
    if isinstance(value, int):
        return f"{value:>17d}"
    return f"{value:>17.4f}"
