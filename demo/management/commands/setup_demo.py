"""Set up the demo study end to end: phantom multicenter data, import, partition, the shipped
model's predictions, accounts, a SIMULATED reader panel with its reads, and the study report.

Idempotent: a second run reuses what is there (``--reset`` starts the demo study over).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from demo.simulated_panel import PANEL, simulated_panel_create
from readers.models import ReaderProfile
from readers.services.reading import sessions_create_audited
from reports.services.build import study_report_build
from studies import selectors as study_selectors
from studies.models import READING_PARTITIONS, Membership, Site, Study
from studies.services.partitions import study_partition

DEMO_SLUG = "onfh-demo"
DEMO_BOOTSTRAP = 500  # resamples in the demo report: enough for stable intervals, quick to build
# Demo accounts only: the README says so, and production mode never runs this command.
ACCOUNTS = [
    # username, password, role, (seniority, years) or None, staff
    ("coordinator", "demo-coordinator", Membership.Role.ADMIN, None, True),
    ("researcher", "demo-researcher", Membership.Role.RESEARCHER, None, False),
    ("alice", "demo-alice", Membership.Role.READER, ("chief", 24), False),
    ("bob", "demo-bob", Membership.Role.READER, ("attending", 7), False),
]


class Command(BaseCommand):
    help = "Create the demo study (synthetic phantom data, 4 sites, one external) and accounts."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=300)
        parser.add_argument("--sites", type=int, default=4)
        parser.add_argument("--seed", type=int, default=2024)
        parser.add_argument("--reset", action="store_true", help="delete the demo study first")

    def handle(self, *args, **options):
        if getattr(settings, "PRODUCTION", False):
            self.stderr.write("setup_demo creates accounts with known passwords: not in production")
            return
        started = time.perf_counter()
        if options["reset"]:
            Study.objects.filter(slug=DEMO_SLUG).delete()
        study = Study.objects.filter(slug=DEMO_SLUG).first()
        if study is None or not study.images.exists():
            study = self._create_study(options)
        self._accounts(study)
        self._sessions(study, options["seed"])
        self._simulated_panel(study, options["seed"])
        report = self._report(study, options["seed"])
        self._print_summary(study, time.perf_counter() - started, report)

    def _create_study(self, options) -> Study:
        out = Path(settings.DATA_DIR) / "phantoms" / f"seed{options['seed']}"
        manifest = out / "manifest.csv"
        if not manifest.exists():
            self.stdout.write(f"Generating SYNTHETIC phantom cases under {out} ...")
            call_command(
                "make_phantoms", str(out), "--patients", str(options["patients"]),
                "--sites", str(options["sites"]), "--external-sites", "1",
                "--seed", str(options["seed"]), "--force", stdout=self.stdout,
            )
        with (out / "sites.csv").open(newline="") as fh:
            sites = list(csv.DictReader(fh))
        for row in sites:
            external = str(row["external"]).strip().lower() in {"1", "true", "yes"}
            self.stdout.write(f"Importing {row['code']}{' (external)' if external else ''} ...")
            args = [
                str(out / row["code"]), "--study", DEMO_SLUG, "--site", row["code"],
                "--manifest", str(manifest), "--create",
            ]
            if external:
                args.append("--external")
            call_command("import_dicom", *args, stdout=self.stdout)
            Site.objects.filter(code=row["code"], name="").update(name=row.get("name", ""))
        study = Study.objects.get(slug=DEMO_SLUG)
        Study.objects.filter(pk=study.pk).update(
            title="ONFH JIC classification — demo (synthetic phantoms)", synthetic=True
        )
        study.refresh_from_db()
        study_partition(study=study, seed=options["seed"])
        self._run_shipped_model(study)
        return study

    def _run_shipped_model(self, study: Study) -> None:
        """Register the shipped default model and run it on the reading cases (test and
        external) through Celery: inline without Redis, on the gpu queue with it."""
        from inference import services
        from inference.engine.card import ModelError
        from inference.management.commands.run_inference import summary_line

        try:
            version, _ = services.model_version_register_shipped(study=study)
            job = services.inference_job_create(study=study, model_version=version,
                                                heatmaps=True)
        except (services.InferenceError, ModelError) as exc:
            self.stderr.write(f"Shipped model not run: {exc}")
            return
        job.refresh_from_db()
        where = "" if job.finished else " (queued on the gpu queue for a worker)"
        self.stdout.write(f"Shipped model {version.short_sha} [trained on SYNTHETIC data]: "
                          f"{summary_line(job)}{where}")

    @transaction.atomic
    def _accounts(self, study: Study) -> None:
        user_model = get_user_model()
        for username, password, role, profile, staff in ACCOUNTS:
            user, created = user_model.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = staff
                user.is_superuser = staff
                user.save()
            if profile:
                ReaderProfile.objects.update_or_create(
                    user=user, defaults={"seniority": profile[0], "years_experience": profile[1]}
                )
            Membership.objects.get_or_create(study=study, user=user, defaults={"role": role})

    def _sessions(self, study: Study, seed: int) -> None:
        """An open unaided session for each demo reader, so a person can try reading at once."""
        readers = [
            m.user for m in study.memberships.filter(role=Membership.Role.READER)
            .select_related("user") if not m.user.reading_sessions.filter(study=study).exists()
        ]
        if readers:
            coordinator = get_user_model().objects.filter(username="coordinator").first()
            sessions_create_audited(
                study=study, readers=readers, name="Round 1 (unaided)", condition="unaided",
                by=coordinator, base_seed=seed,
            )

    @staticmethod
    def _model_version(study: Study):
        """The shipped model: the latest version with predictions on the study."""
        from inference.models import ModelVersion

        return (ModelVersion.objects.filter(predictions__image__study=study).distinct()
                .order_by("-pk").first())

    def _simulated_panel(self, study: Study, seed: int) -> None:
        """The SIMULATED panel reads every reading case unaided and, where the shipped model
        has predicted them all, once more AI-aided (so the report has unaided vs AI-aided)."""
        coordinator = get_user_model().objects.filter(username="coordinator").first()
        version = self._model_version(study)
        reading = study.images.filter(partition__in=READING_PARTITIONS)
        if version is not None and reading.exclude(
                predictions__model_version=version).exists():
            self.stdout.write("AI-aided SIMULATED round skipped: the model has not predicted "
                              "every reading case yet (run make demo again once it has).")
            version = None
        n = simulated_panel_create(study=study, seed=seed, by=coordinator, model_version=version)
        rounds = "unaided and AI-aided" if version is not None else "unaided"
        self.stdout.write(f"SIMULATED reader panel ({len(PANEL)} made-up readers, {rounds}): "
                          f"{n} new simulated reads.")

    def _report(self, study: Study, seed: int):
        """Build the study report now; the shipped model (the latest version with predictions
        on the study) is the model it compares with the readers."""
        version = self._model_version(study)
        self.stdout.write(f"Building the study report ({DEMO_BOOTSTRAP} bootstrap resamples) ...")
        return study_report_build(study=study, model_version=version, seed=seed,
                                  n_bootstrap=DEMO_BOOTSTRAP)

    @staticmethod
    def _headline(report) -> str:
        groups = (report.result or {}).get("site_groups") or []
        if not groups:
            return f"report {report.status}: {report.error or 'no result'}"
        group = groups[0]
        readers = [r["accuracy"]["accuracy"] for r in group["readers"]
                   if r["accuracy"]["accuracy"] is not None]
        models = [f"{m['reader']} {m['accuracy']['accuracy']:.1%}" for m in group["models"]
                  if m["accuracy"]["accuracy"] is not None]
        mean = f"{sum(readers) / len(readers):.1%}" if readers else "n/a"
        return (f"accuracy ({group['name']} {group['n_cases']} reading cases): "
                f"{', '.join(models) or 'no model'} vs mean reader {mean} "
                f"({len(readers)} readers, SIMULATED panel)")

    def _print_summary(self, study: Study, seconds: float, report) -> None:
        table = study_selectors.study_case_counts(study=study)
        w = self.stdout.write
        w("")
        w(f"Study {study.slug}: {study.title}  [SYNTHETIC DATA]")
        w("  " + "partition".ljust(12) + "".join(c.rjust(11) for c in table["labels"]))
        for part, row in table["rows"].items():
            w("  " + part.ljust(12) + "".join(str(n).rjust(11) for n in row))
        w("")
        w("Demo accounts (local demo only):")
        for username, password, role, profile, _ in ACCOUNTS:
            extra = f", {profile[0]}, {profile[1]} years" if profile else ""
            w(f"  {username:<12} password {password:<18} {role}{extra}")
        w("Readers alice and bob each have an open unaided session at /read/.")
        w("Readers sim-* are a SIMULATED panel (made-up surgeons, random reads): no login.")
        w(f"Study report: /reports/{study.slug}/  [{report.status}]")
        w(f"  {self._headline(report)}")
        w(f"Ready in {seconds:.1f} s.")
