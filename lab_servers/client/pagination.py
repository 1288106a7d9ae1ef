"""MCP server/utilities/pagination, as the lab client follows it: a list result (tools/list) may
end with `nextCursor`, "an opaque token representing the pagination position after the last
returned result"; the client asks for the next page with it as `params.cursor`, and the listing
ends at the first page that has none.

A server's pages are bounded as the MCP SDK's client bounds them (`_RELIST_PAGE_CAP`, 100
pages): a listing that never ends, or a cursor that leads back to a page already read, is cut
off there and said to be, not followed forever. So are its items and its bytes in all: a hundred
pages each just under the 1 MB an answer may have were 45 MB parsed and held, in 80 s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .server_data import ServerDataRefused, member, shown

PAGE_CAP = 100  # the SDK client's _RELIST_PAGE_CAP
ITEM_CAP = 10_000  # items in all, so that a hundred full pages are not a hundred megabytes held
# The answers' bytes in all, which items do not bound: one tool whose schema has 45,000 properties
# is one item of 445 kB. A real listing (a hundred tools and their schemas) is a few hundred kB.
BYTE_CAP = 4 * 1024 * 1024
_RULE = "MCP schema: a cursor is a string"

# A page's result, and the bytes of the answer that carried it.
Page = tuple[dict[str, Any], int]


async def every_page(
    first: Page,
    key: str,
    fetch: Callable[[str], Awaitable[Page]],
    what: str,
    *,
    found: Callable[[list[Any]], bool] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """The `first` page's result with the items (under `key`) of every page after it and no
    `nextCursor`, each next page `fetch`ed by its cursor; and why the listing stopped short of
    the last page, when it did. With `found`, the listing ends at the first page whose items it
    holds for, as the MCP SDK's `_relist_tool` ends at the page that lists the tool it calls. A
    first page without its list of items is left as it is, to be refused by name where it is read."""
    result, read = first
    items = result.get(key)
    cursor = member(result, "nextCursor", str, f"the {what} result's", rule=_RULE)
    if cursor is None or not isinstance(items, list):
        return result, None
    if found is not None and found(items):
        return _joined(result, key, items), None
    items, followed, pages = list(items), set(), 1
    while cursor is not None:
        if cursor in followed:
            return _joined(result, key, items), (
                f"{what} page {pages} names the cursor {shown(cursor)} again: the pages loop, and the client "
                f"stops at the {len(items)} items read (MCP server/utilities/pagination)"
            )
        if pages >= PAGE_CAP or len(items) >= ITEM_CAP or read >= BYTE_CAP:
            return _joined(result, key, items), (
                f"{what} goes on past {pages} pages, {len(items)} items and {read:,} bytes: the client stops there, "
                f"the lab client's limit ({PAGE_CAP} pages, as the MCP SDK's client; {ITEM_CAP:,} items; "
                f"{BYTE_CAP // 1024 // 1024} MB in all)"
            )
        followed.add(cursor)
        page, size = await fetch(cursor)
        pages, read = pages + 1, read + size
        more = member(page, key, list, f"page {pages} of the {what} result's", rule="MCP schema")
        if more is None:
            raise ServerDataRefused(f"page {pages} of the {what} result has no {key} (MCP schema)")
        items.extend(more)
        cursor = member(page, "nextCursor", str, f"page {pages} of the {what} result's", rule=_RULE)
        if found is not None and found(more):
            break
    return _joined(result, key, items), None


def _joined(first: dict[str, Any], key: str, items: list[Any]) -> dict[str, Any]:
    return {**{name: value for name, value in first.items() if name != "nextCursor"}, key: items}
