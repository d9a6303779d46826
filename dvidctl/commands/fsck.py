"""``dvidctl fsck``: check a repository's database without writing to it."""

from __future__ import annotations

import typer

from dvidctl.api.repository import fsck as check_repository
from dvidctl.commands import _output
from dvidctl.commands._options import JsonOpt, RepoOpt, repo_path
from dvidctl.errors import CorruptDataError


def fsck(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Check the database: RocksDB's checksums, the delta index, the DAG and metadata.

    Reads everything (open read-only; works beside 'dvidctl serve') and changes
    nothing. Lists each problem as KIND WHERE: MESSAGE and exits 2 if there is one.
    """
    report = check_repository(repo_path(repo))
    if json_:
        _output.emit_json(report.to_dict())
    else:
        for f in report.problems:
            _output.info(f"{f.kind}  {f.where}: {f.message}")
        for f in report.warnings:
            _output.info(f"warning: {f.kind}  {f.where}: {f.message}")
        for kind, n in sorted(report.omitted.items()):
            _output.info(f"... and {n} more {kind}")
        c = report.counts
        if "data_keys" in c:
            _output.info(
                f"checked {c.get('nodes', 0)} nodes, {c.get('instances', 0)} instances, "
                f"{c['data_keys']} stored values ({c['data_bytes'] / 1e6:.1f} MB), "
                f"{c.get('delta_keys', 0)} delta entries"
            )
    if not report.ok:
        n = len(report.problems) + sum(
            v for k, v in report.omitted.items() if any(p.kind == k for p in report.problems)
        )
        raise CorruptDataError(
            f"the repository database {report.path} is damaged: fsck found {n} problem(s)",
            hint="nothing was changed; restore .dvid from a copy of the repository",
        )
    if not json_:
        _output.info("ok" if not report.warnings else f"ok ({len(report.warnings)} warning(s))")


def register(app: typer.Typer) -> None:
    """Add ``fsck`` to the top-level app."""
    app.command("fsck")(fsck)
