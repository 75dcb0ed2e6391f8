"""`flask leads import FILE.csv --campaign ID`."""

import csv

import click
from flask.cli import AppGroup

from app.cli.users import fail
from app.errors import DomainError
from app.extensions import db
from app.models import Campaign
from app.services.intake import ingest_leads

group = AppGroup("leads", help="Import leads.")
BATCH = 1000


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--id-column", default="external_id", show_default=True, help="Column with the external id.")
@click.option("--status-column", default="status", show_default=True)
def import_leads(path: str, campaign_id: int, id_column: str, status_column: str) -> None:
    """Ingest a CSV of leads (one per row, other columns become fields), in batches of 1,000."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"no campaign with id {campaign_id}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        total = _count_lines(path) - 1
        reader = csv.DictReader(fh)
        missing = {id_column, status_column} - set(reader.fieldnames or [])
        if missing:
            raise click.ClickException(f"missing column(s): {', '.join(sorted(missing))}")
        totals = {"accepted": 0, "duplicates": 0, "queued": 0, "updated": 0}
        batch: list[dict] = []
        with click.progressbar(length=max(total, 0), label="Importing leads") as bar:
            for row in reader:
                batch.append(
                    {
                        "externalId": row.pop(id_column),
                        "status": row.pop(status_column),
                        "fields": {k: v for k, v in row.items() if k is not None},
                    }
                )
                if len(batch) == BATCH:
                    _flush(campaign, batch, totals, bar)
            _flush(campaign, batch, totals, bar)
    click.echo(
        f"{totals['accepted']} leads stored, {totals['duplicates']} duplicates skipped, "
        f"{totals['queued']} queue entries created."
        + (f" {totals['updated']} known leads changed status." if totals["updated"] else "")
    )


def _count_lines(path: str) -> int:
    """Lines in the file, checking each is UTF-8 (a lone surrogate's bytes are not) before any import."""
    lines = 0
    with open(path, "rb") as raw:
        for lines, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise click.ClickException(
                    f"{path}: line {lines} is not valid UTF-8 ({exc.reason}); nothing was imported"
                ) from None
    return lines


def _flush(campaign, batch, totals, bar) -> None:
    if not batch:
        return
    try:
        result = ingest_leads(campaign, batch)
    except DomainError as exc:
        fail(exc)
    for key, value in result.to_dict().items():
        totals[key] += value
    bar.update(len(batch))
    batch.clear()
