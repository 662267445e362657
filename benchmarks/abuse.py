"""Bounded abuse of ``adain serve`` on 127.0.0.1: concurrent requests, idle and slow connections,
oversize and bomb uploads. Starts its own server, stops it at the end, prints the status codes,
latency percentiles, what happened to the held connections, the log size and the server's peak memory.

    python benchmarks/abuse.py                      # about a minute on 2 cores
    python benchmarks/abuse.py --requests 40 --concurrency 8 --idle 300 --nofile 256

Every count and wait is bounded (``--deadline`` seconds in all); nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HOST = "127.0.0.1"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "adain" / "examples"


# ---------------------------------------------------------------- payloads


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_zeros(w: int, h: int) -> bytes:
    """A valid black RGB PNG of w x h: a few KB however large."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * w)
    data = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png_claiming(w: int, h: int) -> bytes:
    """A corrupt PNG whose header claims w x h."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(bytes(64))) + _chunk(b"IEND", b"")


def ico_bomb(side: int) -> bytes:
    png = png_zeros(side, side)
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                  f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- client


def request(port: int, method: str, path: str, body: bytes = b"", content_type: str = "", timeout: float = 120) -> tuple[int, float]:
    """One HTTP/1.1 request on a fresh connection → (status or 0 on a connection error, seconds)."""
    started = time.perf_counter()
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            try:
                s.sendall(head.encode() + b"\r\n" + body)
            except OSError:  # the server answered early (413) and closed: its answer may still be readable
                pass
            data = b""
            while b"\r\n" not in data:
                part = s.recv(4096)
                if not part:
                    break
                data += part
        code = int(data.split()[1]) if data.startswith(b"HTTP/") else 0
    except OSError:
        code = 0
    return code, time.perf_counter() - started


def stylize(port: int, files: list[tuple[str, str, bytes]], **fields: str) -> tuple[int, float]:
    body, ctype = multipart({"size": "256", **fields}, files)
    return request(port, "POST", "/api/stylize", body, ctype)


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return f"p50 {pick(0.5):.2f} s, p90 {pick(0.9):.2f} s, p99 {pick(0.99):.2f} s, max {v[-1]:.2f} s"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- phases


def concurrent_requests(port: int, n: int, concurrency: int) -> None:
    content = (EXAMPLES / "content" / "city.jpg").read_bytes()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda i: stylize(port, [("content", "c.jpg", content)], style_name="hokusai"), range(n)))
    codes = Counter(code for code, _ in results)
    ok = [t for code, t in results if code == 200]
    print(f"| {n} stylize requests, {concurrency} at a time (256 px) | {dict(codes)} | 200s: {percentiles(ok)} |")


def held_connections(port: int, idle: int, slow: int, hold: float) -> None:
    sockets, refused = [], 0
    for _ in range(idle):
        try:
            sockets.append(socket.create_connection((HOST, port), timeout=5))
        except OSError:
            refused += 1
    trickle = []
    for _ in range(slow):
        try:
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(b"POST /api/stylize HTTP/1.1\r\nHost: x\r\n")
            trickle.append(s)
        except OSError:
            refused += 1
    during = [request(port, "GET", "/api/health", timeout=10) for _ in range(3)]
    deadline = time.time() + hold
    while time.time() < deadline:
        for s in trickle:
            try:
                s.sendall(b"X: y\r\n")
            except OSError:
                pass
        time.sleep(0.5)
    closed = 0
    for s in sockets + trickle:
        s.settimeout(0.2)
        try:
            closed += s.recv(1) == b""
        except OSError as exc:
            closed += not isinstance(exc, TimeoutError)
        s.close()
    after = request(port, "GET", "/api/health", timeout=10)
    print(f"| {idle} idle + {slow} slow-header connections held {hold:.0f} s | health during: {[c for c, _ in during]}, after: {after[0]} "
          f"| {closed} of {len(sockets) + len(trickle)} closed by the server, {refused} refused at connect |")


def uploads(port: int) -> None:
    city = (EXAMPLES / "content" / "city.jpg").read_bytes()
    cases = {
        "30 MiB body": lambda: request(port, "POST", "/api/stylize", b"0" * (30 * 2**20), "multipart/form-data; boundary=x"),
        "16x20000 PNG content, size 256": lambda: stylize(port, [("content", "c.png", png_zeros(16, 20000))], style_name="hokusai"),
        "16x200000 PNG content, size 1024": lambda: stylize(port, [("content", "c.png", png_zeros(16, 200000))], style_name="hokusai", size="1024"),
        "corrupt PNG style claiming 42544x32": lambda: stylize(port, [("content", "c.jpg", city), ("style", "s.png", png_claiming(42544, 32))]),
        "7000x7000 PNG content (140 KB)": lambda: stylize(port, [("content", "c.png", png_zeros(7000, 7000))], style_name="hokusai"),
        ".ico holding a 10000x10000 PNG": lambda: stylize(port, [("content", "c.ico", ico_bomb(10000))], style_name="hokusai"),
        "EPS": lambda: stylize(port, [("content", "c.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 32\nshowpage\n")], style_name="hokusai"),
    }
    for name, run in cases.items():
        code, seconds = run()
        print(f"| {name} | {code} | {seconds:.2f} s |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=24)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--idle", type=int, default=300, help="idle connections to open (more than --nofile)")
    p.add_argument("--slow", type=int, default=20, help="connections that trickle their headers")
    p.add_argument("--hold", type=float, default=15.0, help="seconds to hold them")
    p.add_argument("--nofile", type=int, default=256, help="the server's file-handle limit")
    p.add_argument("--max-memory-gb", type=float, default=12.0, help="the server's address-space limit, so a defect cannot take the machine")
    p.add_argument("--deadline", type=float, default=600.0, help="kill everything after this many seconds")
    args = p.parse_args()
    for name in ("requests", "concurrency", "idle", "slow", "nofile"):
        if not 0 <= getattr(args, name) <= 5000:
            p.error(f"--{name} must be in 0..5000")
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix="adain-abuse-", suffix=".log", delete=False)

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
        memory = int(args.max_memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    server = subprocess.Popen([sys.executable, "-m", "adain.cli", "serve", "--host", HOST, "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_files)
    watchdog = threading.Timer(args.deadline, server.kill)
    watchdog.start()
    try:
        started = time.time()
        while request(port, "GET", "/api/health", timeout=2)[0] != 200:
            if server.poll() is not None or time.time() - started > 120:
                raise SystemExit(f"the server did not start: see {log.name}")
            time.sleep(0.5)
        print(f"server pid {server.pid}, {args.nofile} file handles, up in {time.time() - started:.1f} s; CPU: {cpu_name()}\n")
        print("| case | status codes | result |\n|---|---|---|")
        concurrent_requests(port, args.requests, args.concurrency)
        held_connections(port, args.idle, args.slow, args.hold)
        uploads(port)
        concurrent_requests(port, args.requests // 2, args.concurrency)
        alive = server.poll() is None
        print(f"\nserver still up: {alive}; peak memory (VmHWM) {peak_rss_mb(server.pid):.0f} MB; "
              f"log {os.path.getsize(log.name) / 1024:.1f} KB ({log.name})")
    finally:
        watchdog.cancel()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
