"""The OpenAPI document is generated from the code and describes every JSON endpoint."""

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from cad.api.spec import OPERATIONS


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_document_is_valid_and_complete(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint not in ("api.openapi", "api.health"):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    assert served == described
    assert len(OPERATIONS) >= len(described)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_document_carries_the_models_the_views_validate_with(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    create = document["paths"]["/api/v1/incidents"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema["properties"]["priority"]["minimum"] == 1 and schema["properties"]["priority"]["maximum"] == 4
    assert set(schema["required"]) == {"type", "priority"}
    assert {"201", "400", "401", "403"} <= set(create["responses"])
    assert "dispatcher" in document["paths"]["/api/v1/incidents/{incident_id}/assignments"]["post"]["description"]
    statuses = document["components"]["schemas"]["UnitStatusChange"]["properties"]["status"]["enum"]
    assert "assigned" not in statuses and "on_scene" in statuses


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_recommendations_limit_is_a_number_or_all_and_defaults_to_the_best_five(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    get = document["paths"]["/api/v1/incidents/{incident_id}/recommendations"]["get"]
    (limit,) = [p for p in get["parameters"] if p["name"] == "limit"]
    assert limit["schema"]["default"] == 5 and limit["required"] is False
    assert {"type": "string", "const": "all"} in limit["schema"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": 10_000} in limit["schema"]["anyOf"]
    ref = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "total" in document["components"]["schemas"][ref]["required"]
