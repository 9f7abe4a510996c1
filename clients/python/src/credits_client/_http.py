"""Executes ``Call`` objects over one keep-alive ``httpx`` client, with the retry policy; sync and async twins.

Per attempt the work is small on purpose (the client's overhead is measured by ``make bench``): headers are a
dict built from prepared parts, the body is encoded once per logical call, and a result is parsed once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from credits_client._calls import Call
from credits_client._retry import RETRYABLE_TRANSPORT_ERRORS, RetryPolicy, retryable_status
from credits_client._version import __version__
from credits_client.errors import CreditsError, InvalidRequest, ServiceUnavailable, from_response

T = TypeVar("T")
TokenSource = str | Callable[[], str]
USER_AGENT = f"credits-client/{__version__}"
DEFAULT_TIMEOUT = 10.0


def normalise_base_url(base_url: str) -> str:
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidRequest(f"base_url must be an http(s) URL such as http://127.0.0.1:3000, got {base_url!r}.")
    return base_url.rstrip("/")


def _check_token(token: TokenSource | None) -> None:
    if token is not None and not callable(token) and (not isinstance(token, str) or not token.strip()):
        raise InvalidRequest("token must be a non-empty string or a callable returning one.")


def _timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(DEFAULT_TIMEOUT if timeout is None else timeout)


class _Base:
    def __init__(self, base_url: str, token: TokenSource | None, retry: RetryPolicy | None,
                 max_retries: int | None, auth: httpx.Auth | None) -> None:
        self.base_url = normalise_base_url(base_url)
        _check_token(token)
        self._token = token
        if retry is not None and max_retries is not None:
            raise InvalidRequest("Pass either retry or max_retries, not both.")
        self.retry = retry or (RetryPolicy() if max_retries is None else RetryPolicy(max_retries=max_retries))
        self._auth = auth

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        if call.auth and self._token is not None:
            token = self._token() if callable(self._token) else self._token
            headers["Authorization"] = f"Bearer {token}"
        return headers

    @staticmethod
    def _result(call: Call[T], response: httpx.Response) -> T:
        try:
            return call.parse(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CreditsError("The service's answer does not have the expected shape.", status=response.status_code,
                               code="invalid_response", idempotency_key=call.idempotency_key) from exc

    @staticmethod
    def _gave_up(call: Call[Any], exc: Exception) -> CreditsError:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return ServiceUnavailable(f"The request {kind} on every attempt: {type(exc).__name__}: {exc}",
                                  code="timeout" if kind == "timed out" else "connection_error",
                                  idempotency_key=call.idempotency_key)

    @staticmethod
    def _transport_error(call: Call[Any], exc: httpx.TransportError) -> CreditsError:
        return CreditsError(f"The request could not be sent: {type(exc).__name__}: {exc}", code="transport_error",
                            idempotency_key=call.idempotency_key)


class SyncEngine(_Base):
    def __init__(self, base_url: str, *, token: TokenSource | None = None, timeout: float | httpx.Timeout | None = None,
                 max_retries: int | None = None, retry: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None, transport: httpx.BaseTransport | None = None,
                 auth: httpx.Auth | None = None) -> None:
        super().__init__(base_url, token, retry, max_retries, auth)
        if http_client is not None and transport is not None:
            raise InvalidRequest("Pass either http_client or transport, not both.")
        self._owns_client = http_client is None
        self.http = http_client or httpx.Client(transport=transport, timeout=_timeout(timeout),
                                                headers={"User-Agent": USER_AGENT})

    def run(self, call: Call[T]) -> T:
        url, headers, retry = self.base_url + call.path, self._headers(call), 0
        while True:
            try:
                response = self.http.request(call.method, url, content=call.body, params=call.params,
                                             headers=headers, auth=self._auth or httpx.USE_CLIENT_DEFAULT)
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                if retry >= self.retry.max_retries:
                    raise self._gave_up(call, exc) from exc
                self.retry.sleep(self.retry.delay(retry))
                retry += 1
                continue
            except httpx.TransportError as exc:
                raise self._transport_error(call, exc) from exc
            status = response.status_code
            if status < 400:
                return self._result(call, response)
            if retryable_status(status) and retry < self.retry.max_retries:
                response.close()
                self.retry.sleep(self.retry.delay(retry, response.headers.get("retry-after")))
                retry += 1
                continue
            raise from_response(status, response.content, idempotency_key=call.idempotency_key)

    def close(self) -> None:
        if self._owns_client:
            self.http.close()


class AsyncEngine(_Base):
    def __init__(self, base_url: str, *, token: TokenSource | None = None, timeout: float | httpx.Timeout | None = None,
                 max_retries: int | None = None, retry: RetryPolicy | None = None,
                 http_client: httpx.AsyncClient | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 auth: httpx.Auth | None = None) -> None:
        super().__init__(base_url, token, retry, max_retries, auth)
        if http_client is not None and transport is not None:
            raise InvalidRequest("Pass either http_client or transport, not both.")
        self._owns_client = http_client is None
        self.http = http_client or httpx.AsyncClient(transport=transport, timeout=_timeout(timeout),
                                                     headers={"User-Agent": USER_AGENT})

    async def run(self, call: Call[T]) -> T:
        url, headers, retry = self.base_url + call.path, self._headers(call), 0
        while True:
            try:
                response = await self.http.request(call.method, url, content=call.body, params=call.params,
                                                   headers=headers, auth=self._auth or httpx.USE_CLIENT_DEFAULT)
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                if retry >= self.retry.max_retries:
                    raise self._gave_up(call, exc) from exc
                await self.retry.async_sleep(self.retry.delay(retry))
                retry += 1
                continue
            except httpx.TransportError as exc:
                raise self._transport_error(call, exc) from exc
            status = response.status_code
            if status < 400:
                return self._result(call, response)
            if retryable_status(status) and retry < self.retry.max_retries:
                await response.aclose()
                await self.retry.async_sleep(self.retry.delay(retry, response.headers.get("retry-after")))
                retry += 1
                continue
            raise from_response(status, response.content, idempotency_key=call.idempotency_key)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.http.aclose()
