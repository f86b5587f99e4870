"""Async client of the Flukso tmpo API (httpx), with retries and a local block cache.

One client serves many sensors at once: a single adaptive limit (``concurrency``) bounds
the requests in flight across all of them, growing up to ``concurrency_max`` while the API
keeps up and halving on 429/5xx/timeouts; HTTP/2 is used when the server offers it (ALPN
over TLS), so those requests share one connection. Every failure is raised by the call for *that* sensor only, so
``asyncio.gather(*(client.series(...) for ...), return_exceptions=True)`` syncs a fleet.
Tokens go in the ``X-Token`` header and nowhere else (never in logs or exceptions).
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from vde.errors import (
    FluksoAuthError,
    FluksoError,
    FluksoNotFoundError,
    FluksoTransportError,
    SettingsError,
)
from vde.flukso.blocks import BlockIssue, CorruptBlockError, decode_block, gunzip, is_final
from vde.flukso.cache import BlockCache, BlockRef
from vde.flukso.concurrency import AdaptiveLimit, Lanes
from vde.flukso.series import Series, assemble
from vde.logs import get_logger

log = get_logger(__name__)

MAX_LEVEL = 20
"""Highest tmpo level (blocks of 2^20 s are never compacted further)."""
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0
_SENSOR_ID = re.compile(r"[0-9a-fA-F]{32}")


class FluksoClient:
    """Client of the Flukso tmpo API. Use as ``async with FluksoClient(url) as client:``.

    Parameters
    ----------
    base_url : API root, e.g. ``https://api.flukso.net`` or a simulator's URL.
    concurrency : requests in flight at first, across all sensors.
    concurrency_max : the most requests in flight the adaptive limit may reach.
    http2 : offer HTTP/2 (ALPN over TLS; plain http:// stays HTTP/1.1).
    timeout : timeout of one request [s].
    retries : retries after a connection error, 429, 5xx or a truncated gzip body.
    ca_bundle : PEM file to trust (the Flukso CA is self-signed); None = system CAs.
    cache_path : SQLite block cache file; None = in memory (nothing kept between runs).
    transport : injected httpx transport (tests).
    backoff : first retry delay [s]; doubles per attempt, with jitter.
    """

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 16,
        concurrency_max: int | None = None,
        http2: bool = True,
        timeout: float = 30,
        retries: int = 5,
        ca_bundle: str | Path | None = None,
        cache_path: str | Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        most = max(concurrency, concurrency_max or concurrency)
        self.limiter = AdaptiveLimit(concurrency, most)
        # one context for every lane (each would load the CA file again: ~0.15 s)
        verify = httpx.create_ssl_context()
        if ca_bundle is not None:
            try:
                verify = ssl.create_default_context(cafile=str(ca_bundle))
            except (OSError, ssl.SSLError) as exc:
                raise SettingsError(
                    f"setting 'flukso_ca_bundle': cannot load CA bundle {ca_bundle}: {exc}"
                ) from exc
        self._http = Lanes(
            lambda n: httpx.AsyncClient(
                timeout=httpx.Timeout(timeout),
                verify=verify,
                transport=transport,
                http2=http2,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                headers={"X-Version": "1.0"},
            ),
            most,
        )
        #: responses per HTTP version ("HTTP/1.1", "HTTP/2")
        self.http_versions: Counter[str] = Counter()
        self.cache = BlockCache(cache_path if cache_path is not None else ":memory:")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> FluksoClient:
        """A client configured from ``vde.settings.Settings`` (overrides win)."""
        base_url = overrides.pop("base_url", None) or settings.flukso_api_url
        kwargs: dict[str, Any] = {
            "concurrency": settings.flukso_concurrency,
            "concurrency_max": settings.flukso_concurrency_max,
            "http2": settings.flukso_http2,
            "timeout": settings.flukso_timeout,
            "retries": settings.flukso_retries,
            "ca_bundle": settings.flukso_ca_bundle,
            "cache_path": settings.block_cache,
        }
        kwargs.update(overrides)
        return cls(base_url, **kwargs)

    async def __aenter__(self) -> FluksoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def max_in_flight(self) -> int:
        """The most requests this client may ever have in flight."""
        return self.limiter.maximum

    async def aclose(self) -> None:
        st = self.limiter.stats()
        log.info(
            "flukso_concurrency",
            limit=st.limit,
            peak=st.peak,
            decreases=st.decreases,
            http_versions=dict(self.http_versions),
        )
        await self._http.aclose()
        self.cache.close()

    # --- public API --------------------------------------------------------------------

    async def sync_blocks(
        self, sensor_id: str, token: str, *, full: bool = False
    ) -> list[BlockRef]:
        """Ask the server which blocks are new, record them; return every current block.

        The query names a block *before* the level-20 span holding the newest block we know,
        so any parent the meter compacted over our newest blocks is listed again (whatever
        "newer than" means on the server: by start, by end or by tuple order). ``full``
        asks for everything (rid=lvl=bid=0) and returns exactly what the server lists.
        """
        _check_sensor_id(sensor_id)
        last = None if full else self.cache.last_listed(sensor_id)
        query = _sync_query(last)
        body = await self._get(
            sensor_id,
            token,
            f"/sensor/{sensor_id}/tmpo/sync",
            params={"rid": query[0], "lvl": query[1], "bid": query[2]},
            accept="application/json",
            what="block list",
            check=orjson.loads,
        )
        refs = _parse_listing(sensor_id, body)
        self.cache.record_listing(sensor_id, refs)
        if full:
            return refs
        return [c.ref for c in self.cache.entries(sensor_id)]

    async def series(
        self,
        sensor_id: str,
        token: str,
        start: int | None = None,
        end: int | None = None,
        *,
        full: bool = False,
    ) -> Series:
        """Counter points of a sensor with ``start <= ts < end`` [UTC epoch s].

        Downloads only blocks the cache lacks. ``full`` lists every block the server holds
        (not only the newest): late uploads may add blocks to old spans. Raises
        FluksoAuthError / FluksoNotFoundError (no retry) or FluksoTransportError (after
        retries); defective blocks are reported in ``Series.issues``, never raised.
        """
        downloaded = 0
        for attempt in (0, 1):
            listed = await self.sync_blocks(sensor_id, token, full=full or attempt == 1)
            if attempt == 1:  # forget blocks the server no longer has (never downloaded)
                self.cache.prune_undownloaded(sensor_id, keep=set(listed))
            entries = self.cache.entries(sensor_id)
            wanted = [c.ref for c in entries if _overlaps(c.ref, start, end)]
            missing = [c.ref for c in entries if not c.downloaded and _overlaps(c.ref, start, end)]
            ok, failure = await self._download_all(sensor_id, token, missing)
            downloaded += ok
            if failure is None:
                break
            if not isinstance(failure, FluksoNotFoundError) or attempt == 1:
                raise failure
            # a listed block vanished (compacted meanwhile): list everything again once
            log.info("flukso_block_vanished", sensor_id=sensor_id)
        cached = max(0, len(wanted) - downloaded)
        return self._assemble(sensor_id, wanted, start, end, downloaded, cached)

    # --- internals ---------------------------------------------------------------------

    async def _download_all(
        self, sensor_id: str, token: str, refs: list[BlockRef]
    ) -> tuple[int, FluksoError | None]:
        """Download blocks concurrently; (how many succeeded, the failure to raise or None).

        Every download runs to its end (the good ones are cached). A final error (auth,
        transport) wins over a 404, which the caller may cure by listing again.
        """
        results = await asyncio.gather(
            *(self._download(sensor_id, token, r) for r in refs), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for exc in failures:
            if not isinstance(exc, FluksoError):
                raise exc  # a bug or a cancellation: not ours to interpret
        final = [e for e in failures if not isinstance(e, FluksoNotFoundError)]
        failure = (final or failures or [None])[0]
        return len(refs) - len(failures), failure

    async def _download(self, sensor_id: str, token: str, ref: BlockRef) -> None:
        path = f"/sensor/{sensor_id}/tmpo/{ref.rid}/{ref.lvl}/{ref.bid}"
        what = f"block rid={ref.rid} lvl={ref.lvl} bid={ref.bid}"
        data = await self._get(
            sensor_id, token, path, accept="application/gzip", what=what, check=gunzip
        )
        self.cache.store(sensor_id, ref, data)

    def _assemble(
        self,
        sensor_id: str,
        refs: list[BlockRef],
        start: int | None,
        end: int | None,
        downloaded: int,
        cached: int,
    ) -> Series:
        decoded = []
        final = []
        first_bid: dict[int, int] = {}  # rid -> bid of its first block (nothing before it)
        for c in self.cache.entries(sensor_id):
            first_bid[c.ref.rid] = min(first_bid.get(c.ref.rid, c.ref.bid), c.ref.bid)
        for ref in refs:
            data = self.cache.load(sensor_id, ref)
            if data is None:  # superseded by a parent stored by a concurrent call
                continue
            try:
                blk = decode_block(data, sensor_id=sensor_id, rid=ref.rid, lvl=ref.lvl, bid=ref.bid)
            except CorruptBlockError as exc:  # verified before caching: the file is damaged
                raise FluksoError(f"sensor {sensor_id}: cached {ref} is damaged: {exc}") from exc
            if blk.issue is not None:
                # the issue travels in Series.issues; callers report it (no double lines)
                log.debug("flukso_block_issue", **_issue_fields(blk.issue))
            if is_final(blk, ref.lvl, ref.bid, first=first_bid.get(ref.rid) == ref.bid):
                final.append(ref)
            decoded.append((ref.rid, blk))
        self.cache.mark_final(sensor_id, final)
        return assemble(sensor_id, decoded, start, end, downloaded, cached)

    async def _get(
        self,
        sensor_id: str,
        token: str,
        path: str,
        *,
        accept: str,
        what: str,
        params: dict[str, int] | None = None,
        check: Callable[[bytes], object],
    ) -> bytes:
        """GET with retries; returns the body once ``check`` accepts it.

        ``check`` raises ValueError for a body damaged in transit (truncated gzip, cut
        JSON): that is retried like a dropped connection.
        """
        headers = {"X-Token": token, "Accept": accept}
        url = self.base_url + path
        last_error = ""
        for attempt in range(self.retries + 1):
            retry_after: float | None = None
            try:
                async with self.limiter.slot() as slot:
                    try:
                        resp = await self._http.get(url, params=params, headers=headers)
                    except httpx.RequestError:
                        slot.congested()
                        raise
                    if resp.status_code == 429 or resp.status_code >= 500:
                        slot.congested()
                self.http_versions[resp.http_version] += 1
            except httpx.RequestError as exc:  # connect/read errors, timeouts, bad encodings
                if _untrusted_certificate(exc):  # not transient: retrying cannot help
                    raise FluksoTransportError(
                        f"sensor {sensor_id}: the Flukso API's TLS certificate is not trusted "
                        f"({exc}); set flukso_ca_bundle to the Flukso CA",
                        sensor_id=sensor_id,
                    ) from exc
                last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        check(resp.content)
                        return resp.content
                    except ValueError as exc:  # damaged in transit: retry
                        last_error = f"damaged body: {exc}"
                elif status in (401, 403):
                    raise FluksoAuthError(
                        f"sensor {sensor_id}: the Flukso API refused its token (HTTP {status})",
                        sensor_id=sensor_id,
                    )
                elif status == 404:
                    raise FluksoNotFoundError(
                        f"sensor {sensor_id}: not found on the Flukso API ({what}, HTTP 404)",
                        sensor_id=sensor_id,
                    )
                elif status == 429 or status >= 500:
                    last_error = f"HTTP {status}"
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                else:
                    raise FluksoError(
                        f"sensor {sensor_id}: unexpected HTTP {status} for {what}",
                        sensor_id=sensor_id,
                    )
            if attempt == self.retries:
                break
            delay = self._delay(attempt, retry_after)
            log.info(
                "flukso_retry",
                sensor_id=sensor_id,
                what=what,
                attempt=attempt + 1,
                error=last_error,
                delay_s=round(delay, 3),
            )
            await asyncio.sleep(delay)  # outside the limit: a backing-off call holds no slot
        raise FluksoTransportError(
            f"sensor {sensor_id}: {what} failed after {self.retries + 1} attempts ({last_error})",
            sensor_id=sensor_id,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_S)
        base = min(self.backoff * (2**attempt), MAX_BACKOFF_S)
        return base * (0.5 + random.random() / 2)  # jitter: spread retries of many sensors


def _sync_query(last: BlockRef | None) -> tuple[int, int, int]:
    """(rid, lvl, bid) naming a block just before the level-20 span of ``last``."""
    if last is None:
        return 0, 0, 0
    span_start = last.bid - last.bid % (1 << MAX_LEVEL)
    if span_start < 256:
        return last.rid, 0, 0
    return last.rid, 8, span_start - 256


def _parse_listing(sensor_id: str, body: bytes) -> list[BlockRef]:
    try:
        items = orjson.loads(body)
        refs = [
            BlockRef(int(i["rid"]), int(i["lvl"]), int(i["bid"]), str(i.get("ext", "gz")))
            for i in items
        ]
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
        raise FluksoTransportError(
            f"sensor {sensor_id}: the block list is not a list of blocks ({exc})",
            sensor_id=sensor_id,
        ) from exc
    bad = [r for r in refs if r.ext != "gz" or not 0 <= r.lvl <= 31 or r.bid % (1 << r.lvl)]
    if bad:
        raise FluksoError(
            f"sensor {sensor_id}: unsupported blocks listed: {bad[:3]}", sensor_id=sensor_id
        )
    return refs


def _overlaps(ref: BlockRef, start: int | None, end: int | None) -> bool:
    return (start is None or ref.end > start) and (end is None or ref.bid < end)


def _check_sensor_id(sensor_id: str) -> None:
    # it goes into URL paths: anything but 32 hex characters is refused before any request
    if not _SENSOR_ID.fullmatch(sensor_id):
        raise FluksoError(f"not a Flukso sensor id (32 hex characters): {sensor_id!r}")


def _untrusted_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _issue_fields(issue: BlockIssue) -> dict[str, Any]:
    return {
        "sensor_id": issue.sensor_id,
        "rid": issue.rid,
        "lvl": issue.lvl,
        "bid": issue.bid,
        "kinds": ",".join(issue.kinds),
        "action": issue.action,
        "detail": issue.detail,
    }
