"""Re-exports `bhytgate_client.results` (the light SDK distribution holds the implementation)."""

from bhytgate_client.results import Challenge as Challenge
from bhytgate_client.results import Frame as Frame
from bhytgate_client.results import Operator as Operator
from bhytgate_client.results import VerificationResult as VerificationResult
from bhytgate_client.results import enum_name as enum_name
