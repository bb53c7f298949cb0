"""Browser resolver: a real Chromium (Playwright) runs the site's challenge script.

One browser is launched lazily and reused; every resolution gets a fresh context (no cookies, the
session's User-Agent) so the token is minted for exactly the client Scrapy will present. The
resolver waits for a *new* ``aws-waf-token`` cookie and a main-frame answer that is no longer a
WAF answer (docs/aws-waf.md §4.6 item 9: the interstitial reloads itself and can loop), then
harvests ``aws-waf-token`` and ``PHPSESSID``. Headed mode (``CWO_BROWSER_HEADLESS = False``) gets
``CWO_BROWSER_HEADED_TIMEOUT`` so a person can solve a real captcha in the window; ``virtual``
runs the headed browser on a private Xvfb display (``cwo_scrapy.resolvers.display``).

The page shows the session's identity (``cwo_scrapy.identity``) through CDP
``Emulation.setUserAgentOverride`` with ``userAgentMetadata``: UA, ``navigator.platform``,
``userAgentData`` and client hints all say what Scrapy's requests say. Automation tells are
removed at launch (no ``--enable-automation``, ``AutomationControlled`` off, so
``navigator.webdriver`` is false), with a desktop-sized window and screen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from cwo_scrapy import identity
from cwo_scrapy.egress import Egress
from cwo_scrapy.resolvers.base import Resolution, ResolutionError, ResolveContext
from cwo_scrapy.resolvers.display import SCREEN, DisplayError, VirtualDisplay, display_mode

if TYPE_CHECKING:
    from typing import Self

    from playwright.async_api import Browser, Playwright, Response
    from scrapy.crawler import Crawler

__all__ = ["CHROMIUM_ARGS", "BrowserResolver"]

logger = logging.getLogger(__name__)

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # navigator.webdriver false (with --enable-automation dropped); nothing else is disguised.
    "--disable-blink-features=AutomationControlled",
    f"--window-size={SCREEN[0]},{SCREEN[1]}",
    "--lang=en-US",
)
IGNORED_DEFAULT_ARGS = ["--enable-automation"]
# Headless has no window: emulate a desktop one (the height left under a browser's toolbars).
HEADLESS_VIEWPORT = {"width": SCREEN[0], "height": SCREEN[1] - 133}
TOKEN_COOKIE = "aws-waf-token"
SESSION_COOKIE = "PHPSESSID"
WALL_TITLE = "Human Verification"
CAPTCHA_BUTTON = "#amzn-captcha-verify-button"
_POLL = 0.05  # cookie polls (a local CDP call each) between the token's arrival and our noticing


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


class BrowserResolver:
    """Obtains a token by letting Chromium pass the challenge like a visitor would."""

    def __init__(
        self,
        executable: str | None = "/usr/bin/chromium",
        *,
        headless: bool | str = True,
        timeout: float = 120.0,
        headed_timeout: float = 600.0,
    ) -> None:
        self._executable = executable or None
        #: "headless", "headed" (a window on DISPLAY) or "virtual" (a window on Xvfb)
        self.mode = display_mode(headless)
        self._headless = self.mode == "headless"
        self.timeout = timeout if self.mode != "headed" else max(timeout, headed_timeout)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._display: VirtualDisplay | None = None
        self._launch_lock = asyncio.Lock()
        self._proxy: str | None = None  # the egress the running browser was launched with

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        headless = settings.get("CWO_BROWSER_HEADLESS")
        try:
            display_mode(headless)
        except ValueError as exc:
            raise NotConfigured(f"CWO_BROWSER_HEADLESS: {exc}") from None
        return cls(
            settings.get("CWO_BROWSER_EXECUTABLE") or None,
            headless=headless,
            timeout=settings.getfloat("CWO_RESOLVER_TIMEOUT"),
            headed_timeout=settings.getfloat("CWO_BROWSER_HEADED_TIMEOUT"),
        )

    async def _ensure_browser(self, proxy: str | None = None) -> Browser:
        async with self._launch_lock:
            browser = self._browser
            if browser is not None and browser.is_connected() and proxy == self._proxy:
                return browser
            await self._shutdown()
            from playwright.async_api import async_playwright

            env: dict[str, str | float | bool] | None = None
            driver = asyncio.ensure_future(async_playwright().start())
            if self.mode == "virtual":  # Xvfb starts while Playwright's driver does
                self._display = VirtualDisplay()
                try:
                    display = await asyncio.to_thread(self._display.start)
                except BaseException:
                    await (await driver).stop()
                    raise
                env = {**os.environ, "DISPLAY": display}
            self._playwright = await driver
            self._browser = await self._playwright.chromium.launch(
                executable_path=self._executable,
                headless=self._headless,
                args=list(CHROMIUM_ARGS),
                **launch_proxy(proxy),  # the session's egress, loopback included
                ignore_default_args=IGNORED_DEFAULT_ARGS,
                env=env,
            )
            self._proxy = proxy
            logger.info(
                "Browser resolver: Chromium %s started (%s, %s)",
                self._browser.version,
                self._executable or "bundled",
                self.mode,
            )
            return self._browser

    async def resolve(self, ctx: ResolveContext) -> Resolution:
        timeout = ctx.timeout
        deadline = time.monotonic() + timeout
        try:
            browser = await asyncio.wait_for(self._ensure_browser(ctx.proxy), timeout)
        except TimeoutError:
            raise ResolutionError(
                f"browser resolver: Chromium did not start within {timeout:g}s"
            ) from None
        except DisplayError as exc:
            raise ResolutionError(f"browser resolver: {exc}") from None
        except Exception as exc:
            raise ResolutionError(
                f"browser resolver: cannot start Chromium ({self._executable}): {_first_line(exc)}"
            ) from None
        try:
            if self._headless:
                context = await browser.new_context(
                    viewport=HEADLESS_VIEWPORT,  # type: ignore[arg-type]
                    screen={"width": SCREEN[0], "height": SCREEN[1]},
                )
            else:  # a real window on a real (or virtual) screen reports its own sizes
                context = await browser.new_context(no_viewport=True)
        except Exception as exc:
            raise ResolutionError(f"browser resolver: {_first_line(exc)}") from None
        try:
            return await self._solve(context, ctx, deadline)
        finally:
            try:
                await context.close()
            except Exception:  # the browser may already be gone; nothing to release then
                logger.debug("Browser resolver: context close failed", exc_info=True)

    async def _solve(self, context: Any, ctx: ResolveContext, deadline: float) -> Resolution:
        page = await context.new_page()
        try:
            await present_identity(context, page, ctx.user_agent, ctx.headers)
        except Exception as exc:  # an old Chromium without userAgentMetadata, a closed browser
            raise ResolutionError(
                f"browser resolver: cannot set the session's identity: {_first_line(exc)}"
            ) from None
        main = {"challenged": True, "status": 0, "loads": 0}
        clicked_on = -1  # the main-frame load whose captcha "Begin" button was pressed

        def on_response(response: Response) -> None:
            try:
                if (
                    response.frame != page.main_frame
                    or not response.request.is_navigation_request()
                ):
                    return
            except Exception:  # a detached frame: not the main document
                return
            main["status"] = response.status
            main["challenged"] = "x-amzn-waf-action" in response.headers
            main["loads"] += 1

        page.on("response", on_response)
        try:
            await page.goto(
                ctx.page_url,
                wait_until="domcontentloaded",
                timeout=max(1.0, deadline - time.monotonic()) * 1000,
            )
        except Exception as exc:
            # The interstitial reloads the page while goto is waiting: that is progress, not an
            # error. A real failure (connection refused) shows up as "no token" below.
            logger.debug("Browser resolver: navigation interrupted (%s)", _first_line(exc))

        while time.monotonic() < deadline:
            cookies = await context.cookies(ctx.page_url)
            jar = {c["name"]: c["value"] for c in cookies if c.get("value")}
            token = jar.get(TOKEN_COOKIE)
            if token and token != ctx.stale_token and not main["challenged"]:
                try:
                    title = await page.title()
                except Exception:  # navigating right now: look again on the next tick
                    title = WALL_TITLE
                if title.strip() != WALL_TITLE:
                    return Resolution(
                        aws_waf_token=token,
                        user_agent=ctx.user_agent,
                        phpsessid=jar.get(SESSION_COOKIE),
                    )
            if main["challenged"] and clicked_on != main["loads"] and await _press_begin(page):
                # A CAPTCHA interstitial starts with a "Begin" button; pressing it is what a
                # person does first (in headed mode the puzzle that may follow is theirs).
                clicked_on = main["loads"]
                logger.info("Browser resolver: pressed the captcha's Begin button")
            await asyncio.sleep(_POLL)
        raise ResolutionError(
            f"browser resolver: no new token within {ctx.timeout:g}s "
            f"(last main-frame status {main['status']})"
        )

    async def _shutdown(self) -> None:
        browser, playwright, display = self._browser, self._playwright, self._display
        self._browser = self._playwright = None
        self._display = None
        if browser is not None:
            try:
                await browser.close()
            except Exception:
                logger.debug("Browser resolver: browser close failed", exc_info=True)
        if playwright is not None:
            try:
                await playwright.stop()
            except Exception:
                logger.debug("Browser resolver: playwright stop failed", exc_info=True)
        if display is not None:
            await asyncio.to_thread(display.stop)

    async def close(self) -> None:
        async with self._launch_lock:
            await self._shutdown()


def launch_proxy(proxy: str | None) -> dict[str, Any]:
    """Playwright's ``proxy=`` launch option for the egress ({} when direct).

    Chromium bypasses the proxy for loopback unless told ``<-loopback>``
    (``--proxy-bypass-list=<-loopback>``): without it a replica on 127.0.0.1 would see the
    browser come direct while Scrapy comes through the proxy.
    """
    if not proxy:
        return {}
    egress = Egress(proxy)
    option: dict[str, str] = {"server": egress.endpoint, "bypass": "<-loopback>"}
    if egress.username is not None:
        option.update(username=egress.username, password=egress.password or "")
    return {"proxy": option}


async def present_identity(
    context: Any, page: Any, user_agent: str, headers: Mapping[str, str] | None
) -> None:
    """Make ``page`` show the session's identity (UA, platform, userAgentData, client hints)."""
    cdp = await context.new_cdp_session(page)
    await cdp.send(
        "Emulation.setUserAgentOverride", identity.user_agent_override(user_agent, headers)
    )


async def _press_begin(page: Any) -> bool:
    """Click AWS WAF's captcha "Begin" button if the page shows one; False otherwise."""
    try:
        button = page.locator(CAPTCHA_BUTTON)
        if not await button.count() or not await button.first.is_visible():
            return False
        await button.first.click(timeout=2000)
    except Exception:  # the page navigated away or the widget is not ready: try next tick
        return False
    return True
