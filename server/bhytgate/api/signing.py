"""The byte string a terminal's device key signs over a capture (see TerminalSignature in the proto).

Part of the wire contract, defined once in the client distribution (`bhytgate_client.signing`, no
dependencies) so that terminals and the gateway compute the same bytes; re-exported here, where the
gateway's code has always found it. `bhytgate.face.liveness` verifies signatures over it.
"""

from __future__ import annotations

from bhytgate_client.signing import frames_signing_payload as frames_signing_payload
