"""The API's OpenAPI 3.1 document (its schemas are JSON Schema 2020-12; the tests validate real
answers against them)."""

from __future__ import annotations

from harness.publish.model import OfferStatus, RequestStatus, StepStatus
from harness.publish.status import JsonValue

_STRING_OR_NULL: dict[str, JsonValue] = {"type": ["string", "null"]}

_MESSAGE: dict[str, JsonValue] = {
    "type": "object",
    "required": ["messageHtml", "level", "timestamp"],
    "properties": {
        "messageHtml": {"type": "string", "description": "HTML-escaped text"},
        "level": {"enum": ["information", "warning", "error"]},
        "timestamp": _STRING_OR_NULL,
    },
}
_STEP: dict[str, JsonValue] = {
    "type": "object",
    "required": [
        "id",
        "stepName",
        "description",
        "estimatedTimeFrame",
        "status",
        "messages",
        "progressPercentage",
    ],
    "properties": {
        "id": {
            "enum": [
                "displaydummycertify",
                "displaycertify",
                "displayprovision",
                "displaypackage",
                "preview",
                "publisher-signoff",
                "live",
            ]
        },
        "stepName": {"type": "string"},
        "description": {"type": "string"},
        "estimatedTimeFrame": {"type": "string"},
        "status": {"enum": [s.value for s in StepStatus]},
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
        "progressPercentage": {"type": "integer", "minimum": 0, "maximum": 100},
        "startedAt": _STRING_OR_NULL,
        "finishedAt": _STRING_OR_NULL,
    },
}
_LINK: dict[str, JsonValue] = {
    "type": "object",
    "required": ["displayText", "uri"],
    "properties": {"displayText": {"type": "string"}, "uri": {"type": "string"}},
}
_STATUS: dict[str, JsonValue] = {
    "type": "object",
    "required": ["status", "messages", "steps", "previewLinks", "liveLinks", "notificationEmails"],
    "properties": {
        "status": {"enum": [*(s.value for s in RequestStatus), OfferStatus.NEVER_PUBLISHED.value]},
        "offerStatus": {"enum": [s.value for s in OfferStatus]},
        "offerId": {"type": "string"},
        "requestNumber": {"type": "integer"},
        "currentStep": _STRING_OR_NULL,
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
        "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
        "previewLinks": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
        "liveLinks": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
        "notificationEmails": {"type": "string", "description": "comma-separated"},
    },
}
_OPERATION: dict[str, JsonValue] = {
    "allOf": [
        {"$ref": "#/components/schemas/Status"},
        {
            "type": "object",
            "required": [
                "id",
                "submissionType",
                "createdDateTime",
                "lastActionDateTime",
                "error",
                "cancellationRequestState",
            ],
            "properties": {
                "id": {"type": "string", "description": "{offer}${request}${kind}"},
                "submissionType": {"enum": ["publish", "golive", "cancel"]},
                "createdDateTime": {"type": "string"},
                "lastActionDateTime": {"type": "string"},
                "error": _STRING_OR_NULL,
                "cancellationRequestState": {"enum": ["canCancel", "cannotCancel"]},
            },
        },
    ]
}
_OFFER: dict[str, JsonValue] = {
    "type": "object",
    "required": ["id", "name", "offerStatus", "currentStep", "lastModified"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "publisherId": {"type": "string"},
        "offerTypeId": {"const": "microsoft-azure-virtualmachines"},
        "offerStatus": {"enum": [s.value for s in OfferStatus]},
        "currentStep": _STRING_OR_NULL,
        "estimatedTimeFrame": {"type": "string"},
        "requestNumber": {"type": ["integer", "null"]},
        "lastModified": {"type": "string"},
    },
}
_ERROR: dict[str, JsonValue] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_SELFTEST_BODY: dict[str, JsonValue] = {
    "type": "object",
    "description": "Microsoft's self-test request; field names in any case, User or UserName, "
    "AppId or AppID, PortNo as text or number.",
    "required": ["DNSName", "Password"],
    "properties": {
        "DNSName": {"type": "string"},
        "UserName": {"type": "string"},
        "User": {"type": "string"},
        "Password": {"type": "string"},
        "OS": {"type": "string", "description": "Linux (Windows is refused)"},
        "PortNo": {"type": ["string", "integer"]},
        "CompanyName": {"type": "string"},
        "AppId": {"type": "string"},
        "TenantId": {"type": "string"},
    },
}
_SELFTEST_ENVELOPE: dict[str, JsonValue] = {
    "type": "object",
    "required": ["TrackingId", "Response"],
    "properties": {
        "TrackingId": {"type": "string"},
        "Response": {"type": "string", "description": "the self-test result, as a JSON string"},
    },
}
_PUBLISH_BODY: dict[str, JsonValue] = {
    "type": "object",
    "properties": {
        "metadata": {
            "type": "object",
            "properties": {
                "notification-emails": {"type": "string", "description": "comma-separated"}
            },
        },
        "offerFile": {
            "type": "string",
            "description": "vmcert: absolute path, on the server's host, of the offer file to "
            "publish from (its offer.id must be the path's); default: the file the offer was "
            "last published from",
        },
    },
}


_EVENT: dict[str, JsonValue] = {
    "type": "object",
    "required": ["what", "who", "when", "request", "stage", "detail"],
    "properties": {
        "what": {"type": "string", "description": "the event, worded as Partner Center's"},
        "who": {"type": "string", "description": "a user, a token's name, or system"},
        "when": {"type": "string", "description": "ISO 8601, UTC"},
        "request": {"type": ["integer", "null"]},
        "stage": _STRING_OR_NULL,
        "detail": {"type": "string"},
    },
}
_MAIL: dict[str, JsonValue] = {
    "type": "object",
    "required": ["id", "offer", "to", "subject", "sent", "via", "error"],
    "properties": {
        "id": {"type": "integer"},
        "offer": {"type": "string"},
        "to": {"type": "array", "items": {"type": "string"}},
        "subject": {"type": "string"},
        "sent": {"type": ["string", "null"], "description": "ISO 8601; null while queued"},
        "via": {"type": "string", "description": "smtp or outbox; empty while queued"},
        "error": {"type": "string", "description": "the last delivery error, if any"},
    },
}
_CATALOG_ENTRY: dict[str, JsonValue] = {
    "type": "object",
    "required": ["id", "name", "publisherId", "availability"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "publisherId": {"type": "string"},
        "availability": {"enum": ["live", "preview"]},
    },
}
_SUPPORT_BODY: dict[str, JsonValue] = {
    "type": "object",
    "properties": {"message": {"type": "string", "description": "what the problem is"}},
}
_SUPPORT_ANSWER: dict[str, JsonValue] = {
    "type": "object",
    "required": ["supportRequest", "offerId", "bundle"],
    "properties": {
        "supportRequest": {"type": "integer"},
        "offerId": {"type": "string"},
        "bundle": {"type": "string", "description": "the support bundle's path on the server"},
    },
}


def _list(ref: str) -> dict[str, JsonValue]:
    return {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}
        },
    }


def _json(ref: str) -> dict[str, JsonValue]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _answer(description: str, ref: str = "Error", **headers: str) -> dict[str, JsonValue]:
    answer: dict[str, JsonValue] = {"description": description, "content": _json(ref)}
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


_ERRORS: dict[str, JsonValue] = {
    "400": _answer("Bad request, or an api-version other than 2017-10-31"),
    "401": _answer("No valid bearer token"),
    "404": _answer("Unknown offer or operation"),
    "413": _answer("Request body too large"),
    "429": _answer("Rate limit exceeded (see Retry-After)"),
}
_OFFER_ID: JsonValue = {
    "name": "offer_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_API_VERSION: JsonValue = {
    "name": "api-version",
    "in": "query",
    "required": False,
    "schema": {"const": "2017-10-31"},
}
_OPERATION_LOCATION = "Where to poll the operation (GET)"


def _action(summary: str, ok: str, body: bool) -> dict[str, JsonValue]:
    operation: dict[str, JsonValue] = {
        "summary": summary,
        "parameters": [_OFFER_ID, _API_VERSION],
        "responses": {
            ok: _answer(
                "Accepted; poll Operation-Location" if ok == "202" else "Done",
                "Operation",
                **{"Operation-Location": _OPERATION_LOCATION},
            ),
            "409": _answer(
                "Refused by the pipeline's rules (one running request per offer, "
                "Go live only at sign-off, the cancel window)"
            ),
            **_ERRORS,
        },
    }
    if body:
        operation["requestBody"] = {"required": False, "content": _json("PublishBody")}
    return operation


def openapi_document() -> dict[str, JsonValue]:
    """The OpenAPI document of the API (served at ``/api/openapi.json``)."""
    publish = _action("Publish: start a new request at Validate prerequisites", "202", True)
    responses = publish["responses"]
    assert isinstance(responses, dict)
    responses["422"] = _answer("The offer file cannot be read (moved, not TOML, too large)")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vmcert publishing API",
            "version": "2017-10-31",
            "description": "The Cloud Partner Portal's offer status resource and publish, "
            "go-live and cancel operations, served by `vmcert serve`.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Message": _MESSAGE,
                "Step": _STEP,
                "Link": _LINK,
                "Status": _STATUS,
                "Operation": _OPERATION,
                "Offer": _OFFER,
                "Error": _ERROR,
                "PublishBody": _PUBLISH_BODY,
                "SelftestRequest": _SELFTEST_BODY,
                "SelftestEnvelope": _SELFTEST_ENVELOPE,
                "OfferList": _list("Offer"),
                "Event": _EVENT,
                "EventList": _list("Event"),
                "Mail": _MAIL,
                "Outbox": {
                    **_list("Mail"),
                    "required": ["value", "outboxDirectory"],
                    "properties": {
                        "value": {"type": "array", "items": {"$ref": "#/components/schemas/Mail"}},
                        "outboxDirectory": {
                            "type": ["string", "null"],
                            "description": "the server's outbox directory; null with SMTP",
                        },
                    },
                },
                "CatalogEntry": _CATALOG_ENTRY,
                "Catalog": _list("CatalogEntry"),
                "SupportBody": _SUPPORT_BODY,
                "SupportRequest": _SUPPORT_ANSWER,
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/offers": {
                "get": {
                    "summary": "All offers with their status and current stage",
                    "parameters": [_API_VERSION],
                    "responses": {"200": _answer("The offers", "OfferList"), **_ERRORS},
                }
            },
            "/api/offers/{offer_id}/status": {
                "get": {
                    "summary": "The offer's status resource (its newest publish request)",
                    "parameters": [_OFFER_ID, _API_VERSION],
                    "responses": {"200": _answer("The status resource", "Status"), **_ERRORS},
                }
            },
            "/api/offers/{offer_id}/publish": {"post": publish},
            "/api/offers/{offer_id}/golive": {
                "post": _action("Go live (only at Publisher signoff)", "202", False)
            },
            "/api/offers/{offer_id}/cancel": {
                "post": _action("Cancel publish (only where the cancel window allows)", "200", True)
            },
            "/api/offers/{offer_id}/history": {
                "get": {
                    "summary": "The offer's history: every event, oldest first",
                    "parameters": [_OFFER_ID, _API_VERSION],
                    "responses": {"200": _answer("The events", "EventList"), **_ERRORS},
                }
            },
            "/api/offers/{offer_id}/support": {
                "post": {
                    "summary": "Open a support request: the masked support bundle, recorded "
                    "and e-mailed",
                    "parameters": [_OFFER_ID, _API_VERSION],
                    "requestBody": {"required": False, "content": _json("SupportBody")},
                    "responses": {
                        "201": _answer("The support request", "SupportRequest"),
                        **_ERRORS,
                    },
                }
            },
            "/api/catalog": {
                "get": {
                    "summary": "What a catalog query sees: live offers, and offers in preview "
                    "for the subscription",
                    "parameters": [
                        {
                            "name": "subscription",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        _API_VERSION,
                    ],
                    "responses": {"200": _answer("The visible offers", "Catalog"), **_ERRORS},
                }
            },
            "/api/outbox": {
                "get": {
                    "summary": "The notifications the pipeline sent or queued",
                    "parameters": [_API_VERSION],
                    "responses": {"200": _answer("The notifications", "Outbox"), **_ERRORS},
                }
            },
            "/selftest-vm": {
                "post": {
                    "summary": "Run vmcert's checks on a VM over SSH (Microsoft's self-test API)",
                    "requestBody": {"required": True, "content": _json("SelftestRequest")},
                    "responses": {
                        "200": _answer("The self-test result", "SelftestEnvelope"),
                        "502": _answer("The VM could not be reached or logged in to"),
                        **_ERRORS,
                    },
                }
            },
            "/api/operations/{operation_id}": {
                "get": {
                    "summary": "An operation: the request's status with the operation's fields",
                    "parameters": [
                        {
                            "name": "operation_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        _API_VERSION,
                    ],
                    "responses": {"200": _answer("The operation", "Operation"), **_ERRORS},
                }
            },
        },
    }
