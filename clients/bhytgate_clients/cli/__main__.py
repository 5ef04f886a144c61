"""`python -m bhytgate_clients.cli`: the `bhytgate` command (used to start replicas as processes)."""

from bhytgate_clients.cli import main

main()
