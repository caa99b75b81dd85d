"""Schemas of a form's responses: a Frictionless Table Schema (the exported CSV) and a JSON
Schema (one response as a JSON object), both generated from the definition and published
next to the form page so analysts can check the files they download.
"""

from __future__ import annotations

import re
from typing import Any

from generator.forms.model import MULTI_SEPARATOR, RATING_MAX, RATING_MIN, Field, FieldKind, Form
from generator.forms.rules import PHONE_PATTERN, RESPONSE_ID, SUBMITTED_AT, max_length

_KIND_TYPES = {
    FieldKind.NUMBER: "number",
    FieldKind.DATE: "date",
    FieldKind.RATING: "integer",
}


def _description(field: Field) -> str:
    parts = [field.help or ""]
    if field.kind is FieldKind.MULTIPLE_CHOICE:
        parts.append(f"多选，选项之间以“{MULTI_SEPARATOR}”分隔")
    if field.personal:
        parts.append("个人信息，不公开")
    return "；".join(p for p in parts if p)


def _choices_pattern(field: Field) -> str:
    one = "(?:" + "|".join(re.escape(o.value) for o in field.options) + ")"
    return f"{one}(?:{re.escape(MULTI_SEPARATOR)}{one})*"


def table_schema(form: Form) -> dict[str, Any]:
    """Frictionless Table Schema of the responses CSV (columns = ``response_columns``)."""
    fields: list[dict[str, Any]] = [
        {"name": RESPONSE_ID, "type": "string", "title": "回复编号",
         "constraints": {"required": True, "unique": True}},
        {"name": SUBMITTED_AT, "type": "datetime", "title": "提交时间",
         "constraints": {"required": True}},
    ]  # fmt: skip
    for field in form.fields:
        kind = field.kind
        entry: dict[str, Any] = {"name": field.name, "title": field.label}
        constraints: dict[str, Any] = {}
        if field.required:
            constraints["required"] = True
        if kind is FieldKind.NUMBER:
            entry["type"] = "integer" if field.integer else "number"
            if field.min is not None:
                constraints["minimum"] = field.min
            if field.max is not None:
                constraints["maximum"] = field.max
        elif kind is FieldKind.DATE:
            entry["type"] = "date"
            if field.min_date:
                constraints["minimum"] = field.min_date.isoformat()
            if field.max_date:
                constraints["maximum"] = field.max_date.isoformat()
        elif kind is FieldKind.RATING:
            entry["type"] = "integer"
            constraints.update(minimum=RATING_MIN, maximum=RATING_MAX)
        else:
            entry["type"] = "string"
            if field.is_free_text:
                if field.min_length is not None:
                    constraints["minLength"] = field.min_length
                if max_length(field) is not None:
                    constraints["maxLength"] = max_length(field)
                if field.pattern:
                    constraints["pattern"] = field.pattern
            elif kind is FieldKind.SINGLE_CHOICE:
                constraints["enum"] = [o.value for o in field.options]
            elif kind is FieldKind.MULTIPLE_CHOICE and field.options:
                constraints["pattern"] = _choices_pattern(field)
            elif kind is FieldKind.PHONE:
                constraints["pattern"] = PHONE_PATTERN
            elif kind is FieldKind.CONSENT:
                constraints["enum"] = ["同意"]
        description = _description(field)
        if description:
            entry["description"] = description
        if constraints:
            entry["constraints"] = constraints
        fields.append(entry)
    return {"fields": fields, "primaryKey": [RESPONSE_ID], "missingValues": [""]}


def json_schema(form: Form) -> dict[str, Any]:
    """JSON Schema (2020-12) of one response as an object; multiple choices are arrays."""
    properties: dict[str, Any] = {
        RESPONSE_ID: {"type": "string", "title": "回复编号"},
        SUBMITTED_AT: {"type": "string", "format": "date-time", "title": "提交时间"},
    }
    required = [RESPONSE_ID, SUBMITTED_AT]
    for field in form.fields:
        kind = field.kind
        prop: dict[str, Any] = {"title": field.label}
        if kind is FieldKind.NUMBER:
            prop["type"] = "integer" if field.integer else "number"
            if field.min is not None:
                prop["minimum"] = field.min
            if field.max is not None:
                prop["maximum"] = field.max
        elif kind is FieldKind.DATE:
            prop.update(type="string", format="date")
        elif kind is FieldKind.RATING:
            prop.update(type="integer", minimum=RATING_MIN, maximum=RATING_MAX)
        elif kind is FieldKind.SINGLE_CHOICE:
            prop.update(type="string", enum=[o.value for o in field.options])
        elif kind is FieldKind.MULTIPLE_CHOICE:
            items: dict[str, Any] = {"type": "string", "enum": [o.value for o in field.options]}
            prop.update(type="array", items=items, uniqueItems=True)
            if field.min_choices is not None or field.required:
                prop["minItems"] = max(field.min_choices or 0, 1 if field.required else 0)
            if field.max_choices is not None:
                prop["maxItems"] = field.max_choices
        elif kind is FieldKind.PHONE:
            prop.update(type="string", pattern=f"^(?:{PHONE_PATTERN})$")
        elif kind is FieldKind.CONSENT:
            prop.update(type="string", const="同意")
        else:
            prop["type"] = "string"
            if field.min_length is not None or field.required:
                prop["minLength"] = max(field.min_length or 0, 1 if field.required else 0)
            if max_length(field) is not None:
                prop["maxLength"] = max_length(field)
            if field.pattern:
                prop["pattern"] = f"^(?:{field.pattern})$"
        description = _description(field)
        if description:
            prop["description"] = description
        if field.personal:
            prop["x-personal"] = True
        properties[field.name] = prop
        if field.required:
            required.append(field.name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{form.id}.schema.json",
        "title": f"{form.title}：回复",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
