"""The login throttle: refused logins are counted per account and per client address in storage
(so every node of a cluster sees the same counts), in a window of ``WINDOW_SECS`` that starts at
the first refusal. An account with ``ACCOUNT_MAX_FAILURES`` refusals in its window, or an address
with ``ADDRESS_MAX_FAILURES``, is answered ``TooManyAttempts`` until the window ends — before any
password is checked, so a refused attempt costs no hashing.

An attempt counts against its account *before* its password is checked (``reserve``) and is given
back when the password was right (``succeeded``): concurrent guesses at one account cannot slip
past its bound while their hashes run. The address counts refusals once they happened
(``refused``): many agents behind one address may log in at the same moment, and a burst of
concurrent guesses from one address overshoots its bound at most once per window. Time is the
action's ``now`` (the injected clock).
"""

from __future__ import annotations

import math

from frontdesk.domain.errors import TooManyAttempts
from frontdesk.domain.journal import ActionContext
from frontdesk.storage.records import LoginFailuresRecord

ACCOUNT_MAX_FAILURES = 5  # wrong passwords for one account before it is refused for the window
ADDRESS_MAX_FAILURES = 20  # wrong passwords from one address, any accounts (offices share addresses)
WINDOW_SECS = 300.0


def account_key(tenant: str, username: str) -> str:
    return f"account:{tenant}/{username}"


def address_key(address: str) -> str:
    return f"address:{address}"


def _current(record: LoginFailuresRecord | None, key: str, now: float) -> LoginFailuresRecord:
    """The counter as it stands at ``now``: a window that has ended starts again from zero."""
    if record is None or now >= record.window_start + WINDOW_SECS:
        return LoginFailuresRecord(key, 0, now)
    return record


async def reserve(ctx: ActionContext, tenant: str, username: str, address: str) -> None:
    """Count one attempt against the account, or raise ``TooManyAttempts`` (nothing counted) when
    the account or the address has reached its bound. Counters whose window ended are dropped."""
    await ctx.tx.login_failures.delete_before(ctx.now - WINDOW_SECS)
    key = account_key(tenant, username)
    account = _current(await ctx.tx.login_failures.get(key), key, ctx.now)
    counters = [(account, ACCOUNT_MAX_FAILURES)]
    if address:
        counters.append((_current(await ctx.tx.login_failures.get(address_key(address)), address_key(address),
                                  ctx.now), ADDRESS_MAX_FAILURES))
    blocked = [c.window_start + WINDOW_SECS - ctx.now for c, limit in counters if c.failures >= limit]
    if blocked:
        raise TooManyAttempts(max(1, math.ceil(max(blocked))))
    await ctx.tx.login_failures.set(LoginFailuresRecord(key, account.failures + 1, account.window_start))


async def refused(ctx: ActionContext, address: str) -> None:
    """A wrong username or password from ``address`` (the account's was counted by ``reserve``)."""
    if address:
        key = address_key(address)
        counter = _current(await ctx.tx.login_failures.get(key), key, ctx.now)
        await ctx.tx.login_failures.set(LoginFailuresRecord(key, counter.failures + 1, counter.window_start))


async def succeeded(ctx: ActionContext, tenant: str, username: str) -> None:
    """The password was right: the account's count starts again."""
    await ctx.tx.login_failures.delete(account_key(tenant, username))
