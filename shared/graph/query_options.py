"""Query options the engine adds for efficiency, dropped for good when Graph refuses them.

`$top` (bigger pages) and `$orderby` (oldest first when a nextLink is missing) make an export cheaper, never more
correct: shared/export/paging.py proves completeness from the data with or without them. Graph does not document them on
every collection (servicePrincipalRiskDetections documents no `$top`; alerts_v2 documents no `$orderby`), and a
400 for one of them would otherwise fail that stream on every run. So when Graph answers 400 to a query carrying
one, the query is sent again without it; if that succeeds, the option is remembered for the tenant and stream in a
small blob beside the checkpoints and never sent again (delete the blob to try again; a running instance notices
within RELOAD_SECONDS).

Nearly every tenant and stream has no such blob, yet every run would ask for it: a refused read per run, a tenth of
an incremental run's storage calls. So each process keeps what it read for RELOAD_SECONDS; what this process learns
it writes through at once, and what another instance learns costs this one at most one more 400 in that time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.graph.client import GraphError
from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

log = logging.getLogger("graph_security_bridge.export")

DROPPABLE = ("$orderby", "$top")  # in the order they are given up
RELOAD_SECONDS = 600.0

# blob URL -> (read at, refused)
_cache: ProcessCache[str, tuple[float, dict[str, dict[str, Any]]]] = ProcessCache("refused query options")


class RefusedOptions:
    """The options Graph refused for one tenant and stream: `query-options/<stream>/<tenant>.json`."""

    def __init__(self, container: ContainerClient, stream: str, tenant: str) -> None:
        self._blob = container.get_blob_client(f"query-options/{stream}/{tenant}.json")
        self.refused: dict[str, dict[str, Any]] = {}

    def load(self, clock: Callable[[], float] = time.monotonic) -> RefusedOptions:
        from azure.core.exceptions import ResourceNotFoundError

        now = clock()
        cached = _cache.get(self._blob.url)
        if cached is not None and now - cached[0] < RELOAD_SECONDS:
            self.refused = dict(cached[1])
            return self
        try:
            self.refused = json.loads(self._blob.download_blob().readall()).get("refused", {})
        except ResourceNotFoundError:
            self.refused = {}
        _cache.put(self._blob.url, (now, dict(self.refused)))
        return self

    def __contains__(self, option: str) -> bool:
        return option in self.refused

    def remember(self, option: str, error: GraphError) -> None:
        # Written while the run holds the stream's lease; a backfill of the same stream may race it, and then the
        # loser learns the option again at the cost of one more 400.
        self.refused[option] = {"at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "error": str(error)[:300]}
        self._blob.upload_blob(json.dumps({"refused": self.refused}).encode(), overwrite=True)
        _cache.put(self._blob.url, (time.monotonic(), dict(self.refused)))


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
