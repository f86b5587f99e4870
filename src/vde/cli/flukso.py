"""``vde flukso``: talk to the Flukso tmpo API directly (debugging, checking a sensor)."""

from __future__ import annotations

import asyncio
import sys

import click

from vde.cli.common import settings_from


@click.group()
def flukso() -> None:
    """Fetch data straight from the Flukso API (or the simulator)."""


@flukso.command()
@click.argument("sensor_id")
@click.option(
    "--token",
    envvar="VDE_FLUKSO_TOKEN",
    required=True,
    show_envvar=True,
    help="The sensor's token (prefer the environment variable: it stays out of the shell history).",
)
@click.option("--since", default=None, help="First instant (ISO date/time, epoch or e.g. 2d).")
@click.option(
    "--until", default=None, help="End instant, exclusive (ISO date/time, epoch or e.g. 1h)."
)
@click.option(
    "--api", default=None, metavar="URL", help="API base URL (default: setting flukso_api_url)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format on standard output.",
)
@click.option(
    "--cache",
    default=None,
    metavar="PATH",
    help="Block cache file to use and fill (default: none, everything is downloaded).",
)
def dump(
    sensor_id: str,
    token: str,
    since: str | None,
    until: str | None,
    api: str | None,
    fmt: str,
    cache: str | None,
) -> None:
    """Print SENSOR_ID's counter points: ts (UTC epoch s), counter_wh, rid.

    Defective blocks are reported on standard error; what was kept of them is printed.
    """
    from vde.flukso import FluksoClient
    from vde.timeutil import parse_instant

    start = _instant(since, "--since", parse_instant)
    end = _instant(until, "--until", parse_instant)
    settings = settings_from()
    sensor_id = sensor_id.strip().lower()

    async def fetch():
        overrides = {"base_url": api, "cache_path": cache}
        async with FluksoClient.from_settings(settings, **overrides) as client:
            return await client.series(sensor_id, token, start, end)

    series = asyncio.run(fetch())
    for issue in series.issues:
        click.echo(f"block issue: {issue}", err=True)
    out = sys.stdout
    if fmt == "csv":
        out.write("ts,counter_wh,rid\n")
        lines = (
            f"{t},{c!r},{r}\n"
            for t, c, r in zip(
                series.ts.tolist(), series.counter_wh.tolist(), series.rid.tolist(), strict=True
            )
        )
        out.writelines(lines)
    else:
        import orjson

        doc = {
            "sensor_id": sensor_id,
            "ts": series.ts,
            "counter_wh": series.counter_wh,
            "rid": series.rid,
            "issues": [str(i) for i in series.issues],
        }
        out.write(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    out.flush()
    click.echo(
        f"{len(series)} points, {series.blocks_downloaded} blocks downloaded, "
        f"{series.blocks_cached} from cache, {len(series.issues)} block issue(s)",
        err=True,
    )


def _instant(text: str | None, name: str, parse) -> int | None:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None
