"""The `bhytgate` console script.

Sub-commands are imported lazily so that `bhytgate chip verify` does not pay for loading dlib
and `bhytgate checkin` does not import the server.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
_COMMANDS: dict[str, str] = {
    "chip": "bhytgate_clients.cli.chip:chip",
    "card": "bhytgate_clients.cli.card:card",
    "face": "bhytgate_clients.cli.face_fusion:face",  # face.py, eval-chip and eval-fusion
    "serve": "bhytgate_clients.cli.serve:serve",
    "cluster": "bhytgate_clients.cli.cluster:cluster",
    "checkin": "bhytgate_clients.cli.checkin:checkin",
    "replay": "bhytgate_clients.cli.checkin:replay",
    "counter": "bhytgate_clients.cli.counter:counter",
    "admin": "bhytgate_clients.cli.admin:admin",
    "review": "bhytgate_clients.cli.review:review",
    "claims": "bhytgate_clients.cli.claims:claims",
    "bench": "bhytgate_clients.cli.bench:bench",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="bhytgate")
def main() -> None:
    """BHYT verification gateway: chip, face and entitlement checks."""


if __name__ == "__main__":
    main()
