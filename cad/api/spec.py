"""`operation`: one decorator that authenticates, parses, validates, renders, and
describes a JSON endpoint, so the OpenAPI document is generated from the code that runs."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from pydantic import BaseModel, TypeAdapter, ValidationError

from cad.auth import authenticate_user
from cad.errors import ApiError, InvalidInput, error_body
from cad.models import Role

ALL_STAFF = frozenset(Role)


@dataclass(frozen=True)
class Operation:
    endpoint: str
    rule: str
    method: str
    summary: str
    tag: str
    roles: frozenset[Role]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    errors: tuple[int, ...] = field(default=())


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    roles: Iterable[Role] = ALL_STAFF,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn` as `method rule` on `bp`.

    The view receives path parameters, `user`, and `body`/`query` as validated models;
    it returns plain data, which is validated against `response` and sent as JSON.
    """
    allowed = frozenset(roles)
    adapter = TypeAdapter(response) if response is not None else None

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**path: Any) -> Response:
            user = authenticate_user(allowed)
            kwargs: dict[str, Any] = dict(path, user=user)
            if body is not None:
                kwargs["body"] = parse_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            result = fn(**kwargs)
            if isinstance(result, Response):
                return result
            payload = adapter.dump_python(adapter.validate_python(result), mode="json") if adapter else result
            out = jsonify(payload)
            out.status_code = status
            return out

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        prefix = bp.url_prefix or ""
        OPERATIONS.append(
            Operation(
                endpoint=f"{bp.name}.{fn.__name__}",
                rule=prefix + rule,
                method=method.lower(),
                summary=summary,
                tag=bp.name,
                roles=allowed,
                body=body,
                query=query,
                response=response,
                status=status,
                errors=errors,
            )
        )
        return view

    return decorate


def parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)
    if not request.mimetype == "application/json":
        raise ApiError(
            "send the body as JSON with 'Content-Type: application/json'",
            "body",
            code="unsupported_media_type",
            status=415,
        )
    try:
        json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: nested too deep
        raise InvalidInput(f"the body is not valid JSON: {error}", "body", code="invalid_json") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _invalid(error) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise _invalid(error) from None


def _invalid(error: ValidationError) -> InvalidInput:
    first = error.errors(include_url=False)[0]
    field_name = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidInput(f"{field_name}: {first['msg']}", field_name)


# --- OpenAPI -----------------------------------------------------------------

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_STATUS_TEXT = {
    400: "Invalid input",
    401: "No or bad bearer token",
    403: "Role not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    415: "Not JSON",
}


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch and a null default
    (a choice of two kinds, a number or `all`, stays a choice)."""
    schema = {k: v for k, v in prop.items() if k not in ("anyOf", "default", "title")}
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) > 1:
        schema["anyOf"] = branches
    for branch in branches if len(branches) == 1 else []:
        schema = {**branch, **schema}
    if prop.get("default") is not None:
        schema["default"] = prop["default"]
    return schema


def openapi_document(app: Flask) -> dict[str, Any]:
    """OpenAPI 3.1 for every registered operation, with schemas from the pydantic models."""
    models: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    registered = {rule.endpoint for rule in app.url_map.iter_rules()}

    def schema_of(annotation: Any) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}")
        models.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            models[annotation.__name__] = schema
            return {"$ref": f"#/components/schemas/{annotation.__name__}"}
        return schema

    for op in OPERATIONS:
        if op.endpoint not in registered:
            continue
        path = _PATH_PARAM.sub(r"{\2}", op.rule)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "integer" if conv == "int" else "string"}}
            for conv, name in _PATH_PARAM.findall(op.rule)
        ]
        if op.query is not None:
            qschema = op.query.model_json_schema(ref_template="#/components/schemas/{model}")
            models.update(qschema.pop("$defs", {}))
            for name, prop in qschema.get("properties", {}).items():
                parameters.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in qschema.get("required", []),
                        "schema": _query_schema(prop),
                        "description": prop.get("description", ""),
                    }
                )
        responses: dict[str, Any] = {
            str(op.status): {
                "description": "OK",
                **(
                    {"content": {"application/json": {"schema": schema_of(op.response)}}}
                    if op.response is not None
                    else {}
                ),
            },
        }
        for code in sorted({401, 403, *((400,) if op.body or op.query else ()), *op.errors}):
            responses[str(code)] = {
                "description": _STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        entry: dict[str, Any] = {
            "operationId": op.endpoint.replace(".", "_"),
            "summary": op.summary,
            "tags": [op.tag],
            "security": [{"bearer": []}],
            "description": "Roles: " + ", ".join(sorted(op.roles)),
            "parameters": parameters,
            "responses": responses,
        }
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema_of(op.body)}}}
        paths.setdefault(path, {})[op.method] = entry

    models["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
        "example": error_body("not_found", "no unit 9", "unit_id"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "War Room 112 API",
            "version": "1",
            "description": "Computer-aided dispatch for a 112 centre. Times are UTC (ISO 8601).",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(models.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
