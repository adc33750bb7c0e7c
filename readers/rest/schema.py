"""The OpenAPI schema of the REST API: DRF's :class:`AutoSchema`, told what it cannot see.

- A ``SerializerMethodField`` is typed from its method's return annotation (DRF says
  ``string`` whatever it returns); ``X | None`` makes it nullable.
- A JSON field takes its shape from the serializer's ``Meta.json_schema`` (DRF says
  ``object``, though most of ours hold lists); one not listed there gets no type at all.
- A choice field that may be blank lists ``""`` among its values.
- The API is read-only, so ``required`` says what every response holds: each field except the
  staff-only ones (``Meta.staff_fields``), which a reader does not get.
"""

from __future__ import annotations

import copy
import types
import typing

from rest_framework import serializers
from rest_framework.schemas.openapi import AutoSchema

_JSON_TYPES = {
    str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
    list: "array",
}


def _annotation_schema(hint) -> dict:
    """``str``, ``int``, ``float``, ``bool``, ``dict``, ``list`` (bare or parametrised), or one
    of them ``| None``; anything else gets no type."""
    args = typing.get_args(hint)
    is_union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    options = [a for a in args if a is not type(None)] if is_union else [hint]
    if len(options) != 1:
        return {}
    kind = _JSON_TYPES.get(typing.get_origin(options[0]) or options[0])
    if kind is None:
        return {}
    schema = {"type": kind}
    if is_union and len(options) < len(args):
        schema["nullable"] = True
    return schema


class ReadOnlyAutoSchema(AutoSchema):
    def map_field(self, field):
        if isinstance(field, serializers.SerializerMethodField):
            method = getattr(field.parent, field.method_name)
            return _annotation_schema(typing.get_type_hints(method).get("return"))
        if isinstance(field, serializers.JSONField):
            shapes = getattr(getattr(field.parent, "Meta", None), "json_schema", {})
            return copy.deepcopy(shapes.get(field.field_name, {}))
        return super().map_field(field)

    def map_choicefield(self, field):
        schema = super().map_choicefield(field)
        if getattr(field, "allow_blank", False) and "" not in schema["enum"]:
            schema["enum"] = [*schema["enum"], ""]
        return schema

    def map_serializer(self, serializer):
        result = super().map_serializer(serializer)
        staff_only = set(getattr(getattr(serializer, "Meta", None), "staff_fields", ()))
        required = [name for name in result["properties"] if name not in staff_only]
        result.pop("required", None)
        if required:  # OpenAPI 3.0: a ``required`` list is never empty
            result["required"] = required
        return result
