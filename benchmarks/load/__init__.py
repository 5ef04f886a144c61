"""The load harness: an open-loop gRPC load generator, the in-process compute floor, a naive
baseline and a sweep of offered rates, reported as JSON, Markdown and a PNG.

    bhytgate bench [--quick] [--out DIR]      (or: python -m benchmarks.load)

See docs/benchmarks.md for the method and the figures.
"""

from __future__ import annotations
