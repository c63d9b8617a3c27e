"""The one issuer of bearer secrets (cad.domain.tokens)."""

import hashlib

from cad.domain.tokens import API_PREFIX, DEVICE_PREFIX, IssuedToken, hash_token, new_token


def test_a_token_carries_its_prefix_and_is_new_each_time() -> None:
    tokens = {new_token(DEVICE_PREFIX) for _ in range(50)}
    assert len(tokens) == 50
    assert all(t.startswith("dev_") and len(t) >= 4 + 32 for t in tokens)


def test_only_the_sha256_of_a_token_is_kept() -> None:
    issued = IssuedToken.new(API_PREFIX)
    assert issued.secret.startswith("wr_")
    assert issued.hash == hash_token(issued.secret) == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in issued.hash and len(issued.hash) == 64
