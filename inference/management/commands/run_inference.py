"""``manage.py run_inference --study SLUG [--model SHA_PREFIX | --shipped] [--partitions
test,external] [--heatmaps] [--batch-size N] [--wait]``: queue an inference job on the ``gpu``
queue (inline when no Redis is configured)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from inference import services
from inference.management.arguments import study_and_model_version
from inference.models import InferenceJob


class Command(BaseCommand):
    help = "Run a model version on a study's cases (default: the test and external partitions)."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--model", metavar="SHA_PREFIX",
                           help="the model version (first digits of its SHA-256)")
        which.add_argument("--shipped", action="store_true",
                           help="the shipped default model (registered if needed)")
        parser.add_argument("--partitions", default="test,external",
                            help="comma-separated partitions (default test,external)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--heatmaps", action="store_true", help="store Grad-CAM heat maps")
        parser.add_argument("--wait", action="store_true",
                            help="wait until the job has finished, printing progress")
        parser.add_argument("--timeout", type=float, default=3600.0,
                            help="give up waiting after this many seconds (default 3600)")

    def handle(self, *args, **options):
        study, version = study_and_model_version(options)
        partitions = [p.strip() for p in options["partitions"].split(",") if p.strip()]
        try:
            job = services.inference_job_create(
                study=study, model_version=version, partitions=partitions,
                batch_size=options["batch_size"], heatmaps=options["heatmaps"],
            )
        except services.InferenceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"job #{job.pk}: {version} on {job.n_total} cases of {study.slug} "
                          f"({', '.join(partitions)})")
        if options["wait"]:
            job = self._wait(job, options["timeout"])
        else:
            job.refresh_from_db()
        self.stdout.write(summary_line(job))
        if job.status == InferenceJob.Status.FAILED:
            raise CommandError(f"job #{job.pk} failed:\n{job.error}")

    def _wait(self, job: InferenceJob, timeout: float) -> InferenceJob:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            job.refresh_from_db()
            state = (job.status, job.n_done, job.n_failed)
            if state != last:
                self.stdout.write(f"  {job.status}: {job.n_done}/{job.n_total} done, "
                                  f"{job.n_failed} failed")
                last = state
            if job.finished:
                return job
            if time.monotonic() > deadline:
                raise CommandError(f"job #{job.pk} still {job.status} after {timeout:g} s; "
                                   "is a worker consuming the gpu queue?")
            time.sleep(1.0)


def summary_line(job: InferenceJob) -> str:
    t = job.timings or {}
    spent = ", ".join(f"{k} {float(t.get(k, 0)):.2f} s" for k in services.TIMING_KEYS
                      if float(t.get(k, 0)) > 0)
    return (f"job #{job.pk} {job.status}: {job.n_done}/{job.n_total} predicted, "
            f"{job.n_failed} failed" + (f" ({spent})" if spent else ""))
