"""The OpenAPI schema of the REST API: DRF's :class:`AutoSchema`, told what it cannot see.

- A ``SerializerMethodField`` is typed from its method's return annotation (DRF says
  ``string`` whatever it returns); ``X | None`` makes it nullable. A shape in
  ``Meta.json_schema`` adds to it (a URL's format, a list's items).
- A JSON field takes its shape from the serializer's ``Meta.json_schema`` (DRF says
  ``object``, though most of ours hold lists); one not listed there gets no type at all.
- A choice field that may be blank lists ``""`` among its values.
- Responses are read-only, so ``required`` says what every response holds: each field except
  the staff-only ones (``Meta.staff_fields``), which a reader does not get. A request body
  (the view's ``request_serializer_class``) keeps DRF's ``required``: the fields one must send.
- What a view says of itself: ``download_types`` (the action answers with a file of one of
  these media types), ``response_schema`` (the action answers with this JSON, no serializer),
  ``path_help`` (descriptions of path parameters that are not model fields). A ``create``
  answers 202 (queued) or 200 (done already), both with the object.
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
BINARY = {"type": "string", "format": "binary"}


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


def _json_shape(field) -> dict:
    shapes = getattr(getattr(field.parent, "Meta", None), "json_schema", {})
    return copy.deepcopy(shapes.get(field.field_name, {}))


class ApiAutoSchema(AutoSchema):
    def map_field(self, field):
        if isinstance(field, serializers.SerializerMethodField):
            method = getattr(field.parent, field.method_name)
            hinted = _annotation_schema(typing.get_type_hints(method).get("return"))
            return {**hinted, **_json_shape(field)}
        if isinstance(field, serializers.JSONField):
            return _json_shape(field)
        return super().map_field(field)

    def map_choicefield(self, field):
        schema = super().map_choicefield(field)
        if getattr(field, "allow_blank", False) and "" not in schema["enum"]:
            schema["enum"] = [*schema["enum"], ""]
        return schema

    def map_serializer(self, serializer):
        result = super().map_serializer(serializer)
        request_class = getattr(self.view, "request_serializer_class", None)
        if request_class is not None and isinstance(serializer, request_class):
            return result  # a request body: DRF's ``required`` (what one must send)
        staff_only = set(getattr(getattr(serializer, "Meta", None), "staff_fields", ()))
        required = [name for name in result["properties"] if name not in staff_only]
        result.pop("required", None)
        if required:  # OpenAPI 3.0: a ``required`` list is never empty
            result["required"] = required
        return result

    def get_request_serializer(self, path, method):
        request_class = getattr(self.view, "request_serializer_class", None)
        if request_class is None:
            return super().get_request_serializer(path, method)
        return request_class()

    def get_path_parameters(self, path, method):
        parameters = super().get_path_parameters(path, method)
        for parameter in parameters:
            described = getattr(self.view, "path_help", {}).get(parameter["name"])
            if described:
                parameter["description"] = described
        return parameters

    def get_responses(self, path, method):
        download_types = getattr(self.view, "download_types", ())
        if download_types:
            return {"200": {
                "description": "The file, as an attachment.",
                "content": {kind: {"schema": dict(BINARY)} for kind in download_types},
            }}
        response_schema = getattr(self.view, "response_schema", None)
        if response_schema is not None:
            return {"200": {
                "description": response_schema.get("description", ""),
                "content": {"application/json": {"schema": copy.deepcopy(response_schema)}},
            }}
        responses = super().get_responses(path, method)
        if method == "POST" and getattr(self.view, "action", None) == "create":
            created = responses.pop("201")
            responses["202"] = {**created, "description": "Accepted: queued or being built; "
                                "follow the object's status."}
            responses["200"] = {**copy.deepcopy(created),
                                "description": "Done already (the same inputs were asked for "
                                "before): the cached object."}
        return responses
