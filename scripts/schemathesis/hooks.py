"""Schemathesis hooks for VeilGram's contract run (scripts/contract).

Every operation that needs a caller gets a real access token of one anonymous account signed
up through the API itself, so what a step creates the next steps may use (stateful links).
Runs log out, deactivate or delete the caller (those are operations under test too), so a 401
signs up a new account and replays the request once.
"""

import json
import re
import uuid
import os
import urllib.request

import schemathesis

BASE = os.environ["VEILGRAM_CONTRACT_BASE"]


def sign_up() -> str:
    request = urllib.request.Request(
        BASE + "/api/v1/auth/signup",
        data=b"{}",
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


@schemathesis.auth(retry_on=[401])
class FreshAccount:
    def get(self, case, ctx):
        return sign_up()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# Formats the document names beyond JSON Schema's own, as the server checks them (the
# descriptions in the document say the same): a client that knows them makes valid values.
from hypothesis import strategies as st  # noqa: E402

# Nicknames: letters, digits, `_`, `.`; digits after a prefix never spell a refused word.
schemathesis.openapi.format("nickname", st.from_regex(r"\An_[0-9]{6,20}\Z"))
# Hashtags (a path segment): letters, digits or `_`.
schemathesis.openapi.format("hashtag", st.from_regex(r"\A[a-z0-9_]{1,30}\Z"))
# Idempotency keys: one per request (reused with another body, a key is a 422 by design).
schemathesis.openapi.format("idempotency-key", st.uuids().map(str))
# Poll options: 1 to 80 characters.
schemathesis.openapi.format("poll-option", st.from_regex(r"\Aoption [0-9]{1,8}\Z"))
# Web Push endpoints: https on a public host name.
schemathesis.openapi.format(
    "webpush-endpoint",
    st.from_regex(r"\Ahttps://push\.example\.com/[A-Za-z0-9_-]{1,64}\Z"),
)
# An upload: the smallest PNG (1x1, no metadata), the one format every build decodes.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944"
    "4154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082"
)
schemathesis.openapi.format("media-file", st.just(PNG))


@schemathesis.hook
def filter_query(ctx, query):
    """Cursors are opaque and signed by the server: one a client makes up is a 400 by design
    (the fuzz target `cursor` and the gateway tests check forged, foreign and expired ones),
    so generated requests page from the start."""
    return not query or "cursor" not in query


VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """A client makes a new Idempotency-Key for each new request: a valid key the generator
    repeats across different bodies gets a unique suffix (invalid keys stay as generated)."""
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4()}"
