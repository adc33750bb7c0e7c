from django.core.management.base import BaseCommand, CommandError

from studies import selectors
from studies.models import Study
from studies.services.partitions import PartitionError, parse_fractions, study_partition


class Command(BaseCommand):
    help = (
        "Split a study's cases into train/validation/test by patient, stratified by class; "
        "cases of external sites go to the external partition."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--seed", type=int, default=20240101, help="random seed (recorded)")
        parser.add_argument(
            "--fractions", default="0.7,0.1,0.2", help="train,validation,test (default 0.7,0.1,0.2)"
        )
        parser.add_argument(
            "--force", action="store_true", help="re-split even though the study has reads"
        )

    def handle(self, *args, **options):
        try:
            study = Study.objects.get(slug=options["study"])
        except Study.DoesNotExist:
            raise CommandError(f"no study with slug {options['study']!r}") from None
        try:
            fractions = parse_fractions(options["fractions"])
            split = study_partition(
                study=study, seed=options["seed"], fractions=fractions, force=options["force"]
            )
        except PartitionError as exc:
            raise CommandError(str(exc)) from None
        table = selectors.study_case_counts(study=study)
        self.stdout.write(f"Split {study.slug} with seed {split.seed}:")
        header = "".join(c.rjust(11) for c in table["labels"])
        self.stdout.write("  " + "partition".ljust(12) + header)
        for part, row in table["rows"].items():
            self.stdout.write("  " + part.ljust(12) + "".join(str(n).rjust(11) for n in row))
