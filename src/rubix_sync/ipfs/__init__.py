"""IPFS layer: CIDs, UnixFS, kubo's flatfs store, and the fetchers (blockstore, rpc, cli).

Typical use, one node at a time::

    choice = select_fetcher(node.ipfs_repo)          # blockstore, else rpc, else cli
    results = choice.fetcher.fetch_many(token_ids)   # one FetchResult per CID, in order
    choice.fetcher.close()
"""

from rubix_sync.ipfs.base import Fetcher, UnavailableFetcher, content_matches
from rubix_sync.ipfs.blockstore import BlockstoreFetcher
from rubix_sync.ipfs.cid import Cid, cid_for_block, cid_v0_for_bytes, flatfs_key, parse_cid
from rubix_sync.ipfs.cli import CliFetcher
from rubix_sync.ipfs.flatfs import FlatfsWriter
from rubix_sync.ipfs.rpc import RpcFetcher
from rubix_sync.ipfs.select import MODES, FetcherChoice, select_fetcher
from rubix_sync.ipfs.unixfs import decode_file, encode_file

__all__ = [
    "MODES",
    "BlockstoreFetcher",
    "Cid",
    "CliFetcher",
    "Fetcher",
    "FetcherChoice",
    "FlatfsWriter",
    "RpcFetcher",
    "UnavailableFetcher",
    "cid_for_block",
    "cid_v0_for_bytes",
    "content_matches",
    "decode_file",
    "encode_file",
    "flatfs_key",
    "parse_cid",
    "select_fetcher",
]
