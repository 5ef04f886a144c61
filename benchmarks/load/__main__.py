"""python -m benchmarks.load [--quick] [--out DIR]: the same as `bhytgate bench`.

python -m benchmarks.load soak [--minutes 30] [...]: the soak (`benchmarks.load.soak`)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["soak"]:
        from benchmarks.load.soak_cli import main

        main(sys.argv[2:])
    else:
        from bhytgate_clients.cli.bench import bench

        bench()
