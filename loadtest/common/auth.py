"""Sign simulated users in once and give their requests the bearer token.

Each simulated user calls ``POST /api/v1/auth/login`` in ``on_start`` (argon2 verification is
deliberately slow, so signing in per request would measure the hash, not the API). With
``--resync-user-pool N`` user *i* signs in as the username template filled with
``n = i % N + 1``, so a canary keyed on the token's subject sees many distinct users.

With ``--resync-tokens-file`` users take pre-issued access tokens instead (one
``username<TAB>token`` per line, user *i* takes line ``i % lines``): the benchmark issues them
before the run so that the server under test spends no CPU and no memory on argon2 while it is
measured. Tokens are JWTs signed with the shared secret, valid on any server of the same database.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

from locust import FastHttpUser
from locust.exception import StopUser

from loadtest.common.checks import check_login, verify
from loadtest.common.data import request_id

__all__ = ["SignedInUser", "credentials", "issued_tokens"]

_user_numbers = itertools.count()


def credentials(options: Any, index: int) -> tuple[str, str]:
    """Return the username and password simulated user number ``index`` signs in with."""
    template = str(options.resync_username)
    pool = int(options.resync_user_pool or 0)
    username = template.format(n=index % pool + 1) if pool > 0 else template
    return username, str(options.resync_password)


@functools.cache
def issued_tokens(path: str) -> tuple[tuple[str, str], ...]:
    """Read a tokens file: ``(username, access_token)`` pairs, in file order."""
    pairs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            username, _, token = line.strip().partition("\t")
            pairs.append((username, token))
    if not pairs:
        raise ValueError(f"{path} holds no tokens")
    return tuple(pairs)


class SignedInUser(FastHttpUser):
    """A FastHttpUser that holds a Resync access token from ``on_start`` on."""

    abstract = True
    username: str = ""
    _authorization: str = ""

    def on_start(self) -> None:
        """Sign in (or take an issued token); a user that cannot sign in stops."""
        options = self.environment.parsed_options
        index = next(_user_numbers)
        tokens_file = getattr(options, "resync_tokens_file", "")
        if tokens_file:
            tokens = issued_tokens(tokens_file)
            self.username, token = tokens[index % len(tokens)]
            self._authorization = f"Bearer {token}"
            return
        self.username, password = credentials(options, index)
        with self.client.post(
            "/api/v1/auth/login",
            json={"username": self.username, "password": password},
            name="/api/v1/auth/login",
            catch_response=True,
        ) as response:
            body = verify(response, 200, check_login)
        if body is None:
            raise StopUser()
        self._authorization = f"Bearer {body['access_token']}"

    def headers(self) -> dict[str, str]:
        """Headers for one request: the bearer token and a fresh ``X-Request-ID``."""
        return {"Authorization": self._authorization, "X-Request-ID": request_id()}

    def bearer(self) -> dict[str, str]:
        """Just the bearer token (the benchmark users keep requests minimal)."""
        return {"Authorization": self._authorization}
