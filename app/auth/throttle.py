"""Failed-login counters per account and per client address, in Redis.

Fixed windows of LOGIN_THROTTLE_WINDOW seconds: once an account (or an address)
has LOGIN_THROTTLE_ACCOUNT (LOGIN_THROTTLE_ADDRESS) failures in the current window,
every login for it is refused, the right password included, until the window ends.
Only failures count, which Flask-Limiter's request limits cannot express; the
counters live in Redis so every web process shares them, and are independent of
RATELIMIT_ENABLED (the API's request limits), with their own LOGIN_THROTTLE_ENABLED.
"""

from __future__ import annotations

import hashlib

from flask import current_app

PREFIX = "bm:login-fail:"


def _keys(email: str, address: str) -> list[tuple[str, int]]:
    config = current_app.config
    # Hashed: the key names would otherwise list every email anyone tried.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return [
        (f"{PREFIX}account:{account}", config["LOGIN_THROTTLE_ACCOUNT"]),
        (f"{PREFIX}address:{address}", config["LOGIN_THROTTLE_ADDRESS"]),
    ]


def _redis():
    return current_app.extensions["redis"]


def retry_after(email: str, address: str) -> int:
    """Seconds until a login for this account from this address may be tried; 0 when allowed now."""
    if not current_app.config["LOGIN_THROTTLE_ENABLED"]:
        return 0
    keys = _keys(email, address)
    pipe = _redis().pipeline()
    for key, _limit in keys:
        pipe.get(key)
        pipe.ttl(key)
    values = pipe.execute()
    wait = 0
    for (_key, limit), count, ttl in zip(keys, values[::2], values[1::2], strict=True):
        if count is not None and int(count) >= limit:
            wait = max(wait, ttl if ttl > 0 else 1)
    return wait


def record_failure(email: str, address: str) -> None:
    """Count one failed login against the account and the address."""
    if not current_app.config["LOGIN_THROTTLE_ENABLED"]:
        return
    window = current_app.config["LOGIN_THROTTLE_WINDOW"]
    pipe = _redis().pipeline()
    for key, _limit in _keys(email, address):
        # The window starts at the first failure; INCR keeps the TTL set here.
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    pipe.execute()


def first_refusal(email: str, address: str) -> bool:
    """True once per account and address per window: audit the first refused login, not each one."""
    window = current_app.config["LOGIN_THROTTLE_WINDOW"]
    key = _keys(email, address)[0][0] + ":noted:" + address
    return bool(_redis().set(key, 1, nx=True, ex=window))


def clear_account(email: str, address: str) -> None:
    """A successful login resets the account's count (the address keeps its own)."""
    _redis().delete(_keys(email, address)[0][0])
