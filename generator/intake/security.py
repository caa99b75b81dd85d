"""Protections of the intake service: staff tokens, rate limit, client address, origins, size.

Staff tokens look like ``gzs_<id>_<secret>``. Only a salted scrypt hash of the secret is stored;
the id finds the row, so one guess costs one scrypt, and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from generator.intake.storage import timestamp, utc_now, write_audit

# -- staff tokens -------------------------------------------------------------------------------

TOKEN_PREFIX = "gzs"
_TOKEN_RE = re.compile(r"gzs_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and a few tens of ms per check


@dataclass(frozen=True)
class StaffToken:
    id: str
    name: str
    created_at: str
    revoked_at: str | None


def _scrypt(secret: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(
        secret.encode(),
        salt=salt,
        n=params["n"],
        r=params["r"],
        p=params["p"],
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )


def create_token(conn: sqlite3.Connection, name: str, actor: str) -> tuple[StaffToken, str]:
    """Store a new token's hash; returns the record and the token text (shown once, never stored)."""
    token_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, SCRYPT)
    created = timestamp(utc_now())
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO staff_tokens (id, name, salt, hash, params, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, name, salt, digest, json.dumps(SCRYPT), created),
        )
        write_audit(conn, actor, "token-create", detail=f"token:{token_id} ({name})")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return StaffToken(token_id, name, created, None), f"{TOKEN_PREFIX}_{token_id}_{secret}"


def revoke_token(conn: sqlite3.Connection, token_id: str, actor: str) -> bool:
    """Revoke a token by id; False when no such active token exists."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        cursor = conn.execute(
            "UPDATE staff_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (timestamp(utc_now()), token_id),
        )
        changed = cursor.rowcount == 1
        if changed:
            write_audit(conn, actor, "token-revoke", detail=f"token:{token_id}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return changed


def list_tokens(conn: sqlite3.Connection) -> list[StaffToken]:
    rows = conn.execute(
        "SELECT id, name, created_at, revoked_at FROM staff_tokens ORDER BY created_at"
    ).fetchall()
    return [StaffToken(*row) for row in rows]


def verify_token(conn: sqlite3.Connection, presented: str) -> StaffToken | None:
    """The active token matching ``presented``, or None. Constant-time on the hash."""
    match = _TOKEN_RE.fullmatch(presented.strip())
    if not match:
        return None
    token_id, secret = match.groups()
    row = conn.execute(
        "SELECT id, name, created_at, revoked_at, salt, hash, params FROM staff_tokens"
        " WHERE id = ?",
        (token_id,),
    ).fetchone()
    if row is None:
        _scrypt(secret, b"\0" * 16, SCRYPT)  # same work whether or not the id exists
        return None
    digest = _scrypt(secret, row[4], json.loads(row[6]))
    if not hmac.compare_digest(digest, row[5]) or row[3] is not None:
        return None
    return StaffToken(row[0], row[1], row[2], row[3])


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# -- rate limit ---------------------------------------------------------------------------------


class TokenBucket:
    """Per-client token buckets: ``burst`` requests at once, refilled at ``rate`` per second.

    Memory is bounded: at most ``max_clients`` buckets are kept, least recently seen dropped
    first (a dropped client simply starts again with a full bucket).
    """

    def __init__(self, rate: float, burst: float, max_clients: int = 100_000):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """Take one token. Returns 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[client] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1 - tokens) / self.rate
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


# -- client address behind a proxy --------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """Parse ``--trusted-proxy`` values (addresses or CIDR ranges); ValueError names the bad one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"不是有效的 IP 地址或网段：{value}") from exc
    return networks


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The client's address: X-Forwarded-For is honoured only when the peer is a trusted proxy.

    The header is read from the right (nearest hop) and trusted proxies are skipped, so a client
    cannot choose its own address by sending a forged header.
    """
    peer = peer or "unknown"
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: fall back to the proxy itself
    try:
        return str(ipaddress.ip_address(hops[0])) if hops else peer
    except ValueError:
        return peer


IPV6_CLIENT_PREFIX = 64  # one subscriber line or phone gets a whole /64 to pick addresses from


def rate_key(address: str) -> str:
    """The key a client is rate-limited under: its IPv4 address, or its IPv6 /64 network.

    A home or mobile connection is handed a /64 and may use any of its 2^64 addresses, so
    counting per IPv6 address would let one client take a fresh bucket for every request.
    IPv4-mapped IPv6 addresses count as the IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


# -- what a log line may say of a path ------------------------------------------------------------


def loggable_path(path: str, form_ids: Container[str]) -> str:
    """``path`` for a log line: the service's own routes with known form ids, else a placeholder.

    Paths are chosen by whoever sends the request, and a resident may paste anything into one
    (a phone number, a name); only what the service itself defines is written down. Query
    strings never are.
    """
    path = unquote(path.split("?", 1)[0])
    if path in ("/", "/healthz"):
        return path
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "f":
        return path if parts[2] in form_ids else "/f/(未知表单)"
    if len(parts) == 5 and parts[1:3] == ["staff", "forms"] and parts[4] == "responses.csv":
        return path if parts[3] in form_ids else "/staff/forms/(未知表单)/responses.csv"
    return "(其他路径)"


# -- origins ------------------------------------------------------------------------------------


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased; None otherwise.

    Origin and redirect values come from whoever sends the request: a port that is not a
    number or an unclosed IPv6 bracket makes ``urlsplit`` raise, and means "no origin".
    """
    try:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        host = parts.hostname
        port_number = parts.port
    except ValueError:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    port = "" if port_number in (None, default) else f":{port_number}"
    return f"{parts.scheme}://{host}{port}"


def safe_redirect(target: str | None, allowed_origins: set[str]) -> str | None:
    """``target`` when it points into an allowed origin (never an open redirect), else None."""
    if not target:
        return None
    target = target.strip()
    if any(ch in target for ch in "\r\n\\") or target.startswith("//"):
        return None
    origin = origin_of(target)
    return target if origin is not None and origin in allowed_origins else None


# -- request size -------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""
