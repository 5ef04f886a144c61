"""The gateway service: composes chip trust, the face pipeline, policy and storage behind gRPC.

- `gateway.py`: the decision flow (where a verification is decided), free of protobuf.
- `workers.py`: the face pipeline in a pool of spawned worker processes, with load shedding.
- `servicer.py`: translation between the wire and the gateway, input validation, caller identity.
- `server.py`: the grpc.aio server with mTLS, health, reflection and metrics.
"""
