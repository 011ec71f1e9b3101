"""OpenAPI links: the id a create answers with is the id its read, change and delete take.

Clients and stateful testers (schemathesis) follow them from one call to the next."""

from __future__ import annotations

from typing import Any

PREFIX = "/api/v1/partner"

#: (path, method, status) of the answer -> {link name: (target path, method, param, body path)}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str, str]]] = {
    ("/orders", "post", "201"): {
        "GetOrder": ("/orders/{order_id}", "get", "order_id", "/order/id"),
        "CancelOrder": ("/orders/{order_id}/cancel", "post", "order_id", "/order/id"),
    },
    ("/webhooks", "post", "201"): {
        name: (f"/webhooks/{{webhook_id}}{tail}", method, "webhook_id", "/webhook/id")
        for name, tail, method in [
            ("GetWebhook", "", "get"),
            ("UpdateWebhook", "", "put"),
            ("DeleteWebhook", "", "delete"),
            ("RotateSecret", "/rotate-secret", "post"),
            ("Reactivate", "/reactivate", "post"),
            ("Deliveries", "/deliveries", "get"),
        ]
    },
    ("/keys", "post", "201"): {
        "RevokeKey": ("/keys/{key_id}", "delete", "key_id", "/key/id"),
    },
}


def _pointer(path: str) -> str:
    return PREFIX.replace("/", "~1") + path.replace("/", "~1")


def add_links(spec: dict[str, Any]) -> dict[str, Any]:
    paths = spec.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths[PREFIX + path][method]["responses"].setdefault(
            status, {"description": "Created"}
        )
        response["links"] = {
            name: {
                "operationRef": f"#/paths/{_pointer(target)}/{target_method}",
                "parameters": {param: f"$response.body#{body_path}"},
            }
            for name, (target, target_method, param, body_path) in links.items()
        }
    return spec
