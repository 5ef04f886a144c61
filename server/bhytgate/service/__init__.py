"""The gateway service: composes chip trust, the face pipeline, policy and storage behind gRPC.

- `gateway.py`: the decision flow (where a verification is decided), free of protobuf.
- `workers.py`: the face pipeline in a pool of spawned worker processes, with load shedding.
- `rpc.py`: what the servicers share: caller identity, input validation, failures to gRPC statuses.
- `*_servicer.py`, `counter_rpcs.py`: one servicer per gRPC service, translating between the wire
  and the gateway.
- `server.py`: the grpc.aio server with mTLS, health, reflection and metrics.
"""
