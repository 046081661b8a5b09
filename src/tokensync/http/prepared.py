"""A POST to one fixed URL with fixed headers, built once and sent with the least work per request.

The refresh job sends thousands of requests that differ only in their body. httpx's client spends
about a fifth of the job's CPU on layers such a request never uses: merging the URL and headers
anew each time, the auth flow, the redirect loop, the cookie jar (built up and read on every
response even when it refuses all cookies). A PreparedPost parses the URL and merges the headers
once, and hands each request to the client's transport for that URL, the seam a test's
MockTransport and respx replace, so the tests see these requests like any other.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class PreparedPost:
    """POSTs of varying bodies to `url`, with the client's default headers and `headers`."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> None:
        self._client = client
        self._url = httpx.URL(url)
        merged = httpx.Headers(client.headers)
        merged.update(headers)
        merged["Host"] = self._url.netloc.decode("ascii")
        self._headers = merged.raw
        # The transport is looked up per request, not kept: respx patches the lookup itself.

    async def send(self, body: bytes, *, timeout: float) -> httpx.Response:
        """Send one request; the response's body is still to be read (and the response closed)."""
        if self._client.is_closed:
            raise RuntimeError("the HTTP client is closed")
        request = httpx.Request(
            "POST",
            self._url,
            headers=self._headers,
            content=body,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        # httpx's own send reaches the transport the same way (AsyncClient._send_single_request).
        transport = self._client._transport_for_url(self._url)
        response = await transport.handle_async_request(request)
        response.request = request
        return response
