"""The light SDK's check-in runs against the same kind of deployment as the end-to-end tests: a real
gateway on loopback with mTLS (tests/gateway/conftest.py). Re-exported here, this session fixture
is this folder's own instance (pytest keys a fixture by the conftest that declares it), so these
tests start from an empty frame memory and fraud ledger whatever ran before them."""

from __future__ import annotations

from gateway.conftest import Deployment, deployment  # noqa: F401
