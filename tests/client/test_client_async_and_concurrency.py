"""The async driver of the same flow, and single flight: many concurrent callers, one token request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import anyio
import httpx
from client_support import AUD, CLIENT_ID, CLIENT_SECRET, Api, stale_first_token

from s2s_guard.client import ClientCredentialsAuth, TokenCache, TokenRequestFailed
from s2s_guard.testing import LocalIssuer


def _auth(issuer: LocalIssuer, cache: TokenCache | None = None) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(issuer.token_url, CLIENT_ID, client_secret=CLIENT_SECRET, resource=AUD,
                                 scope="orders.read", cache=TokenCache() if cache is None else cache)


def test_async_client_reuses_the_token_and_retries_once(issuer: LocalIssuer,
                                                        serve_api: Callable[..., Api]) -> None:
    api, refusing = serve_api(), serve_api(audience="api://elsewhere")

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=_auth(issuer)) as client:
            stale_first_token(issuer)
            codes = [(await client.get(api.url + "/whoami")).status_code for _ in range(3)]
            codes.append((await client.get(refusing.url + "/whoami")).status_code)
            return codes

    assert anyio.run(main) == [200, 200, 200, 401]
    # 1 stale token + 1 replacement; the refusing API costs exactly one more and never loops
    assert issuer.hits["/token"] == 3
    assert api.statuses == {401: 1, 200: 3} and refusing.statuses == {401: 2}


def test_concurrent_async_callers_share_one_token_request(issuer: LocalIssuer,
                                                          serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    issuer.delays["/token"] = 0.2  # hold the first fetch open while the others arrive
    auth = _auth(issuer)

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=auth) as client:
            answers = await asyncio.gather(*(client.get(api.url + "/whoami") for _ in range(20)))
        return [r.status_code for r in answers]

    assert anyio.run(main) == [200] * 20
    assert issuer.hits["/token"] == 1 and auth.token_requests == 1


def test_concurrent_threads_share_one_token_request(issuer: LocalIssuer,
                                                    serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    issuer.delays["/token"] = 0.2
    cache = TokenCache()  # separate auth objects, one cache: the key is what they share
    codes: list[int] = []
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        codes.append(httpx.get(api.url + "/whoami", auth=_auth(issuer, cache)).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [200] * 8 and issuer.hits["/token"] == 1


def test_one_cache_serves_several_event_loops(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api, auth = serve_api(), _auth(issuer)

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get(api.url + "/whoami")).status_code

    assert [anyio.run(main), anyio.run(main)] == [200, 200]  # asyncio locks are per loop
    auth.cache.clear()
    assert anyio.run(main) == 200 and issuer.hits["/token"] == 2


def test_async_unreachable_token_endpoint(issuer: LocalIssuer) -> None:
    url = issuer.token_url
    issuer.stop()
    auth = ClientCredentialsAuth(url, CLIENT_ID, client_secret=CLIENT_SECRET, cache=TokenCache())

    async def main() -> None:
        async with httpx.AsyncClient(auth=auth) as client:
            await client.get("http://127.0.0.1:9/never")

    try:
        anyio.run(main)
    except TokenRequestFailed as exc:
        assert isinstance(exc.__cause__, httpx.ConnectError)
    else:
        raise AssertionError("expected TokenRequestFailed")
