"""A small reading study built through the real importer (DICOM files full of identifying tags),
with a fixed cast — alice and bob (readers), rachel (researcher), charlie (outsider) — and
one session per reader. Shared by the view, permission and browser tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from readers.models import ReaderProfile, ReadingSession
from readers.services.reading import session_create
from studies.models import Image, Membership, ReferenceLabel, Study
from studies.services.dicom_import import import_dicom_files
from tests.studies.dicom_files import write_mr

PASSWORDS = {
    "alice": "pw-alice-reads-1",
    "bob": "pw-bob-reads-22",
    "rachel": "pw-rachel-research-3",
    "charlie": "pw-charlie-outside-4",
}
LABELS = ["A", "B", "C1", "C2"]


@dataclass
class ReadingStudy:
    study: Study
    users: dict
    sessions: dict = field(default_factory=dict)  # username -> ReadingSession

    def session(self, name: str) -> ReadingSession:
        return self.sessions[name]


def import_cases(*, tmp_path: Path, study, site, external_site, n_internal=10, n_external=4,
                 size=64) -> list[Image]:
    """Import ``n_internal`` cases from ``site`` (two go to train, the rest to test) and
    ``n_external`` from ``external_site`` (external), each with a reference label."""
    images = []
    for which, site_obj, n in (("int", site, n_internal), ("ext", external_site, n_external)):
        paths = [
            write_mr(
                tmp_path / "dicom" / which / f"DOE_JOHN_{i}.dcm", patient_id=f"PAT-{which}-{i}",
                study=f"{which}-study-{i}", series=f"{which}-series-{i}",
                instance=f"{which}-inst-{i}", seed=1000 * (which == "ext") + i,
                rows=size, columns=size,
            )
            for i in range(n)
        ]
        report = import_dicom_files(paths=[str(p) for p in paths], study=study, site=site_obj)
        assert report.imported == n, report.as_dict()
        new = list(Image.objects.filter(study=study, hip__patient__site=site_obj).order_by("id"))
        for i, image in enumerate(new):
            ReferenceLabel.objects.create(image=image, label=LABELS[i % 4], source="test")
            if which == "ext":
                image.partition = "external"
            else:
                image.partition = "train" if i < 2 else "test"
            image.save(update_fields=["partition"])
        images += new
    return images


def make_cast(*, study, django_user_model) -> dict:
    users = {}
    for name, role in [("alice", "reader"), ("bob", "reader"), ("rachel", "researcher")]:
        users[name] = django_user_model.objects.create_user(name, password=PASSWORDS[name])
        Membership.objects.create(study=study, user=users[name], role=role)
    for name, seniority in [("alice", "chief"), ("bob", "resident")]:
        ReaderProfile.objects.create(user=users[name], seniority=seniority, years_experience=9)
    users["charlie"] = django_user_model.objects.create_user(
        "charlie", password=PASSWORDS["charlie"]
    )
    return users


def build(*, tmp_path, study, site, external_site, django_user_model, condition="unaided",
          **import_kwargs) -> ReadingStudy:
    import_cases(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site, **import_kwargs
    )
    users = make_cast(study=study, django_user_model=django_user_model)
    rs = ReadingStudy(study=study, users=users)
    for name in ("alice", "bob"):
        rs.sessions[name] = session_create(
            study=study, reader=users[name], name=f"Round 1 ({name})", condition=condition,
            base_seed=11,
        )
    return rs
