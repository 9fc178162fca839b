"""Subscriptions see services and inferencers change, written through another server."""

import requests
from live_client import subscriptions, wait_for_subscriptions
from pymongo import MongoClient
from rest_fixtures import running_server

pytest_plugins = ["rest_fixtures"]

EVENTS = """subscription ($entities: [Entity!]) {
  repositoryEvents(entities: $entities) { entity kind serviceId inferencerId transformationId }
}"""


def test_repository_events_cover_services_and_inferencers(
    sync_mongo: MongoClient, mongodb_url: str, tmp_path, uid
):
    with running_server(sync_mongo, mongodb_url, tmp_path) as first:
        same = {"FLREPO_DB_NAME": first.db.name, "FLREPO_GRID_DB_NAME": first.grid.name}
        with (
            running_server(sync_mongo, mongodb_url, tmp_path, env=same) as second,
            subscriptions(first.url) as ws,
        ):
            ws.subscribe("e", EVENTS, {"entities": ["SERVICE", "INFERENCER"]})
            wait_for_subscriptions(first.url, 1)
            body = {"id": uid, "description": "t"}
            for path in ("/transformation", "/service", "/inferencer"):  # the first: filtered
                response = requests.post(second(path), json=body, timeout=10)
                assert response.status_code == 201, response.text
            files = {"file": ("s.pkl", b"object", "application/octet-stream")}
            response = requests.put(second(f"/service/{uid}"), files=files, timeout=10)
            assert response.status_code == 204, response.text
            assert requests.delete(second(f"/inferencer/{uid}"), timeout=10).status_code == 204
            events = [
                ws.receive(timeout=5)["payload"]["data"]["repositoryEvents"] for _ in range(4)
            ]
    assert [(e["entity"], e["kind"]) for e in events] == [
        ("SERVICE", "CREATED"),
        ("INFERENCER", "CREATED"),
        ("SERVICE", "FILE_REPLACED"),
        ("INFERENCER", "DELETED"),
    ]
    assert [(e["serviceId"], e["inferencerId"]) for e in events] == [
        (uid, None),
        (None, uid),
        (uid, None),
        (None, uid),
    ]
    assert all(e["transformationId"] is None for e in events)
