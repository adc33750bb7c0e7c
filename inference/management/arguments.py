"""What the inference commands share: ``--study SLUG`` and ``--model SHA_PREFIX | --shipped``,
resolved to objects or a :class:`CommandError` naming the argument."""

from __future__ import annotations

from django.core.management.base import CommandError

from inference import selectors, services
from inference.engine.card import ModelError
from inference.models import ModelVersion
from studies.models import Study


def study_and_model_version(options: dict) -> tuple[Study, ModelVersion]:
    """The study of ``--study`` and the model version of ``--model`` (a SHA-256 prefix) or
    ``--shipped`` (the shipped default, registered on first use)."""
    study = Study.objects.filter(slug=options["study"]).first()
    if study is None:
        raise CommandError(f"--study {options['study']!r}: no such study")
    try:
        if options["shipped"]:
            version, _ = services.model_version_register_shipped(study=study)
        else:
            version = selectors.model_version_by_prefix(prefix=options["model"])
    except (ModelVersion.DoesNotExist, ModelVersion.MultipleObjectsReturned) as exc:
        raise CommandError(f"--model: {exc}") from None
    except (services.InferenceError, ModelError) as exc:
        raise CommandError(str(exc)) from None
    return study, version
