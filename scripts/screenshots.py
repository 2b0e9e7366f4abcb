"""Full-page screenshots of every CRM page, light and dark, desktop and mobile, into a folder.

    .venv/bin/python scripts/screenshots.py [--out /tmp/shots] [--only NAME-PART]

Starts its own engine and CRM (free ports, a temporary data folder with the demo data and the
demo VAT rate), signs an admin in through the real login and MFA enrolment (codes computed as an
authenticator app would), and a CSR for the 403 page, then saves one PNG per page, theme and
width: ``<out>/<theme>-<width>-<page>.png``, plus ``es-...`` Spanish shots of a few pages. The
engine is stopped last to shoot the "engine down" page. Needs Chromium at /usr/bin/chromium (or
MICROBSS_CHROMIUM) and the dev dependencies (Playwright).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("MICROBSS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTHS = {"desktop": (1366, 900), "mobile": (390, 844)}
THEMES = ("light", "dark")
ADMIN, CSR = "ops.admin", "rep.maria"
PREPAID_ID, POSTPAID_ID = 1, 9  # demo subscribers: Lucía (prepaid), Julia (postpaid, cycle 1)


@dataclass
class Stack:
    url: str
    data_dir: Path
    env: dict[str, str]
    engine: subprocess.Popen[bytes] | None = None
    crm: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "microbss", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        return done.stdout

    def stop_engine(self) -> None:
        if self.engine is not None:
            self.engine.terminate()
            self.engine.wait(timeout=20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own URL
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing answered {url}")


@contextmanager
def running_stack(data_dir: Path, admin_password: str, csr_secret: str) -> Iterator[Stack]:
    engine_addr, crm_listen = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "MICROBSS_DATA_DIR": str(data_dir),
        "MICROBSS_ENGINE_DB_URL": f"sqlite:///{data_dir / 'engine.sqlite3'}",
        "MICROBSS_ENGINE_LISTEN": engine_addr,
        "MICROBSS_ENGINE_ADDR": engine_addr,
        "MICROBSS_CRM_DB_URL": f"sqlite:///{data_dir / 'crm.sqlite3'}",
        "MICROBSS_CRM_LISTEN": crm_listen,
        "MICROBSS_CRM_SECRET_KEY": secrets.token_urlsafe(40),
    }
    stack = Stack(url=f"http://{crm_listen}", data_dir=data_dir, env=env)
    print("loading demo data...", flush=True)
    stack.cli("engine", "migrate")
    stack.cli("engine", "demo-data")
    stack.cli("crm", "migrate")
    stack.cli("crm", "createadmin", "--username", ADMIN, "--email", "ops@example.com",
              "--password-stdin", stdin=admin_password)  # fmt: skip
    stack.cli("crm", "ensure-demo-vat")
    stack.cli("crm", "manage", "shell", "-c", (
        "from microbss.crm.accounts.models import CsrUser;"
        f"CsrUser.objects.create_user('{CSR}', '{admin_password}', display_name='María Pérez',"
        f" email='maria@example.com', totp_secret='{csr_secret}', totp_enrolled=True)"
    ))  # fmt: skip
    logs = [(data_dir / name).open("wb") for name in ("engine.log", "crm.log")]
    try:
        stack.engine = subprocess.Popen(
            [sys.executable, "-m", "microbss", "engine", "serve"],
            env=env, stdout=logs[0], stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.crm = subprocess.Popen(
            [sys.executable, "-m", "microbss", "crm", "serve"],
            env=env, stdout=logs[1], stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for(f"{stack.url}/accounts/login/")
        time.sleep(1)  # the engine starts faster than gunicorn; this is only a safety margin
        yield stack
    finally:
        for proc in (stack.crm, stack.engine):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        for log in logs:
            log.close()


@dataclass
class Authenticator:
    """An authenticator app: the code of the next 30-second step not used yet (no replays)."""

    secret: str
    last_step: int = 0

    def code(self) -> str:
        step = max(int(time.time()) // 30, self.last_step + 1)
        while step > int(time.time()) // 30 + 1:  # more than the one step of drift allowed
            time.sleep(1)
        self.last_step = step
        return str(pyotp.TOTP(self.secret).at(step * 30))


@dataclass
class Shooter:
    out: Path
    only: str
    taken: list[Path] = field(default_factory=list)

    def shot(self, page: Page, name: str) -> None:
        if self.only and self.only not in name:
            return
        path = self.out / f"{name}.png"
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        print(path, flush=True)


def sign_in(
    page: Page,
    url: str,
    username: str,
    password: str,
    app: Authenticator,
    code_page: Callable[[], None],
) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    code_page()
    page.fill("input[name=code]", app.code())
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/")


def set_preferences(page: Page, url: str, theme: str, language: str) -> None:
    page.goto(f"{url}/accounts/profile/")
    page.check(f"input[name=theme][value={theme}]")
    page.select_option("select[name=language]", language)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def admin_pages(url: str, pins: Iterator[str]) -> list[tuple[str, Callable[[Page], None]]]:
    """(name, how to open it) for every page an admin sees, in menu order."""

    def go(path: str) -> Callable[[Page], None]:
        return lambda page: page.goto(url + path) and None

    def new_with_errors(page: Page) -> None:
        page.goto(f"{url}/subscribers/new/")
        page.fill("input[name=first_name]", "Ana")
        page.fill("input[name=email]", "not-an-email")
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")

    def redeem_result(page: Page) -> None:
        page.goto(f"{url}/subscribers/{PREPAID_ID}/")
        page.fill("#id_pin", next(pins))  # a fresh PIN each time: a PIN redeems once
        page.click("#redeem-card button[type=submit]")
        page.wait_for_selector("#redeem-result .alert")

    def redeem_refused(page: Page) -> None:
        page.goto(f"{url}/subscribers/{PREPAID_ID}/")
        page.fill("#id_pin", "AAAA-BBBB-CCCC-DDDD")
        page.click("#redeem-card button[type=submit]")
        page.wait_for_selector("#redeem-result .alert")

    return [
        ("home", go("/")),
        ("subscriber-search", go("/subscribers/")),
        ("subscriber-results", go("/subscribers/?name=a")),
        ("subscriber-new", go("/subscribers/new/")),
        ("subscriber-new-errors", new_with_errors),
        ("subscriber-prepaid-profile", go(f"/subscribers/{PREPAID_ID}/")),
        ("subscriber-prepaid-usage", go(f"/subscribers/{PREPAID_ID}/usage/")),
        ("subscriber-redeem-done", redeem_result),
        ("subscriber-redeem-refused", redeem_refused),
        ("subscriber-postpaid-profile", go(f"/subscribers/{POSTPAID_ID}/")),
        ("subscriber-postpaid-usage", go(f"/subscribers/{POSTPAID_ID}/usage/")),
        ("subscriber-postpaid-bills", go(f"/subscribers/{POSTPAID_ID}/bills/")),
        ("subscriber-terminate", go(f"/subscribers/{POSTPAID_ID}/terminate/")),
        ("profile", go("/accounts/profile/")),
        ("password-change", go("/accounts/password/")),
        ("mfa-reenrol", go("/accounts/mfa/")),
        ("admin-users", go("/admin/users/")),
        ("admin-user-new", go("/admin/users/new/")),
        ("admin-user-edit", go("/admin/users/2/")),
        ("admin-price-plans", go("/admin/catalog/price-plans/")),
        ("admin-price-plan", go("/admin/catalog/price-plans/201/")),
        ("admin-services", go("/admin/catalog/services/")),
        ("admin-bill-cycles", go("/admin/catalog/bill-cycles/")),
        ("admin-vat", go("/admin/vat/")),
        ("admin-vouchers", go("/admin/vouchers/")),
        ("admin-vouchers-filtered", go("/admin/vouchers/?state=NEW&batch=DEMO&serial=0000000000")),
        ("admin-voucher-withdraw",  # the last demo voucher: the redeem shots use the first ones
         go("/admin/vouchers/confirm/?new_state=ERROR&serial=000000000020")),
        ("admin-batch-withdraw", go("/admin/vouchers/confirm/?new_state=ERROR&batch=DEMO")),
        ("admin-audit", go("/admin/audit/")),
        ("admin-audit-search", go("/admin/audit/?action=voucher.redeem")),
        ("404", go("/no-such-page/")),
    ]  # fmt: skip


SPANISH = (
    "home",
    "subscriber-new-errors",
    "subscriber-postpaid-profile",
    "subscriber-postpaid-bills",
    "admin-services",
    "admin-bill-cycles",
    "admin-vouchers",
    "admin-batch-withdraw",
    "admin-audit",
    "404",
)


def shoot_everything(browser: Browser, stack: Stack, shooter: Shooter, password: str) -> None:
    with (stack.data_dir / "demo-vouchers.csv").open(encoding="utf-8", newline="") as handle:
        pins = iter([row["pin"] for row in csv.DictReader(handle)])
    url = stack.url
    shoot_signed_out(browser, url, shooter)
    admin_ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = admin_ctx.new_page()
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/mfa/**")
    shooter.shot(page, "light-desktop-mfa-first-setup")
    app = Authenticator(page.inner_text(".secret-text").replace(" ", ""))
    page.fill("input[name=code]", app.code())
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{url}/")
    page.click("nav .dropdown-toggle >> nth=-1")
    page.click("text=Log out")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    shooter.shot(page, "light-desktop-mfa-code")
    page.fill("input[name=code]", app.code())
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/")

    csr_ctx = browser.new_context(viewport={"width": 1366, "height": 900}, color_scheme="dark")
    csr_page = csr_ctx.new_page()
    csr_app = Authenticator(stack.env["SHOTS_CSR_SECRET"])
    sign_in(
        csr_page,
        url,
        CSR,
        password,
        csr_app,
        lambda: shooter.shot(csr_page, "dark-desktop-mfa-code"),
    )

    pages = admin_pages(url, pins)
    for theme in THEMES:
        set_preferences(page, url, theme, "en")
        set_preferences(csr_page, url, theme, "en")
        for width_name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            csr_page.set_viewport_size({"width": width, "height": height})
            for name, open_page in pages:
                open_page(page)
                shooter.shot(page, f"{theme}-{width_name}-{name}")
            csr_page.goto(f"{url}/admin/users/")
            shooter.shot(csr_page, f"{theme}-{width_name}-403")
            open_mfa_setup(csr_page, url, password)
            shooter.shot(csr_page, f"{theme}-{width_name}-mfa-setup")
    set_preferences(page, url, "light", "es")
    page.set_viewport_size({"width": 1366, "height": 900})
    for name, open_page in pages:
        if name in SPANISH:
            open_page(page)
            shooter.shot(page, f"es-light-desktop-{name}")
    set_preferences(page, url, "light", "en")

    stack.stop_engine()
    for theme in THEMES:
        set_preferences(page, url, theme, "en")
        for width_name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{url}/subscribers/{PREPAID_ID}/")
            shooter.shot(page, f"{theme}-{width_name}-engine-down")
    set_preferences(page, url, "light", "es")
    page.goto(f"{url}/subscribers/?name=a")
    shooter.shot(page, "es-light-desktop-engine-down")
    admin_ctx.close()
    csr_ctx.close()


def open_mfa_setup(page: Page, url: str, password: str) -> None:
    """The QR code page of a re-enrolment, left unconfirmed (the current authenticator stays)."""
    page.goto(f"{url}/accounts/mfa/")
    if page.locator("input[name=password]").count():  # the first time, the password is asked
        page.fill("input[name=password]", password)
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{url}/accounts/mfa/")


def shoot_signed_out(browser: Browser, url: str, shooter: Shooter) -> None:
    """The sign-in page, empty and with an error, in the device's light and dark setting."""
    for theme in THEMES:
        for width_name, (width, height) in WIDTHS.items():
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=theme
            )
            page = context.new_page()
            page.goto(f"{url}/accounts/login/")
            shooter.shot(page, f"{theme}-{width_name}-login")
            page.fill("input[name=username]", "nobody")
            page.fill("input[name=password]", "wrong password, twelve+")
            page.click("main button[type=submit]")
            shooter.shot(page, f"{theme}-{width_name}-login-error")
            context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/shots"))  # noqa: S108
    parser.add_argument("--only", default="", help="only pages whose name contains this text")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    password = "shots-" + secrets.token_urlsafe(16)
    csr_secret = pyotp.random_base32(32)
    shooter = Shooter(args.out, args.only)
    with (
        tempfile.TemporaryDirectory(prefix="microbss-shots-") as folder,
        running_stack(Path(folder), password, csr_secret) as stack,
        sync_playwright() as playwright,
    ):
        stack.env["SHOTS_CSR_SECRET"] = csr_secret
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            shoot_everything(browser, stack, shooter, password)
        finally:
            browser.close()
    print(f"{len(shooter.taken)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
