"""A small, bounded HTTP/1.1 load generator: ``python -m benchmarks.loadgen URL``.

asyncio with raw keep-alive connections (one per concurrent client), so the client spends
microseconds per request and the server, not the generator, is what gets measured. Runs a
warm-up, then a fixed duration (or a fixed number of requests), and prints one JSON object
with requests/s and latency percentiles. It always terminates: every request has a timeout
and the whole run a deadline.

It runs in its own process (the harness starts it with ``subprocess``) so that it never
shares the server's GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    bytes: int = 0
    first_start: float = math.inf
    last_end: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection that sends the same request again and again."""

    def __init__(self, host: str, port: int, request: bytes, timeout: float) -> None:
        self.host, self.port, self.request, self.timeout = host, port, request, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def fetch(self) -> tuple[int, int]:
        """Send the request, read the whole response; returns (status, body length)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            return await asyncio.wait_for(self._roundtrip(), self.timeout)
        except BaseException:
            self.close()
            raise

    async def _roundtrip(self) -> tuple[int, int]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            size = 0
            while True:
                chunk = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if chunk == 0:
                    await self.reader.readuntil(b"\r\n")  # the empty trailer section
                    break
                await self.reader.readexactly(chunk + 2)
                size += chunk
        elif length is not None:
            await self.reader.readexactly(length)
            size = length
        else:
            size = len(await self.reader.read())
            close = True
        if close:
            self.close()
        return status, size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def build_request(url: str, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: keep-alive", "Accept: */*"]
    lines += headers
    return parts.hostname or "127.0.0.1", parts.port or 80, ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _client(conn: Connection, stats: Stats, phase: dict, budget: list[int]) -> None:
    while True:
        start = time.perf_counter()
        if start >= phase["stop"] or budget[0] == 0:
            break
        measured = start >= phase["measure"]
        if measured and budget[0] > 0:
            budget[0] -= 1
        try:
            status, size = await conn.fetch()
        except Exception as error:  # noqa: BLE001 - every failure is counted, none stops the run
            if measured:
                stats.errors[type(error).__name__] += 1
            await asyncio.sleep(0.01)
            continue
        end = time.perf_counter()
        if measured:
            stats.latencies.append(end - start)
            stats.statuses[status] += 1
            stats.bytes += size
            stats.first_start = min(stats.first_start, start)
            stats.last_end = max(stats.last_end, end)
    conn.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def run(
    url: str,
    *,
    headers: list[str],
    concurrency: int = 8,
    warmup: float = 2.0,
    seconds: float = 10.0,
    requests: int | None = None,
    timeout: float = 30.0,
    raw_latencies: bool = False,
) -> dict:
    host, port, request = build_request(url, headers)
    stats = Stats()
    now = time.perf_counter()
    # With a request budget the run still has a deadline, so a stalled server cannot hang it.
    duration = seconds if requests is None else max(seconds, 600.0)
    phase = {"measure": now + warmup, "stop": now + warmup + duration}
    budget = [requests if requests is not None else -1]
    conns = [Connection(host, port, request, timeout) for _ in range(concurrency)]
    await asyncio.wait_for(
        asyncio.gather(*(_client(c, stats, phase, budget) for c in conns)),
        timeout=warmup + duration + timeout + 5,
    )
    lat = sorted(stats.latencies)
    elapsed = max(stats.last_end - stats.first_start, 1e-9) if lat else 0.0
    ok = sum(n for status, n in stats.statuses.items() if 200 <= status < 300)
    result = {
        "url": url,
        "concurrency": concurrency,
        "warmup_s": warmup,
        "elapsed_s": round(elapsed, 3),
        "requests": len(lat),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": dict(stats.errors),
        "rps": round(len(lat) / elapsed, 1) if lat else 0.0,
        "mean_ms": round(1000 * sum(lat) / len(lat), 3) if lat else math.nan,
        "p50_ms": round(1000 * percentile(lat, 50), 3),
        "p95_ms": round(1000 * percentile(lat, 95), 3),
        "p99_ms": round(1000 * percentile(lat, 99), 3),
        "max_ms": round(1000 * lat[-1], 3) if lat else math.nan,
        "bytes_per_response": round(stats.bytes / len(lat)) if lat else 0,
    }
    if raw_latencies:
        result["latencies_ms"] = [round(1000 * x, 3) for x in stats.latencies]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up, not measured")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration")
    parser.add_argument("-n", "--requests", type=int, default=None, help="a fixed number instead")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request")
    parser.add_argument("--raw-latencies", action="store_true", help="include every latency (ms)")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(
        run(
            args.url,
            headers=args.header,
            concurrency=args.concurrency,
            warmup=args.warmup,
            seconds=args.seconds,
            requests=args.requests,
            timeout=args.timeout,
            raw_latencies=args.raw_latencies,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
