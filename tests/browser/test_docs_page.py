"""``/docs`` in a real Chromium that cannot reach the internet: Swagger UI renders from the
package alone, under the page's Content-Security-Policy, and its "Try it out" works."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Error, Page, expect

from .conftest import LOCAL_HOSTS, LiveServer


def test_docs_render_offline(
    page: Page, live_server: LiveServer, foreign_requests: list[str]
) -> None:
    requested: list[str] = []
    problems: list[str] = []  # console errors (a CSP violation is one) and uncaught exceptions
    page.on("request", lambda request: requested.append(request.url))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    def on_page_error(error: Error) -> None:
        problems.append(error.message)

    page.on("console", on_console)
    page.on("pageerror", on_page_error)

    response = page.goto(f"{live_server.url}/docs")
    assert response is not None and response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]

    expect(page.locator(".info .title")).to_contain_text("docchat", timeout=30_000)
    operation = page.locator('[id$="-list_sessions"]')
    expect(operation).to_be_visible()
    assert page.locator(".opblock").count() >= 20

    # The page's own requests reach the API too (CSP connect-src 'self', SiteGuard's checks).
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(
        operation.locator(".live-responses-table tbody .response-col_status").first
    ).to_have_text("200", timeout=30_000)

    assert foreign_requests == []
    assert {urlsplit(url).hostname for url in requested} <= LOCAL_HOSTS, requested
    assert any(url.endswith("/openapi.json") for url in requested)
    assert any("/docs/assets/" in url and url.endswith("swagger-ui-bundle.js") for url in requested)
    assert problems == []
