"""Label schemes and endpoints of a study, validated once.

A label scheme is an ordered list of classes ``[{"code", "name", "definition"}, ...]``, lowest
first. An endpoint is a binary question on it: ``{"name", "positive": [codes]}``. The JIC scheme
below is only the *default*: nothing else in the code base may assume its codes.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

JIC_SCHEME = [
    {
        "code": "A",
        "name": "Type A",
        "definition": "The necrotic lesion occupies the medial third or less of the "
        "weight-bearing portion.",
    },
    {
        "code": "B",
        "name": "Type B",
        "definition": "The necrotic lesion occupies the medial two thirds or less of the "
        "weight-bearing portion.",
    },
    {
        "code": "C1",
        "name": "Type C1",
        "definition": "The necrotic lesion occupies more than the medial two thirds of the "
        "weight-bearing portion but does not extend beyond the lateral acetabular edge.",
    },
    {
        "code": "C2",
        "name": "Type C2",
        "definition": "The necrotic lesion occupies more than the medial two thirds of the "
        "weight-bearing portion and extends laterally beyond the acetabular edge.",
    },
]

JIC_ENDPOINTS = [
    {"name": "collapse-prone (C1, C2 vs A, B)", "positive": ["C1", "C2"]},
    {"name": "C2 vs rest", "positive": ["C2"]},
]


def default_label_scheme() -> list[dict]:
    return [dict(item) for item in JIC_SCHEME]


def default_endpoints() -> list[dict]:
    return [{"name": e["name"], "positive": list(e["positive"])} for e in JIC_ENDPOINTS]


def validate_label_scheme(value) -> None:
    if not isinstance(value, list) or len(value) < 2:
        raise ValidationError("A label scheme is a list of at least two classes, lowest first.")
    codes = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, dict) or not str(item.get("code", "")).strip():
            raise ValidationError(f"Class {i} of the label scheme has no code.")
        extra = set(item) - {"code", "name", "definition"}
        if extra:
            raise ValidationError(f"Class {i} has unknown keys: {', '.join(sorted(extra))}.")
        codes.append(str(item["code"]))
    if len(set(codes)) != len(codes):
        raise ValidationError(f"The label scheme repeats a class code: {codes}.")


def validate_endpoints(value, codes: list[str] | None = None) -> None:
    if not isinstance(value, list):
        raise ValidationError("Endpoints are a list of {name, positive} objects.")
    names = set()
    for i, item in enumerate(value, start=1):
        if not isinstance(item, dict) or not str(item.get("name", "")).strip():
            raise ValidationError(f"Endpoint {i} has no name.")
        positive = item.get("positive")
        if not isinstance(positive, list) or not positive:
            raise ValidationError(f"Endpoint {item['name']!r} names no positive class.")
        if item["name"] in names:
            raise ValidationError(f"Endpoint name {item['name']!r} is used twice.")
        names.add(item["name"])
        if codes is not None:
            unknown = [c for c in positive if c not in codes]
            if unknown:
                raise ValidationError(
                    f"Endpoint {item['name']!r} names classes not in the scheme: {unknown}."
                )
            if len(set(positive)) == len(codes):
                raise ValidationError(
                    f"Endpoint {item['name']!r} makes every class positive: nothing to compare."
                )
