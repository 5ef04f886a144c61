"""GatewayClient's ReviewService calls: the review queue, and a terminal waiting on its case. A
mixin of `client.GatewayClient` (its stub `review` and `_call`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_client.v1 import gateway_pb2_grpc as pb_grpc


class ReviewCalls:
    review: pb_grpc.ReviewServiceStub

    if TYPE_CHECKING:

        def _call(self, method: Callable[..., object], request: object) -> object: ...

    def list_review_cases(self, page_size: int = 0) -> list[pb.ReviewCase]:
        """Open cases of this reviewer's facility (or province); needs the reviewer role."""
        response = self._call(self.review.ListReviewCases, pb.ListReviewCasesRequest(page_size=page_size))
        assert isinstance(response, pb.ListReviewCasesResponse)
        return list(response.cases)

    def resolve_review_case(
        self, verification_id: str, *, accept: bool, reason: str
    ) -> pb.ResolveReviewCaseResponse:
        state = pb.REVIEW_STATE_ACCEPTED if accept else pb.REVIEW_STATE_REJECTED
        request = pb.ResolveReviewCaseRequest(
            verification_id=verification_id, resolution=state, reason=reason
        )
        response = self._call(self.review.ResolveReviewCase, request)
        assert isinstance(response, pb.ResolveReviewCaseResponse)
        return response

    def get_review_case(self, verification_id: str) -> pb.GetReviewCaseResponse:
        """The case of a REVIEW decision: the waiting terminal polls this until it is resolved."""
        response = self._call(
            self.review.GetReviewCase, pb.GetReviewCaseRequest(verification_id=verification_id)
        )
        assert isinstance(response, pb.GetReviewCaseResponse)
        return response

    def wait_for_review(
        self, verification_id: str, *, timeout_s: float, poll_s: float = 2.0
    ) -> pb.GetReviewCaseResponse:
        """Poll the case until it leaves OPEN or `timeout_s` passes; returns the last answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.get_review_case(verification_id)
            if response.review_case.state != pb.REVIEW_STATE_OPEN or time.monotonic() >= deadline:
                return response
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
