"""Cursor paging for list RPCs: page size rules and opaque page tokens.

A token is the URL-safe base64 of the last row's sort key (JSON), so the next page starts right
after it even when rows are added meanwhile, and no page is ever "shifted" by an insert.
Page sizes follow the usual API convention: 0 means the default, above the maximum is coerced
to the maximum, negative is an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from microbss.engine.domain.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    size: int = DEFAULT_PAGE_SIZE
    after: str | int | None = None  # sort key of the last row already seen


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str  # empty on the last page
    total_count: int


def page_request(page_size: int, page_token: str) -> PageRequest:
    """Validate the caller's paging fields into a PageRequest."""
    if page_size < 0:
        raise InvalidArgument("must not be negative", field="page.page_size")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return PageRequest(size=size, after=decode_token(page_token) if page_token else None)


def encode_token(key: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def decode_token(token: str) -> str | int:
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidArgument(
            "is not a token this server issued; start again without one", field="page.page_token"
        ) from None
    if not isinstance(key, str | int) or isinstance(key, bool):
        raise InvalidArgument(
            "is not a token this server issued; start again without one", field="page.page_token"
        )
    return key


def make_page(
    rows: list[T], request: PageRequest, total: int, key: Callable[[T], str | int]
) -> Page[T]:
    """Build a page from up to ``size + 1`` fetched rows; the extra row only signals "more"."""
    more = len(rows) > request.size
    items = rows[: request.size]
    token = encode_token(key(items[-1])) if more and items else ""
    return Page(items=items, next_token=token, total_count=total)
