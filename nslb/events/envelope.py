"""oslo.messaging's notification envelope, byte for byte what its Kafka driver sends, so
consumers written for Octavia's notifications (oslo.messaging listeners, Ceilometer,
plain JSON readers) read nslb's. Pure.

What oslo.messaging does for `notifier.info(ctxt, event_type, payload)` (notify/notifier.py,
_drivers/impl_kafka.py, _drivers/common.py):

    message = {"message_id": str(uuid4()), "publisher_id": ..., "event_type": ...,
               "priority": "INFO", "payload": payload, "timestamp": str(utcnow())}
    message["_context"] = context.to_dict()            # the Kafka driver's pack_message
    value = json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})

The timestamp is Python's str() of a naive UTC datetime ("2026-12-03 10:15:02.123456").
The context is oslo.context's RequestContext.to_dict() with the auth token redacted, for
a context that only knows the project, as Octavia's worker builds it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

OSLO_VERSION = "2.0"
PRIORITIES = ("AUDIT", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL", "SAMPLE")


def context(project_id: str | None, request_id: str | None = None) -> dict[str, Any]:
    """oslo.context's RequestContext(project_id=...).to_dict(), auth token redacted."""
    return {
        "user": None, "project_id": project_id, "system_scope": None,
        "project": project_id, "domain": None, "user_domain": None, "project_domain": None,
        "is_admin": False, "read_only": False, "show_deleted": False, "auth_token": None,
        "request_id": request_id or f"req-{uuid.uuid4()}", "global_request_id": None,
        "resource_uuid": None, "roles": [],
        "user_identity": f"- {project_id or '-'} - - -", "is_admin_project": True,
    }


@dataclass(frozen=True)
class Notification:
    """One notification as oslo.messaging's Notifier builds it."""

    event_type: str
    payload: dict[str, Any]
    project_id: str | None
    timestamp: datetime
    priority: str = "INFO"
    publisher_id: str | None = None
    message_id: str = ""

    def message(self) -> dict[str, Any]:
        """The inner message, keys in oslo.messaging's order."""
        if self.priority not in PRIORITIES:
            raise ValueError(f"not an oslo.messaging priority: {self.priority!r}")
        return {
            "message_id": self.message_id or str(uuid.uuid4()),
            "publisher_id": self.publisher_id,
            "event_type": self.event_type,
            "priority": self.priority,
            "payload": self.payload,
            "timestamp": str(self.timestamp.replace(tzinfo=None)),
            "_context": context(self.project_id),
        }


def serialize(message: dict[str, Any]) -> str:
    """The Kafka record value: the 2.0 envelope around the message as a JSON string."""
    return json.dumps({"oslo.version": OSLO_VERSION, "oslo.message": json.dumps(message)})


def deserialize(value: str | bytes) -> dict[str, Any]:
    """The message inside an envelope (what oslo.messaging's deserialize_msg returns)."""
    outer = json.loads(value)
    if not isinstance(outer, dict) or outer.get("oslo.version") != OSLO_VERSION:
        raise ValueError("not an oslo.messaging 2.0 envelope")
    inner = json.loads(outer["oslo.message"])
    if not isinstance(inner, dict):
        raise ValueError("the oslo.message is not an object")
    return inner
