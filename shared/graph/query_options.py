"""Query options the engine adds for efficiency, dropped for good when Graph refuses them.

`$top` (bigger pages) and `$orderby` (oldest first when a nextLink is missing) make an export cheaper, never more
correct: shared/export/paging.py proves completeness from the data with or without them. Graph does not document them on
every collection (servicePrincipalRiskDetections documents no `$top`; alerts_v2 documents no `$orderby`), and a
400 for one of them would otherwise fail that stream on every run. So when Graph answers 400 to a query carrying
one, the query is sent again without it; if that succeeds, the option is remembered for the tenant and stream and
never sent again. The export keeps what was refused in the stream's checkpoint (`refusedOptions`), which every run
reads anyway: a blob of its own cost every run one more storage read, a 404 nearly always. To try an option again,
remove it there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.graph.client import GraphError

log = logging.getLogger("graph_security_bridge.export")

DROPPABLE = ("$orderby", "$top")  # in the order they are given up


class RefusedOptions:
    """The options Graph refused for one tenant and stream, by option: when and what Graph said. `refused` is the
    owner's dict (the export's checkpoint field), changed in place: the owner's next save keeps what was learned; a
    run that stops before it learns the option again at the cost of one more 400."""

    def __init__(self, refused: dict[str, dict[str, Any]]) -> None:
        self.refused = refused

    def __contains__(self, option: str) -> bool:
        return option in self.refused

    def remember(self, option: str, error: GraphError) -> None:
        self.refused[option] = {"at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "error": str(error)[:300]}


def send_adapting(
    send: Callable[[dict[str, str]], Any],
    params: dict[str, str],
    refused: RefusedOptions,
    on_refused: Callable[[str, GraphError], None],
) -> tuple[Any, dict[str, str]]:
    """Send `params`; on a 400, again without each droppable option it carries (the one Graph's message names
    first) until one succeeds. Returns the answer and the parameters that got it; raises the first error when
    dropping does not help (the 400 was about something else, such as the filter)."""
    try:
        return send(params), params
    except GraphError as exc:
        if exc.status != 400:
            raise
        present = [option for option in DROPPABLE if option in params]
        message = str(exc).lower()
        named = [option for option in present if option.lstrip("$") in message]
        for option in named or present:
            trimmed = {key: value for key, value in params.items() if key != option}
            try:
                answer = send(trimmed)
            except GraphError as again:
                if again.status == 400:
                    continue
                raise
            log.warning("Graph refused %s (%s); this stream queries without it from now on", option, exc)
            refused.remember(option, exc)
            on_refused(option, exc)
            return answer, trimmed
        raise
