"""How the simulated Graph pages its lists: as documented, or as users have seen Graph do it.

- ``documented`` (the default): every list pages with ``@odata.nextLink``; ``$top`` above a collection's maximum is
  refused (400); ``$orderby`` is refused where the list page does not document it (all of ours).
- ``observed``: what field reports describe (docs/graph-notes.md, "Paging"): the security lists (alerts_v2,
  incidents) send **no** nextLink even when more items match, and clamp ``$top`` to their maximum instead of refusing
  it; ``$orderby`` on the cursor property is accepted (``asc`` or ``desc``); the Identity Protection lists return
  short pages (half of what was asked, with a nextLink). Both profiles list the newest first by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import resources as R


@dataclass(frozen=True)
class PagingProfile:
    name: str
    next_link_families: frozenset[str]  # rate families whose lists send a nextLink when more items match
    clamp_top: bool  # $top above the maximum is clamped (True) or refused with 400 (False)
    orderby: bool  # $orderby=<cursor> [asc|desc] accepted on every list
    short_page_families: frozenset[str]  # families whose pages hold half of the $top asked for

    def page_size(self, family: str, top: int) -> int:
        return max(1, top // 2) if family in self.short_page_families and top > 1 else top


PROFILES: dict[str, PagingProfile] = {
    "documented": PagingProfile("documented", frozenset({R.SECURITY, R.IDENTITY}), clamp_top=False, orderby=False,
                                short_page_families=frozenset()),
    "observed": PagingProfile("observed", frozenset({R.IDENTITY}), clamp_top=True, orderby=True,
                              short_page_families=frozenset({R.IDENTITY})),
}
