"""``manage.py make_phantoms OUT``: write a SYNTHETIC multicentre hip MRI study to a folder."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.engine.phantom_dicom import write_phantom_study


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise CommandError(f"{name}: got {text!r}; expected comma-separated numbers") from None


class Command(BaseCommand):
    help = (
        "Write SYNTHETIC phantom hip MRI (DICOM per site, lesion masks, manifest.csv, sites.csv) "
        "for demos, tests and training without patients."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="output folder (must be empty unless --force)")
        parser.add_argument("--patients", type=int, default=300)
        parser.add_argument("--sites", type=int, default=4)
        parser.add_argument("--external-sites", type=int, default=1,
                            help="how many of the last sites are external (default 1)")
        parser.add_argument("--seed", type=int, default=2024)
        parser.add_argument("--labels", default="A,B,C1,C2",
                            help="ordered label scheme, lowest extent first (default JIC)")
        parser.add_argument("--class-frequencies", default=None,
                            help="share of hips per label, e.g. 0.1,0.2,0.35,0.35 (the default)")
        parser.add_argument("--thresholds", default=None,
                            help="lateral-extent bounds between labels (default 1/3,2/3,1)")
        parser.add_argument("--force", action="store_true",
                            help="write into a non-empty folder, replacing an earlier "
                            "phantom study there")

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.is_dir() and any(out.iterdir()) and not options["force"]:
            raise CommandError(f"{out} is not empty; use --force to replace a phantom study there")
        labels = [v.strip() for v in options["labels"].split(",")]
        frequencies = options["class_frequencies"]
        thresholds = options["thresholds"]
        step = max(1, options["patients"] // 5)

        def progress(done: int, total: int) -> None:
            if done % (2 * step) == 0 or done == total:
                self.stdout.write(f"  {done}/{total} images")

        self.stdout.write(f"Writing SYNTHETIC phantom images to {out} ...")
        try:
            summary = write_phantom_study(
                out,
                patients=options["patients"],
                sites=options["sites"],
                external_sites=options["external_sites"],
                seed=options["seed"],
                labels=labels,
                class_frequencies=None if frequencies is None else _floats(
                    frequencies, "--class-frequencies"),
                thresholds=None if thresholds is None else _floats(thresholds, "--thresholds"),
                overwrite=options["force"],
                progress=progress,
            )
        except (ValueError, FileExistsError, NotADirectoryError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary.summary())
