"""`warroom doctor`'s judgement (pure): a good deployment is all OK, and each thing broken is
named as a FAIL with what to do."""

from __future__ import annotations

import bz2
import gzip
import json
from dataclasses import replace

import pytest

from cad.config import Settings
from cad.deployment import sniff
from cad.doctor import DEV_SECRET_KEY, Facts, Level, diagnose, failed

GOOD = Facts(
    database_url="postgresql+psycopg://warroom@db.example/warroom",
    revisions=("0013",),
    heads=("0013",),
    known=("0011", "0012", "0013"),
    demo=False,
    secret_key="k" * 48,
    roads_path="/srv/makassar.osm.pbf",
    roads_format="pbf",
    roads_cached=True,
    tools={"kamailio": "/usr/sbin/kamailio", "sipp": "/usr/bin/sipp"},
    twilio_account_sid="AC" + "0123456789abcdef" * 2,
    twilio_auth_token="fedcba9876543210" * 2,
    twilio_from="+6281100112112",
    public_url="https://112.example.go.id",
    intake_token_set=True,
    instance_path="/var/lib/warroom",
    free_bytes={"/var/lib/warroom": 50 << 30},
)


def levels(facts: Facts) -> dict[str, set[Level]]:
    found: dict[str, set[Level]] = {}
    for finding in diagnose(facts):
        found.setdefault(finding.check, set()).add(finding.level)
    return found


def fails(facts: Facts) -> set[str]:
    return {f.check for f in diagnose(facts) if f.level is Level.FAIL}


def test_a_good_deployment_is_all_ok() -> None:
    findings = diagnose(GOOD)
    assert [f.line() for f in findings if f.level is not Level.OK] == []
    assert {f.check for f in findings} >= {
        "database",
        "schema",
        "SECRET_KEY",
        "roads",
        "kamailio",
        "sipp",
        "Twilio",
        "public URL",
        "disk",
    }
    assert not failed(findings)


def test_a_broken_deployment_names_each_failure() -> None:
    broken = replace(
        GOOD,
        revisions=("0011",),
        secret_key=DEV_SECRET_KEY,
        roads_path="/srv/nothing.json",
        roads_error="No such file or directory",
        twilio_account_sid="AC123",
        twilio_auth_token="not-a-token",
        public_url="http://112.example.go.id",
        secure_cookies=True,
        instance_writable=False,
        free_bytes={"/var/lib/warroom": 10 << 20},
    )
    findings = diagnose(broken)
    assert failed(findings)
    assert fails(broken) == {
        "schema",
        "SECRET_KEY",
        "roads",
        "Twilio",
        "public URL",
        "instance folder",
        "disk",
    }
    said = "\n".join(f.line() for f in findings)
    assert "run `warroom db upgrade`" in said and "0011" in said
    assert "AC followed by 32 hexadecimal digits" in said and "TWILIO_AUTH_TOKEN is not 32" in said
    assert "nobody can log in" in said


def test_a_database_that_does_not_answer_fails_and_says_why() -> None:
    down = replace(GOOD, database_error="connection refused", revisions=(), demo=None)
    assert fails(down) == {"database"}
    assert "connection refused" in diagnose(down)[0].line()


def test_a_database_migrated_by_a_newer_release_fails() -> None:
    assert "does not know" in diagnose(replace(GOOD, revisions=("0099",)))[1].message


def test_the_development_key_is_fine_for_a_demo_only() -> None:
    assert levels(replace(GOOD, secret_key=DEV_SECRET_KEY, demo=True))["SECRET_KEY"] == {Level.OK}
    assert levels(replace(GOOD, secret_key=DEV_SECRET_KEY))["SECRET_KEY"] == {Level.FAIL}
    assert levels(replace(GOOD, secret_key="short"))["SECRET_KEY"] == {Level.WARN}
    assert Settings.from_env({}).secret_key == DEV_SECRET_KEY  # the default the doctor recognises


def test_missing_tools_are_warnings_that_say_what_they_cost() -> None:
    findings = {f.check: f for f in diagnose(replace(GOOD, tools={"kamailio": None, "sipp": None}))}
    assert findings["kamailio"].level is Level.WARN and "3 calls at once" in findings["kamailio"].message
    assert findings["sipp"].level is Level.WARN and "calls API" in findings["sipp"].message


def test_roads_unset_unrecognised_or_not_imported() -> None:
    assert levels(replace(GOOD, roads_path=""))["roads"] == {Level.FAIL}
    assert levels(replace(GOOD, roads_format=""))["roads"] == {Level.FAIL}
    assert levels(replace(GOOD, roads_cached=False))["roads"] == {Level.WARN}


@pytest.mark.parametrize(
    ("sid", "token", "sender", "level"),
    [
        ("", "", "", Level.OK),
        ("AC" + "a" * 32, "b" * 32, "+6281100112112", Level.OK),
        ("AC" + "a" * 32, "b" * 32, "", Level.WARN),
        ("AC" + "a" * 32, "", "+6281100112112", Level.FAIL),
        ("SK" + "a" * 32, "b" * 32, "+6281100112112", Level.FAIL),
        ("AC" + "a" * 32, "b" * 31, "+6281100112112", Level.FAIL),
    ],
)
def test_twilio_credentials_in_form(sid: str, token: str, sender: str, level: Level) -> None:
    facts = replace(GOOD, twilio_account_sid=sid, twilio_auth_token=token, twilio_from=sender)
    assert levels(facts)["Twilio"] == {level}


def test_public_url_and_cookies() -> None:
    assert levels(replace(GOOD, public_url="112.example"))["public URL"] == {Level.FAIL}
    assert levels(replace(GOOD, public_url="http://112.example"))["public URL"] == {Level.WARN}
    assert levels(replace(GOOD, public_url="http://112.example", secure_cookies=True))["public URL"] == {Level.FAIL}
    assert levels(replace(GOOD, public_url=""))["public URL"] == {Level.WARN}  # Twilio signs the public URL
    untexted = replace(GOOD, public_url="", twilio_account_sid="", twilio_auth_token="", twilio_from="")
    assert levels(replace(untexted, secure_cookies=True))["public URL"] == {Level.OK}  # TLS ends at a proxy


def test_disk_space_warns_then_fails() -> None:
    assert levels(replace(GOOD, free_bytes={"/i": 500 << 20}))["disk"] == {Level.WARN}
    assert levels(replace(GOOD, free_bytes={"/i": 50 << 20}))["disk"] == {Level.FAIL}


def test_extract_formats_are_recognised_from_their_first_bytes() -> None:
    overpass = json.dumps({"version": 0.6, "elements": [{"type": "node", "id": 1}]}).encode()
    assert sniff(overpass) == "overpass-json"
    assert sniff(b"\x00\x00\x00\x0d\x0a\x09OSMHeader\x18") == "pbf"
    assert sniff(b"<?xml version='1.0'?>\n<osm version='0.6'>") == "osm-xml"
    assert sniff(gzip.compress(overpass)) == "overpass-json, compressed"
    assert sniff(bz2.compress(overpass)[:40]) in ("", "overpass-json, compressed")  # cut short: no error
    assert sniff(b"PK\x03\x04 a zip") == "" and sniff(b"") == ""
