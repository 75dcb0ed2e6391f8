"""The S3 client's DNS resolver, with the egress policy built in.

s3fs talks HTTP through aiobotocore and aiohttp; aiohttp asks this resolver for the
addresses of every host name it connects to (the endpoint, or AWS's bucket host names)
and connects only to what it returns, so the addresses checked are the addresses used.
aiohttp never asks about an IP literal: S3Transport checks those itself first.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from app.services import egress


class CheckingResolver(AbstractResolver):
    """Resolve with getaddrinfo, then refuse (EgressRefused) unless every address may be reached."""

    def __init__(self, networks: tuple[egress.IPNetwork, ...]) -> None:
        # Captured from the app: resolving runs in the S3 client's own thread, outside the app context.
        self._networks = networks

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await asyncio.to_thread(egress.resolve_all, host, port, what="S3", networks=self._networks)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None
