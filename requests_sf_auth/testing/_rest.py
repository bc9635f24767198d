"""How the local org answers its APIs: the REST API under ``/services/data/`` and the Bulk API
1.0 under ``/services/async/``. Facts: ``shared/SALESFORCE.md`` ("Using the token", "REST
answers worth imitating").

The REST API answers as Salesforce does, so that a mistake in the caller's code shows in its
tests: 404 ``NOT_FOUND`` for an unknown resource or version, 405 for a method a resource does
not take, 201 for a created record, 204 for an update or delete, and ``Sforce-Limit-Info`` on
every answer. What a test needs to see of its own requests is under ``test/echo``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ._oauth import USER_ID, USERNAME

if TYPE_CHECKING:
    from ._http import Exchange
    from .org import LocalOrg

__all__ = ["DATA_PREFIX", "Canned", "answer_bulk", "answer_data", "query_key"]

DATA_PREFIX = "/services/data/v"
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
_INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
_SOBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_STANDARD_OBJECTS = ("Account", "Contact", "Opportunity", "User")
_KEY_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "User": "005"}
_HIDDEN_HEADERS = frozenset({"authorization", "x-sfdc-session"})

QueryKey = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Canned:
    """A canned answer from :meth:`LocalOrg.add_response`, serialised when it was added."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]  # without Content-Type


def query_key(query: str) -> QueryKey:
    """A query string as a comparable value: decoded, order of names ignored."""
    parsed = parse_qs(query, keep_blank_values=True)
    return tuple(sorted((name, tuple(values)) for name, values in parsed.items()))


def _error(code: str, message: str) -> list[dict[str, str]]:
    return [{"errorCode": code, "message": message}]


# -- the REST API ------------------------------------------------------------------------------


def answer_data(org: LocalOrg, exchange: Exchange, token: str | None) -> None:
    """Answer a request under ``/services/data/``."""
    path = exchange.path
    if path.rstrip("/") == "/services/data":
        versions = [
            {"label": f"Release {v}", "url": f"/services/data/v{v}", "version": v}
            for v in org.api_versions
        ]
        exchange.send(200, versions)
        return
    org._count("api_requests")
    failure = org._next_api_failure()
    if failure is not None:
        payload = _error("SERVER_UNAVAILABLE", "Server unavailable")
        exchange.send(failure, payload, headers=_headers(org, org.api_usage))
        return
    rejection = org.reject_api_with
    if rejection is not None or not org._use_token(token):
        org._count("rejected_requests")
        payload = _error("INVALID_SESSION_ID", rejection) if rejection else _INVALID_SESSION
        headers = [("WWW-Authenticate", "Token"), *_headers(org, org.api_usage)]
        exchange.send(401, payload, headers=headers)
        return
    headers = _headers(org, org._use_api())
    version, _, tail = path[len(DATA_PREFIX) :].partition("/")
    tail = tail.rstrip("/")  # Salesforce takes "query/" for "query", as clients send it
    if version not in org.api_versions:
        exchange.send(404, NOT_FOUND, headers=headers)
        return
    if org._responses:
        canned = org._canned(exchange.method, path, tail, exchange.query)
        if canned is not None:
            extra = [(k, v) for k, v in headers if k.lower() not in _names(canned.headers)]
            exchange.send(
                canned.status, canned.body, canned.content_type, [*canned.headers, *extra]
            )
            return
    status, body, more = _resource(org, exchange, version, tail)
    exchange.send(status, body, headers=[*more, *headers] if more else headers)


def _headers(org: LocalOrg, usage: int) -> list[tuple[str, str]]:
    cookies = [("Set-Cookie", f"{k}={v}; Path=/") for k, v in org.api_cookies.items()]
    return [("Sforce-Limit-Info", f"api-usage={usage}/{org.api_limit}"), *cookies]


def _names(headers: tuple[tuple[str, str], ...]) -> set[str]:
    return {name.lower() for name, _ in headers}


Answer = tuple[int, Any, list[tuple[str, str]]]


@dataclass(frozen=True)
class _Call:
    """A REST call with a live token, on its way to a resource."""

    org: LocalOrg
    exchange: Exchange
    method: str  # HEAD is answered as GET
    base: str  # /services/data/vNN.N


def _resource(org: LocalOrg, exchange: Exchange, version: str, tail: str) -> Answer:
    """The built-in resources: ``(status, body, extra headers)``."""
    method = "GET" if exchange.method == "HEAD" else exchange.method
    call = _Call(org, exchange, method, f"/services/data/v{version}")
    if tail == "test/echo" or tail.startswith("test/echo/"):
        return 200, _echo(exchange), []
    test_resource = _TEST_RESOURCES.get(tail)
    if test_resource is not None:
        return test_resource(call)
    read_only = _READ_ONLY.get(tail)
    if read_only is not None:
        return read_only(call) if method == "GET" else _not_allowed(method, "GET,HEAD")
    if tail.startswith("sobjects/"):
        return _sobjects(call, tail.split("/")[1:])
    return 404, NOT_FOUND, []


def _not_allowed(method: str, allowed: str) -> Answer:
    message = f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    return 405, _error("METHOD_NOT_ALLOWED", message), [("Allow", allowed)]


def _resource_list(call: _Call) -> Answer:
    names = ("limits", "query", "queryAll", "sobjects", "chatter")
    return 200, {name: f"{call.base}/{name}" for name in names}, []


def _limits(call: _Call) -> Answer:
    org = call.org
    daily = {"Max": org.api_limit, "Remaining": max(org.api_limit - org.api_usage, 0)}
    return 200, {"DailyApiRequests": daily}, []


def _query(call: _Call) -> Answer:
    if not parse_qs(call.exchange.query).get("q"):
        return 400, _error("MALFORMED_QUERY", "Missing the query: pass it as ?q=SOQL"), []
    return 200, {"totalSize": 0, "done": True, "records": []}, []


def _chatter_me(call: _Call) -> Answer:
    me = {
        "id": USER_ID,
        "name": "Integration User",
        "username": USERNAME,
        "userType": "Internal",
        "url": f"{call.base}/chatter/users/me",
    }
    return 200, me, []


def _describe_global(call: _Call) -> Answer:
    names = sorted({*_STANDARD_OBJECTS, *call.org._record_types()})
    described = {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [{"name": n, "urls": _sobject_urls(call.base, n)} for n in names],
    }
    return 200, described, []


def _sobject_urls(base: str, name: str) -> dict[str, str]:
    return {
        "sobject": f"{base}/sobjects/{name}",
        "describe": f"{base}/sobjects/{name}/describe",
        "rowTemplate": f"{base}/sobjects/{name}/{{ID}}",
    }


def _sobjects(call: _Call, parts: list[str]) -> Answer:
    name, method = parts[0], call.method
    if not _SOBJECT_NAME.fullmatch(name) or len(parts) > 2 or "" in parts:
        return 404, NOT_FOUND, []
    if len(parts) == 2:
        if parts[1] != "describe":
            return _record(call, name, parts[1])
        return _describe(call, name) if method == "GET" else _not_allowed(method, "GET,HEAD")
    if method == "POST":
        return _create(call, name)
    if method != "GET":
        return _not_allowed(method, "GET,HEAD,POST")
    described = {"name": name, "label": name, "urls": _sobject_urls(call.base, name)}
    return 200, {"objectDescribe": described, "recentItems": []}, []


def _describe(call: _Call, name: str) -> Answer:
    described = {
        "name": name,
        "label": name,
        "custom": name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "deletable": True,
        "fields": [{"name": "Id", "type": "id"}, {"name": "Name", "type": "string"}],
        "urls": _sobject_urls(call.base, name),
    }
    return 200, described, []


def _fields(exchange: Exchange) -> dict[str, Any] | Answer:
    """The fields a create or update sends, or the 400 Salesforce answers to a body that is
    not a JSON object. An XML body (the REST API takes those too) is accepted without its
    fields being read."""
    if "xml" in exchange.headers.get("Content-Type", "").lower():
        return {}
    try:
        fields = json.loads(exchange.body)
    except ValueError as exc:
        return 400, _error("JSON_PARSER_ERROR", f"The body is not valid JSON: {exc}"), []
    if not isinstance(fields, dict):
        message = f"The body must be a JSON object of field values, not {type(fields).__name__}"
        return 400, _error("JSON_PARSER_ERROR", message), []
    return fields


def _create(call: _Call, name: str) -> Answer:
    fields = _fields(call.exchange)
    if isinstance(fields, tuple):
        return fields
    prefix = _KEY_PREFIXES.get(name, "a0" + name[0].upper())
    record_id = call.org._create_record(name, prefix, fields)
    return 201, {"id": record_id, "success": True, "errors": []}, []


def _record(call: _Call, name: str, record_id: str) -> Answer:
    org, method = call.org, call.method
    if method == "GET":
        return _read(call, name, record_id)
    if method == "PATCH":
        fields = _fields(call.exchange)
        if isinstance(fields, tuple):
            return fields
        found = org._update_record(name, record_id, fields)
    elif method == "DELETE":
        found = org._delete_record(name, record_id)
    else:
        return _not_allowed(method, "GET,HEAD,PATCH,DELETE")
    return (204, b"", []) if found else (404, NOT_FOUND, [])


def _read(call: _Call, name: str, record_id: str) -> Answer:
    record = call.org._read_record(name, record_id)
    if record is None:
        return 404, NOT_FOUND, []
    wanted = parse_qs(call.exchange.query).get("fields")
    if wanted:
        names = {f.strip() for f in ",".join(wanted).split(",")}
        record = {k: v for k, v in record.items() if k in names}
    full_id = call.org._full_id(record_id)
    attributes = {"type": name, "url": f"{call.base}/sobjects/{name}/{full_id}"}
    return 200, {"attributes": attributes, "Id": full_id, **record}, []


def _cookie(call: _Call) -> Answer:
    cookies = {k: v[0] for k, v in parse_qs(call.exchange.query).items()}
    headers = [("Set-Cookie", f"{k}={v}; Path=/") for k, v in cookies.items()]
    return 200, {"cookies": cookies}, headers


def _redirect(call: _Call) -> Answer:
    params = parse_qs(call.exchange.query, keep_blank_values=True)
    if params.get("expire") == ["1"]:
        call.org.expire_tokens()
    status = int(params.get("status", ["302"])[0])
    return status, {"redirect": True}, [("Location", params["to"][0])]


_TEST_RESOURCES: dict[str, Callable[[_Call], Answer]] = {
    "test/redirect": _redirect,
    "test/cookie": _cookie,
}
_READ_ONLY: dict[str, Callable[[_Call], Answer]] = {
    "": _resource_list,
    "limits": _limits,
    "query": _query,
    "queryAll": _query,
    "sobjects": _describe_global,
    "chatter/users/me": _chatter_me,
}


def _echo(exchange: Exchange) -> dict[str, Any]:
    body = exchange.body
    return {
        "method": exchange.method,
        "path": exchange.path,
        "query": parse_qs(exchange.query, keep_blank_values=True),
        "headers": {k: v for k, v in exchange.headers.items() if k.lower() not in _HIDDEN_HEADERS},
        "body": body.decode("utf-8", "replace"),
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }


# -- the Bulk API 1.0 --------------------------------------------------------------------------

_BULK_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><error '
    b'xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
    b"<exceptionCode>%s</exceptionCode><exceptionMessage>%s</exceptionMessage></error>"
)


def answer_bulk(org: LocalOrg, exchange: Exchange) -> None:
    """Answer a request under ``/services/async/``: ``X-SFDC-Session`` must hold a live token
    (400 ``InvalidSessionId`` otherwise); ``job/ID`` answers 400 ``InvalidJob``, as for an
    unknown job, since the org keeps no jobs; ``test/redirect`` redirects; anything else
    echoes."""
    org._count("api_requests")
    if not org._use_token(exchange.headers.get("X-SFDC-Session")):
        org._count("rejected_requests")
        body = _BULK_ERROR % (b"InvalidSessionId", b"Invalid session id")
        exchange.send(400, body, "application/xml")
        return
    segments = exchange.path.split("/")  # "", "services", "async", version, resource, ...
    if exchange.path.endswith("/test/redirect"):
        status, payload, headers = _redirect(_Call(org, exchange, exchange.method, ""))
        exchange.send(status, payload, headers=headers)
    elif len(segments) > 5 and segments[4] == "job" and segments[5]:
        message = b"Unable to find object: " + segments[5].encode()
        exchange.send(400, _BULK_ERROR % (b"InvalidJob", message), "application/xml")
    else:
        exchange.send(200, _echo(exchange))
