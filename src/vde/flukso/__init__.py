"""Client of the Flukso tmpo protocol: block codec, local block cache, async HTTP client.

Typical use (the sync pipeline fetches many sensors at once; failures are per sensor)::

    async with FluksoClient(url, cache_path="vde-blocks.sqlite") as client:
        results = await asyncio.gather(
            *(client.series(s.sensor_id, s.token, start, end) for s in sensors),
            return_exceptions=True,
        )
"""

from vde.flukso.blocks import (
    BlockIssue,
    CorruptBlockError,
    DecodedBlock,
    block_document,
    decode_block,
    decode_document,
    encode_block,
    encode_document,
)
from vde.flukso.cache import BlockCache, BlockRef
from vde.flukso.client import FluksoClient
from vde.flukso.series import Series, assemble

__all__ = [
    "BlockCache",
    "BlockIssue",
    "BlockRef",
    "CorruptBlockError",
    "DecodedBlock",
    "FluksoClient",
    "Series",
    "assemble",
    "block_document",
    "decode_block",
    "decode_document",
    "encode_block",
    "encode_document",
]
