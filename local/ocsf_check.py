"""Check the OCSF output of an export: every event valid against the official OCSF JSON Schema, and every exported
Graph version rendered exactly once beside its graph blob. Used by `./dev export` and the tests.

The schemas come from the `ocsf-json-schema` package (a dev/test dependency: it ships OCSF's compiled schemas for
1.0.0-rc.2 to 1.8.0 offline and turns a class plus profiles into a JSON Schema Draft 2020-12 document).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from local.export_check import live_blobs
from shared.ocsf.output import OCSF_PREFIX

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from jsonschema import Draft202012Validator

    from local.export_check import ExportContents


@lru_cache(maxsize=4)
def _ocsf_schema(version: str) -> Any:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    return OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))


@lru_cache(maxsize=64)
def class_validator(version: str, class_uid: int, profiles: tuple[str, ...]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = _ocsf_schema(version)
    class_schema = schema.get_class_schema(schema.lookup_class_name_from_uid(class_uid), profiles=list(profiles))
    Draft202012Validator.check_schema(class_schema)
    return Draft202012Validator(class_schema)


def schema_errors(event: dict[str, Any], version: str | None = None) -> list[str]:
    """Every way `event` breaks the OCSF schema of its class (its metadata.version and metadata.profiles unless
    `version` is given), plus the one rule the schema cannot say: type_uid = class_uid x 100 + activity_id."""
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    version = version or metadata.get("version")
    class_uid = event.get("class_uid")
    if not isinstance(version, str) or not isinstance(class_uid, int):
        return ["metadata.version or class_uid is missing"]
    try:
        validator = class_validator(version, class_uid, tuple(metadata.get("profiles") or ()))
    except (KeyError, FileNotFoundError) as exc:
        return [f"no OCSF {version} schema for class {class_uid}: {exc}"]
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(event)'}: {e.message}" for e in validator.iter_errors(event)]
    if isinstance(event.get("activity_id"), int) and event.get("type_uid") != class_uid * 100 + event["activity_id"]:
        errors.append(f"type_uid {event.get('type_uid')} is not class_uid x 100 + activity_id")
    return errors


@dataclass
class OcsfContents:
    blobs: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    by_blob: dict[str, int] = field(default_factory=dict)  # graph blob name -> events in its OCSF twin
    uids: Counter[str] = field(default_factory=Counter)  # metadata.uid (id/version) -> times written


def read_ocsf(container: ContainerClient, stream: str, tenant: str | None = None) -> OcsfContents:
    """Every OCSF event of one stream (optionally one tenant), live export only."""
    prefix = f"{OCSF_PREFIX}{stream}/" + (f"tenant={tenant}/" if tenant else "")
    contents = OcsfContents()
    for name, events in live_blobs(container, prefix):
        contents.blobs += 1
        contents.events.extend(events)
        contents.by_blob[name.removeprefix(OCSF_PREFIX)] = len(events)
        contents.uids.update(str(e.get("metadata", {}).get("uid")) for e in events)
    return contents


def pairing_problems(container: ContainerClient, stream: str, tenant: str, ocsf: OcsfContents) -> list[str]:
    """Where the OCSF output and the graph output of a stream differ: a graph blob without its OCSF twin (or the
    other way round), or twins with different record counts."""
    problems = []
    graph_blobs = {
        props.name: int(props.metadata.get("record_count", "-1"))
        for props in container.list_blobs(name_starts_with=f"{stream}/tenant={tenant}/", include=["metadata"])
        if "/backfill=" not in props.name
    }
    for name, count in graph_blobs.items():
        if count == 0 and name not in ocsf.by_blob:
            continue  # an empty blob sealing a name a stalled run might still write (docs/exactly-once.md)
        if name not in ocsf.by_blob:
            problems.append(f"{name} has no OCSF twin")
        elif ocsf.by_blob[name] != count:
            problems.append(f"{name}: {count} records but {ocsf.by_blob[name]} OCSF events")
    problems += [f"OCSF blob {name} has no graph twin" for name in ocsf.by_blob if name not in graph_blobs]
    return problems


def ocsf_problems(container: ContainerClient, stream: str, tenant: str, graph: ExportContents, *,
                  validate: bool = True) -> tuple[OcsfContents, list[str]]:
    """The OCSF output of one stream and tenant against its graph output (`graph`, from read_export): every graph
    blob has its twin with as many events, every exported version is rendered exactly once, and (with `validate`)
    every event is valid OCSF. Returns what was read and the problems found (empty: all good)."""
    ocsf = read_ocsf(container, stream, tenant)
    problems = pairing_problems(container, stream, tenant, ocsf)
    problems += [f"{uid} rendered {count} times" for uid, count in ocsf.uids.items() if count > 1]
    expected = {f"{item_id}/{version}" for item_id, version in graph.versions}
    problems += [f"{uid} exported but not rendered" for uid in sorted(expected - set(ocsf.uids))]
    problems += [f"{uid} rendered but not exported" for uid in sorted(set(ocsf.uids) - expected)]
    if validate:
        for event in ocsf.events:
            problems += [f"{event.get('metadata', {}).get('uid')}: {error}" for error in schema_errors(event)]
    return ocsf, problems
