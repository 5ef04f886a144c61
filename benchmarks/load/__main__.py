"""python -m benchmarks.load [--quick] [--out DIR]: the same as `bhytgate bench`."""

from __future__ import annotations

from bhytgate_clients.cli.bench import bench

if __name__ == "__main__":
    bench()
