"""Create reading sessions in bulk: readers × the study's reading cases, one session each.

    manage.py create_sessions --study onfh-demo --readers alice,bob --condition unaided \
        --name "Round 1" [--round 1] [--partitions test,external] [--seed 7] \
        [--override-washout REASON]

A round-2 session opens for each reader when they have finished their round-1 session and the
study's washout has passed since their last read in it: rounds can be created ahead, together,
in any order.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from readers.models import ReadingSession
from readers.selectors import session_gate
from readers.services.reading import ReadingError, sessions_create_audited
from studies.models import READING_PARTITIONS, Partition, Study


class Command(BaseCommand):
    help = "Create one reading session per reader on the study's reading cases (all or none)."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--readers", required=True, help="comma-separated usernames")
        parser.add_argument(
            "--condition", required=True, choices=ReadingSession.Condition.values
        )
        parser.add_argument("--name", required=True, help="session name shown to readers")
        parser.add_argument(
            "--round", type=int, default=1,
            help="reading round (default 1): a session opens for its reader once they have "
            "finished their sessions of earlier rounds and the washout has passed",
        )
        parser.add_argument(
            "--partitions", default=",".join(READING_PARTITIONS),
            help="comma-separated partitions to read (default: test,external)",
        )
        parser.add_argument("--seed", type=int, default=None,
                            help="base seed of the case orders (default: a secret random seed "
                            "per session, recorded on it)")
        parser.add_argument(
            "--override-washout", default="", metavar="REASON",
            help="open the sessions now despite the washout; the reason is recorded",
        )
        parser.add_argument(
            "--model-version", default="", metavar="SHA256",
            help="AI-aided conditions: the model version shown (SHA-256 or a unique prefix)",
        )
        parser.add_argument("--by", default="", help="username recorded as the creator")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"--study: no study with slug {options['study']!r}")
        partitions = [p.strip() for p in options["partitions"].split(",") if p.strip()]
        unknown = [p for p in partitions if p not in Partition.values]
        if unknown or not partitions:
            raise CommandError(
                f"--partitions: got {options['partitions']!r}; expected a comma-separated "
                f"subset of {Partition.values}"
            )
        users = get_user_model().objects
        names = [n.strip() for n in options["readers"].split(",") if n.strip()]
        readers = list(users.filter(username__in=names))
        missing = sorted(set(names) - {u.get_username() for u in readers})
        if missing or not names:
            raise CommandError(f"--readers: no such users: {', '.join(missing) or '(none given)'}")
        readers.sort(key=lambda u: names.index(u.get_username()))
        by = users.filter(username=options["by"]).first() if options["by"] else None
        model_version = self._model_version(options["model_version"])
        try:
            sessions = sessions_create_audited(
                study=study, readers=readers, name=options["name"],
                condition=options["condition"], by=by, base_seed=options["seed"],
                partitions=partitions, override_reason=options["override_washout"],
                model_version=model_version, round=options["round"],
            )
        except ReadingError as exc:
            raise CommandError(str(exc)) from None
        for s in sessions:
            gate = session_gate(session=s)
            opens = "open now" if gate.open else gate.message.replace("This session ", "")
            self.stdout.write(
                f"{s.reader.get_username():<16} {s.items.count():>5} cases  {opens}  "
                f"/read/{s.token}/"
            )
        self.stdout.write(f"Created {len(sessions)} sessions {options['name']!r} "
                          f"({options['condition']}, round {options['round']}) in {study.slug}.")

    def _model_version(self, prefix: str):
        if not prefix:
            return None
        from inference.models import ModelVersion

        if len(prefix) < 8:
            raise CommandError(f"--model-version: {prefix!r} is too short; give 8+ hex digits")
        matches = list(ModelVersion.objects.filter(sha256__startswith=prefix.lower())[:2])
        if len(matches) != 1:
            raise CommandError(
                f"--model-version: {prefix!r} matches {'no' if not matches else 'several'} "
                "model versions; give more of the SHA-256"
            )
        return matches[0]
