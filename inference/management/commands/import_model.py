"""``manage.py import_model WEIGHTS --card CARD.json [--study SLUG] [--name NAME]``: register a
model trained elsewhere (TorchScript, or a state dict of a known architecture) as a version."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inference import services
from inference.engine.card import ModelCard, ModelError
from studies.models import Study


class Command(BaseCommand):
    help = "Register weights and their JSON card as a model version (identity: weights SHA-256)."

    def add_arguments(self, parser):
        parser.add_argument("weights", metavar="WEIGHTS", help="TorchScript file or state dict")
        parser.add_argument("--card", required=True, metavar="CARD.json",
                            help="model card: architecture, input size, labels, format ...")
        parser.add_argument("--study", metavar="SLUG",
                            help="check the card's label scheme against this study's")
        parser.add_argument("--name", default="", help="a readable name for the version")

    def handle(self, *args, **options):
        study = None
        if options["study"]:
            study = Study.objects.filter(slug=options["study"]).first()
            if study is None:
                raise CommandError(f"--study {options['study']!r}: no such study")
        try:
            card = ModelCard.read(options["card"])
            version, created = services.model_version_register(
                weights_path=options["weights"], card=card, study=study, name=options["name"],
            )
        except ModelError as exc:
            raise CommandError(f"refused: {exc}") from None
        if not created:
            self.stdout.write(self.style.WARNING(
                f"already registered: {version.name} (sha256 {version.sha256})"
            ))
            return
        self.stdout.write(self.style.SUCCESS(
            f"registered {version.name}: sha256 {version.sha256}, {version.architecture}, "
            f"input {version.input_size}px, labels {', '.join(version.labels)}"
            + (" [SYNTHETIC training data]" if version.synthetic else "")
        ))
