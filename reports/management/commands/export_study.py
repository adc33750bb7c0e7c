from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelVersion
from inference.selectors import model_version_by_prefix
from reports.services.exports import study_export_bundle
from studies.models import Study


class Command(BaseCommand):
    help = (
        "Export a study: long table CSV with its data dictionary, per-endpoint iMRMC and "
        "MRMCaov/RJafroc inputs, an XLSX workbook and the comparison as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--model", help="first hex digits (6 or more) of a model version's "
                            "SHA-256 (default: every model with predictions on the study)")
        parser.add_argument("--out", required=True, help="folder to write the files into")
        parser.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                            help="patient-clustered bootstrap resamples (default 2000)")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")

    def handle(self, *args, **options):
        try:
            study = Study.objects.get(slug=options["study"])
        except Study.DoesNotExist:
            raise CommandError(f"--study: no study with slug {options['study']!r}") from None
        version = None
        if options["model"]:
            try:
                version = model_version_by_prefix(prefix=options["model"])
            except (ModelVersion.DoesNotExist, ModelVersion.MultipleObjectsReturned) as exc:
                raise CommandError(f"--model: {exc}") from None
        if options["bootstrap"] < 0:
            raise CommandError(f"--bootstrap: expected 0 or more, got {options['bootstrap']}")
        try:
            files = study_export_bundle(study=study, model_version=version,
                                        directory=options["out"],
                                        n_bootstrap=options["bootstrap"], seed=options["seed"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Exported {study.slug} to {options['out']}:")
        for path in files:
            self.stdout.write(f"  {path.name}")
