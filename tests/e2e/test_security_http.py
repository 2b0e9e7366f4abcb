"""The CRM's security cases checked from outside, with plain HTTP requests against the live stack
(no browser, no Django test client): what an attacker with curl would see.

Users of this module are created for it (a CSR, an admin, an account to lock) so the browser
tests of the same live stack are not disturbed; every login here uses a different account, so
the one-code-per-step replay rule never bites.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyotp
import pytest

from tests.e2e.conftest import LiveStack

pytestmark = pytest.mark.e2e

PASSWORD = "outside-view-kettle-2026"
CSR_SECRET = pyotp.random_base32(32)
ADMIN_SECRET = pyotp.random_base32(32)
PREPAID_ID, POSTPAID_ID = 1, 9  # demo subscribers: Lucía (prepaid), Julia (postpaid)

CSR_PAGES = [
    "/",
    "/subscribers/",
    "/subscribers/new/",
    f"/subscribers/{PREPAID_ID}/",
    f"/subscribers/{PREPAID_ID}/usage/",
    f"/subscribers/{POSTPAID_ID}/bills/",
    f"/subscribers/{POSTPAID_ID}/bills/1/invoice.pdf",
    f"/subscribers/{POSTPAID_ID}/terminate/",
    "/subscribers/resources/msisdn/",
    "/accounts/profile/",
    "/accounts/password/",
]
ADMIN_PAGES = [
    "/admin/users/",
    "/admin/users/new/",
    "/admin/users/1/",
    "/admin/vat/",
    "/admin/audit/",
    "/admin/vouchers/",
    "/admin/vouchers/confirm/?new_state=ERROR&batch=DEMO",
    "/admin/catalog/price-plans/",
    "/admin/catalog/price-plans/101/",
    "/admin/catalog/services/",
    "/admin/catalog/bill-cycles/",
]
STATE_CHANGES_FOR_CSR = [
    f"/subscribers/{PREPAID_ID}/redeem/",
    f"/subscribers/{POSTPAID_ID}/billing/",
    "/accounts/logout/",
]
STATE_CHANGES_FOR_ADMIN = [
    "/admin/users/1/rotate-password/",
    "/admin/users/1/active/",
    "/admin/users/1/reset-mfa/",
    "/admin/vat/add/",
    "/admin/vouchers/update/",
]
TRACEBACK_SIGNS = ("Traceback", 'File "', "django.", "Exception Value")


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    set_cookies: list[str]
    body: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def form_token(self) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.body)
        assert found, "the page has a form with a CSRF token"
        return found.group(1)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 302 is an answer to look at, not to follow


@dataclass
class Visitor:
    """One client with its own cookie jar, speaking plain HTTP/1.1 through urllib."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _KeepRedirects()
        )

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def send(
        self,
        method: str,
        path: str,
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        data = urllib.parse.urlencode(form).encode() if form is not None else body
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=dict(headers or {})
        )
        if form is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Referer", self.base + "/")  # what a browser sends with a form
        try:
            response = self._opener.open(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            raw = response.read()
            return Reply(
                status=response.status,
                headers=response.headers,
                set_cookies=response.headers.get_all("Set-Cookie") or [],
                body=raw.decode("utf-8", errors="replace"),
            )

    def get(self, path: str) -> Reply:
        return self.send("GET", path)

    def post_form(self, path: str, form: Mapping[str, str], token_page: str = "") -> Reply:
        """POST ``form`` with the CSRF token of ``token_page`` (or the login page)."""
        token = self.get(token_page or "/accounts/login/").form_token()
        return self.send("POST", path, form={**form, "csrfmiddlewaretoken": token})


@dataclass
class SignedIn:
    visitor: Visitor
    session_after_password: str
    session_after_code: str
    set_cookies: list[str]


def _create_users(stack: LiveStack) -> None:
    stack.cli("crm", "manage", "shell", "-c", (
        "from microbss.crm.accounts.models import CsrUser, Role\n"
        f"CsrUser.objects.create_user('sec-csr', '{PASSWORD}', totp_secret='{CSR_SECRET}',"
        " totp_enrolled=True)\n"
        f"CsrUser.objects.create_user('sec-admin', '{PASSWORD}', role=Role.ADMIN,"
        f" totp_secret='{ADMIN_SECRET}', totp_enrolled=True)\n"
        f"CsrUser.objects.create_user('sec-locked', '{PASSWORD}')\n"
        f"CsrUser.objects.create_user('sec-twin', '{PASSWORD}')\n"
    ))  # fmt: skip


def _sign_in(stack: LiveStack, username: str, secret: str) -> SignedIn:
    visitor = Visitor(stack.crm_url)
    step_one = visitor.post_form("/accounts/login/", {"username": username, "password": PASSWORD})
    assert step_one.status == 302 and step_one.location.endswith("/accounts/login/code/")
    after_password = visitor.cookie("microbss_session")
    step_two = visitor.post_form(
        "/accounts/login/code/", {"code": pyotp.TOTP(secret).now()}, "/accounts/login/code/"
    )
    assert step_two.status == 302 and step_two.location == "/", step_two.body[:300]
    return SignedIn(
        visitor, after_password, visitor.cookie("microbss_session"), step_two.set_cookies
    )


@pytest.fixture(scope="module")
def users(live_stack: LiveStack) -> LiveStack:
    _create_users(live_stack)
    return live_stack


@pytest.fixture(scope="module")
def csr(users: LiveStack) -> SignedIn:
    return _sign_in(users, "sec-csr", CSR_SECRET)


@pytest.fixture(scope="module")
def admin(users: LiveStack) -> SignedIn:
    return _sign_in(users, "sec-admin", ADMIN_SECRET)


def _no_traceback(reply: Reply) -> None:
    assert reply.status < 500, reply.body[:300]
    for sign in TRACEBACK_SIGNS:
        assert sign not in reply.body


# --- Who may see what -------------------------------------------------------------------------


@pytest.mark.parametrize("path", CSR_PAGES + ADMIN_PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(live_stack: LiveStack, path: str) -> None:
    reply = Visitor(live_stack.crm_url).get(path)
    assert reply.status == 302
    assert reply.location.startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_a_csr_gets_403_on_every_admin_page(csr: SignedIn, path: str) -> None:
    reply = csr.visitor.get(path)
    assert reply.status == 403
    _no_traceback(reply)


@pytest.mark.parametrize("path", [p for p in CSR_PAGES if "invoice" not in p])
def test_a_signed_in_csr_sees_the_workspace_pages(csr: SignedIn, path: str) -> None:
    assert csr.visitor.get(path).status == 200


# --- Invoice download --------------------------------------------------------------------------


def _bill_ids(visitor: Visitor, subscriber_id: int) -> list[int]:
    page = visitor.get(f"/subscribers/{subscriber_id}/bills/").body
    return [int(i) for i in re.findall(rf"/subscribers/{subscriber_id}/bills/(\d+)/invoice", page)]


def test_an_invoice_downloads_as_a_pdf_with_a_fixed_name_and_nosniff(csr: SignedIn) -> None:
    bill_id = _bill_ids(csr.visitor, POSTPAID_ID)[0]
    reply = csr.visitor.get(f"/subscribers/{POSTPAID_ID}/bills/{bill_id}/invoice.pdf")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/pdf"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert re.fullmatch(
        r'attachment; filename="[A-Za-z0-9-]+\.pdf"', reply.headers["Content-Disposition"]
    )
    assert reply.body.startswith("%PDF")


@pytest.mark.parametrize(
    "bill",
    ["999999", "0", "-1", "abc", "1.5", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "1%00"],
)
def test_an_unknown_or_malformed_bill_id_is_not_found(csr: SignedIn, bill: str) -> None:
    reply = csr.visitor.get(f"/subscribers/{POSTPAID_ID}/bills/{bill}/invoice.pdf")
    assert reply.status == 404
    assert "root:" not in reply.body
    _no_traceback(reply)


def test_another_subscribers_bill_is_not_found_under_this_subscriber(csr: SignedIn) -> None:
    other_bill = _bill_ids(csr.visitor, POSTPAID_ID)[0]
    another_postpaid = POSTPAID_ID + 1
    assert other_bill not in _bill_ids(csr.visitor, another_postpaid)
    reply = csr.visitor.get(f"/subscribers/{another_postpaid}/bills/{other_bill}/invoice.pdf")
    assert reply.status == 404


# --- CSRF and methods -------------------------------------------------------------------------


@pytest.mark.parametrize("path", STATE_CHANGES_FOR_CSR)
def test_a_post_without_the_csrf_token_is_refused(csr: SignedIn, path: str) -> None:
    reply = csr.visitor.send("POST", path, form={"pin": "AAAA-BBBB-CCCC-DDDD"})
    assert reply.status == 403
    _no_traceback(reply)


def test_a_login_post_without_the_csrf_token_is_refused(users: LiveStack) -> None:
    reply = Visitor(users.crm_url).send(
        "POST", "/accounts/login/", form={"username": "sec-twin", "password": PASSWORD}
    )
    assert reply.status == 403


@pytest.mark.parametrize("path", STATE_CHANGES_FOR_CSR)
def test_get_on_a_state_changing_endpoint_is_405(csr: SignedIn, path: str) -> None:
    assert csr.visitor.get(path).status == 405


@pytest.mark.parametrize("path", STATE_CHANGES_FOR_ADMIN)
def test_get_on_an_admin_state_changing_endpoint_is_405(admin: SignedIn, path: str) -> None:
    assert admin.visitor.get(path).status == 405


# --- Login --------------------------------------------------------------------------------------


def _login_error(reply: Reply) -> str:
    found = re.search(r'id="login-error">(.*?)</div>', reply.body, re.S)
    assert found, "the login page shows an error"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_unknown_user_and_wrong_password_get_the_same_answer(users: LiveStack) -> None:
    unknown = Visitor(users.crm_url).post_form(
        "/accounts/login/", {"username": "nobody-here", "password": PASSWORD}
    )
    wrong = Visitor(users.crm_url).post_form(
        "/accounts/login/", {"username": "sec-twin", "password": PASSWORD + "x"}
    )
    assert unknown.status == wrong.status == 401
    assert _login_error(unknown) == _login_error(wrong) == "Wrong username or password."


def test_five_failures_lock_the_account_and_the_right_password_does_not_lift_it(
    users: LiveStack,
) -> None:
    visitor = Visitor(users.crm_url)
    for _attempt in range(5):
        visitor.post_form(
            "/accounts/login/", {"username": "sec-locked", "password": "wrong-12345678"}
        )

    right = Visitor(users.crm_url).post_form(
        "/accounts/login/", {"username": "sec-locked", "password": PASSWORD}
    )

    assert right.status != 302 and "microbss_session" not in " ".join(right.set_cookies)
    assert "Too many failed attempts" in _login_error(right)


def test_the_session_id_changes_at_each_login_step(csr: SignedIn) -> None:
    assert csr.session_after_password and csr.session_after_code
    assert csr.session_after_password != csr.session_after_code


def test_session_and_csrf_cookies_are_httponly_and_samesite(csr: SignedIn) -> None:
    session = next(c for c in csr.set_cookies if c.startswith("microbss_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session
    csrf = Visitor(csr.visitor.base).get("/accounts/login/").set_cookies
    token_cookie = next(c for c in csrf if c.startswith("microbss_csrftoken="))
    assert "HttpOnly" in token_cookie and "SameSite=Lax" in token_cookie


def test_secure_cookies_are_the_documented_production_setting() -> None:
    from microbss.crm import settings

    assert "Secure cookies" in (settings.__doc__ or "")


# --- Headers and bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/login/", "/subscribers/", "/no-such-page/"])
def test_every_page_carries_the_security_headers(csr: SignedIn, path: str) -> None:
    headers = csr.visitor.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "path",
    [
        "/subscribers/abc/",
        "/subscribers/99999999999999999999999999/",
        "/subscribers/-1/",
        "/subscribers/?name=" + "x" * 20_000,
        "/subscribers/?msisdn=%00%ff%fe&imsi=%C0%AF",
        "/subscribers/?identity_last_digits=<script>",
        "/subscribers/resources/../../etc/passwd/",
        "/subscribers/resources/msisdn/?prefix=" + "9" * 5_000,
        "/admin/vouchers/confirm/?new_state=BOGUS&serial=%00",
        "/admin/audit/?page=-5&q=%ff",
        "/admin/audit/?page=99999999999999999999999",
        "/admin/vouchers/?page=99999999999999999999999&state=9",
        "/admin/users/99999999999999999999999/",
        f"/subscribers/{POSTPAID_ID}/bills/?new_bill=99999999999999999999999",
        f"/subscribers/{POSTPAID_ID}/usage/?page=99999999999999999999999",
        f"/subscribers/{POSTPAID_ID}/usage/?before=99999999999999999999999",
    ],
)
def test_bad_input_in_the_url_never_shows_a_stack_trace(admin: SignedIn, path: str) -> None:
    _no_traceback(admin.visitor.get(path))


def test_bad_post_bodies_never_show_a_stack_trace(csr: SignedIn) -> None:
    page = f"/subscribers/{PREPAID_ID}/"
    token = csr.visitor.get(page).form_token()
    bodies = [
        (b"\xff\xfe\x00garbage=%%%&&&", "application/x-www-form-urlencoded"),
        (b"--nope\r\nnot a multipart body", "multipart/form-data; boundary=nope"),
        (b'{"pin": [1, 2, 3]}', "application/json"),
        (b"pin=" + b"A" * 200_000, "application/x-www-form-urlencoded"),
    ]
    for body, content_type in bodies:
        reply = csr.visitor.send(
            "POST",
            f"/subscribers/{PREPAID_ID}/redeem/",
            body=body,
            headers={"Content-Type": content_type, "X-CSRFToken": token},
        )
        _no_traceback(reply)
        assert reply.status in {400, 403, 413, 422}
