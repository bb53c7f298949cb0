"""How the resolver's Chromium is displayed: headless, a real window, or a private Xvfb screen.

Headless Chromium differs from a desktop one in ways a WAF can measure, so ``virtual`` runs a
headed Chromium on an X virtual framebuffer (Debian's ``xvfb``) that the resolver starts and
stops itself; a person can attach a VNC server to that display if the site shows a real captcha.
``auto`` picks ``virtual`` on a server (Xvfb installed, no ``DISPLAY``) and headless elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time

__all__ = ["HEADLESS_MODES", "SCREEN", "DisplayError", "VirtualDisplay", "display_mode"]

logger = logging.getLogger(__name__)

HEADLESS_MODES = ("true", "false", "virtual", "auto")
SCREEN = (1920, 1080)  # the virtual screen, and the window/screen the browser reports
XVFB = "Xvfb"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class DisplayError(RuntimeError):
    """The virtual display could not be started; the message is one line."""


def display_mode(
    value: object, *, xvfb: str | None = None, env: dict[str, str] | None = None
) -> str:
    """``CWO_BROWSER_HEADLESS`` -> ``headless``, ``headed`` or ``virtual``.

    Raises ``ValueError`` for anything but true/false/virtual/auto (booleans included).
    """
    text = str(value).strip().lower()
    if text in _TRUE:
        return "headless"
    if text in _FALSE:
        return "headed"
    if text == "virtual":
        return "virtual"
    if text == "auto":
        environ = os.environ if env is None else env
        installed = (xvfb or shutil.which(XVFB)) is not None
        return "virtual" if installed and not environ.get("DISPLAY") else "headless"
    raise ValueError(f"expected one of {', '.join(HEADLESS_MODES)}, got {value!r}")


class VirtualDisplay:
    """One Xvfb server on a display number it picks itself (``-displayfd``)."""

    def __init__(self, executable: str | None = None, size: tuple[int, int] = SCREEN) -> None:
        self.executable = executable or shutil.which(XVFB) or XVFB
        self.size = size
        self.display: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> str:
        """Start Xvfb and return its ``DISPLAY`` value (``:N``)."""
        if self._proc is not None and self._proc.poll() is None and self.display:
            return self.display
        read_fd, write_fd = os.pipe()
        width, height = self.size
        try:
            self._proc = subprocess.Popen(
                [
                    self.executable,
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    f"{width}x{height}x24",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            raise DisplayError(
                f"cannot start {self.executable} ({exc.strerror or exc}); install Debian's xvfb"
            ) from None
        os.close(write_fd)
        try:
            number = self._read_display(read_fd, timeout)
        finally:
            os.close(read_fd)
        if number is None:
            self.stop()
            raise DisplayError(f"Xvfb did not report a display within {timeout:g}s")
        self.display = f":{number}"
        logger.info("Virtual display %s started (Xvfb %dx%d)", self.display, width, height)
        return self.display

    def _read_display(self, fd: int, timeout: float) -> str | None:
        import select

        deadline = time.monotonic() + timeout
        data = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 64)
                if not chunk:
                    break
                data += chunk
                if data.endswith(b"\n"):
                    break
            elif self._proc is not None and self._proc.poll() is not None:
                break
        text = data.decode().strip()
        return text if text.isdigit() else None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self.display = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
