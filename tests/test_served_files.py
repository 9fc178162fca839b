"""Served files cannot act as pages: inert content types, nosniff, and a sandboxing CSP."""

import pytest
from helpers import FILE_FIELDS

CREATE = 'mutation { createStrategy(input: {strategyName: "s"}) { strategyName } }'
UPLOAD = (
    'mutation($file: Upload!) { uploadStrategyFile(strategyName: "s", file: $file) '
    f"{{ file {{ {FILE_FIELDS} }} }} }}"
)


@pytest.mark.parametrize(
    ("sent", "served"),
    [
        ("text/html", "application/octet-stream"),
        ("text/html; charset=utf-8", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/pdf", "application/octet-stream"),
        ("multipart/related", "application/octet-stream"),
        ("not a type", "application/octet-stream"),
        ("application/zip", "application/zip"),
        ("application/x-hdf5", "application/x-hdf5"),
        ("text/plain", "text/plain"),
    ],
)
async def test_active_types_are_served_as_bytes_with_safety_headers(gql, client, sent, served):
    await gql.data(CREATE)
    uploaded = await gql.upload_data(UPLOAD, {}, b"<script>alert(1)</script>", content_type=sent)
    file = uploaded["uploadStrategyFile"]["file"]
    assert file["contentType"] == sent  # recorded as sent; only the download is made safe
    for url in (file["downloadUrl"], "/strategy/s"):
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"<script>alert(1)</script>"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["content-disposition"].startswith("attachment;")
    served_type = (await client.get(file["downloadUrl"])).headers["content-type"]
    assert served_type.split(";")[0] == served
