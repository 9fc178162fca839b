"""Records stored before names were normalised (by an older server, the original service or a
restore) stay readable and deletable over REST, while new names with look-alikes are refused."""

import unicodedata

import pytest
import requests
from rest_fixtures import assert_no_content

pytest_plugins = ["rest_fixtures"]

# Names no new record may have, as an older writer may have stored them.
STORED = [
    unicodedata.normalize("NFD", "café-{uid}"),  # decomposed: NFC differs
    "m1-{uid} ",  # trailing space
    "m1\u00a0{uid}",  # no-break space
    "\u202e{uid}",  # bidi override
]


@pytest.mark.parametrize("pattern", STORED, ids=["nfd", "trailing-space", "nbsp", "bidi"])
def test_a_stored_unnormalised_name_is_read_and_deleted_as_given(rest_server, uid, pattern):
    name = pattern.format(uid=uid)
    rest_server.db.models.insert_one({"model_name": name, "model_version": "1", "meta": None})
    refused = requests.post(rest_server("/model"), json={"model_name": name, "model_version": "2"})
    if unicodedata.normalize("NFC", name) == name:
        assert refused.status_code == 422, refused.text  # no new record under such a name

    meta = requests.get(
        rest_server("/model/meta"), params={"model_name": name, "model_version": "1"}
    )
    assert meta.status_code == 200, meta.text
    assert meta.json()["model_name"] == name

    assert_no_content(requests.delete(rest_server(f"/model/{requests.utils.quote(name)}/1")))
    assert rest_server.db.models.count_documents({"model_name": name}) == 0


def test_an_nfc_name_finds_the_record_whichever_form_is_sent(rest_server, uid):
    nfc = unicodedata.normalize("NFC", f"café-{uid}")
    created = requests.post(rest_server("/model"), json={"model_name": nfc, "model_version": "1"})
    assert created.status_code == 201, created.text
    nfd = unicodedata.normalize("NFD", nfc)
    meta = requests.get(
        rest_server("/model/meta"), params={"model_name": nfd, "model_version": "1"}
    )
    assert meta.status_code == 200, meta.text
    assert meta.json()["model_name"] == nfc
