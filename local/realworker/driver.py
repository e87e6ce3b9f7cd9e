"""Drive Microsoft's real Python worker runtime (`azure-functions-runtime`) as the Functions host does.

The host talks to the worker over gRPC; the proxy worker turns each gRPC message into a call of the runtime's
handlers: `worker_init_request` (which indexes the app: imports function_app.py, reads every function's bindings
and checks every annotation), `functions_metadata_request`, `function_load_request`, `invocation_request`. This
module makes those same calls, in-process, with the message classes of `local.realworker.messages` standing in for
the generated gRPC ones (see its docstring for why). Everything else, indexing, binding checks, conversions, the
thread pool that sync functions run in, is the runtime's own code.

Logging is set up as the worker does it once the gRPC channel is open (azure-functions-python-worker,
dispatcher.py, `dispatch_forever`): the root logger at INFO (DEBUG with PYTHON_ENABLE_DEBUG_LOGGING) with one
handler that forwards every record to the host. Records whose logger name starts with `azure_functions_worker` or
`azure.functions` are the worker's system logs; everything else is a user log and reaches Application Insights.

Runs only under the worker's Python (3.13+, in the separate environment that `./dev` sets up as .venv-worker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.realworker import messages as protos

SYSTEM_LOG_PREFIXES = ("azure_functions_worker", "azure.functions")


@dataclass
class Envelope:
    """What the proxy worker hands the runtime: the streaming message and its properties."""

    request: protos.StreamingMessage
    properties: dict[str, Any] = field(default_factory=dict)


class WorkerRefused(RuntimeError):
    """The runtime answered a request with a failure status: the host would load no function of the app."""


class ForwardedLogs(logging.Handler):
    """The worker's gRPC log handler, recording instead of sending: what would reach the host."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def user_records(self) -> list[logging.LogRecord]:
        return [r for r in self.records if not r.name.startswith(SYSTEM_LOG_PREFIXES)]


@dataclass
class Outcome:
    """An invocation's answer as the host would receive it."""

    function: str
    ok: bool
    error: str | None
    http: dict[str, Any] | None  # status, headers, body of an HTTP function's answer
    outputs: dict[str, Any]  # output binding name -> value (decoded from TypedData)
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "ok": self.ok, "error": self.error, "http": self.http,
                "outputs": self.outputs, "seconds": round(self.seconds, 4)}


def typed_value(data: Any) -> Any:
    """A TypedData as plain JSON-able data."""
    if data is None or not isinstance(data, protos.TypedData):
        return None
    kind = data.WhichOneof("data")
    value = getattr(data, kind) if kind else None
    if kind == "bytes":
        return value.decode("utf-8", "replace")
    if kind == "json":
        return json.loads(value)
    if kind == "http":
        body = typed_value(value.body)
        return {"status": int(value.status_code or 200), "headers": dict(value.headers), "body": body}
    return value


class RealWorker:
    """One worker process's runtime, for one function app directory."""

    def __init__(self, app_dir: Path, env: Mapping[str, str] | None = None) -> None:
        import azure_functions_runtime as runtime

        self.runtime = runtime
        self.app_dir = Path(app_dir).resolve()
        self.env = dict(env or {})
        self.logs = ForwardedLogs()
        self.functions: dict[str, protos.RpcFunctionMetadata] = {}

    # --- the host's side of start-up

    async def start(self) -> list[protos.RpcFunctionMetadata]:
        """Init (which indexes), metadata, then a load request per function, as the host sends them."""
        os.environ.update(self.env)
        if str(self.app_dir) not in sys.path:
            sys.path.insert(0, str(self.app_dir))
        os.chdir(self.app_dir)
        root = logging.getLogger()
        root.setLevel(logging.DEBUG if os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING") == "1" else logging.INFO)
        root.addHandler(self.logs)
        self.runtime.start_threadpool_executor()

        init = await self.runtime.worker_init_request(self._envelope(worker_init_request=protos.WorkerInitRequest(
            host_version="4.1047.100", function_app_directory=str(self.app_dir),
            worker_directory=str(self.app_dir))))
        self._require(init.result, "worker init (indexing)")
        metadata = await self.runtime.functions_metadata_request(self._envelope(
            functions_metadata_request=protos.FunctionsMetadataRequest(function_app_directory=str(self.app_dir))))
        self._require(metadata.result, "function metadata")
        for function in metadata.function_metadata_results or []:
            load = await self.runtime.function_load_request(self._envelope(function_load_request=(
                protos.FunctionLoadRequest(function_id=function.function_id, metadata=function))))
            self._require(load.result, f"function load of {function.name}")
            self.functions[function.name] = function
        return list(self.functions.values())

    def stop(self) -> None:
        self.runtime.stop_threadpool_executor()
        logging.getLogger().removeHandler(self.logs)

    def thread_pool_size(self) -> int:
        """How many sync invocations the worker runs at once (PYTHON_THREADPOOL_THREAD_COUNT, or Python's default)."""
        pool = self.runtime.get_threadpool_executor()
        return int(pool._max_workers) if pool is not None else 0

    def report(self) -> list[dict[str, Any]]:
        """Every function with its bindings as the worker reports them to the host (raw binding JSON)."""
        return [{"name": f.name, "function_id": f.function_id,
                 "bindings": [json.loads(raw) for raw in f.raw_bindings]} for f in self.functions.values()]

    # --- invocations

    async def invoke(self, function_name: str, inputs: dict[str, protos.TypedData],
                     trigger_metadata: dict[str, protos.TypedData] | None = None) -> Outcome:
        function = self.functions[function_name]
        request = protos.InvocationRequest(
            invocation_id=str(uuid.uuid4()), function_id=function.function_id,
            input_data=[protos.ParameterBinding(name=name, data=data) for name, data in inputs.items()],
            trigger_metadata=trigger_metadata or {},
            trace_context=protos.RpcTraceContext(), retry_context=protos.RetryContext())
        clock = asyncio.get_running_loop().time()
        answer = await self.runtime.invocation_request(self._envelope(invocation_request=request))
        seconds = asyncio.get_running_loop().time() - clock
        ok = answer.result.status == protos.StatusResult.Success
        error = None if ok else answer.result.exception.message
        outputs = {binding.name: typed_value(binding.data) for binding in answer.output_data or []}
        http = typed_value(answer.return_value) if isinstance(answer.return_value, protos.TypedData) else None
        return Outcome(function_name, ok, error, http if isinstance(http, dict) else None, outputs, seconds)

    async def http(self, function_name: str, method: str, path: str, *, body: bytes = b"",
                   headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None) -> Outcome:
        trigger = self._trigger(function_name)
        url = "https://bridge.example/api/" + path + ("?" + "&".join(f"{k}={v}" for k, v in query.items())
                                                      if query else "")
        request = protos.RpcHttp(method=method, url=url, headers=dict(headers or {}), query=dict(query or {}),
                                 params=dict(params or {}), body=protos.TypedData(bytes=body))
        return await self.invoke(function_name, {trigger: protos.TypedData(http=request)})

    async def timer(self, function_name: str, *, past_due: bool = False) -> Outcome:
        payload = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": past_due}
        return await self.invoke(function_name, {self._trigger(function_name): protos.TypedData(
            json=json.dumps(payload))})

    async def queue(self, function_name: str, body: str, *, dequeue_count: int = 1) -> Outcome:
        now = datetime.now(UTC)

        def stamp(t: datetime) -> protos.TypedData:
            return protos.TypedData(json=json.dumps(t.isoformat()))

        metadata = {"Id": protos.TypedData(string=str(uuid.uuid4())),
                    "DequeueCount": protos.TypedData(json=str(dequeue_count)),
                    "InsertionTime": stamp(now), "ExpirationTime": stamp(now + timedelta(days=7)),
                    "NextVisibleTime": stamp(now + timedelta(minutes=5)),
                    "PopReceipt": protos.TypedData(string="AgAAAAMAAAAAAAAA")}
        return await self.invoke(function_name, {self._trigger(function_name): protos.TypedData(string=body)},
                                 metadata)

    # --- helpers

    def _trigger(self, function_name: str) -> str:
        function = self.functions[function_name]
        for raw in function.raw_bindings:
            binding = json.loads(raw)
            if str(binding.get("type", "")).endswith("Trigger"):
                return str(binding["name"])
        raise KeyError(f"{function_name} has no trigger binding")

    @staticmethod
    def _envelope(**request: Any) -> Envelope:
        return Envelope(protos.StreamingMessage(request_id=str(uuid.uuid4()), **request),
                        {"host": "127.0.0.1", "protos": protos})

    @staticmethod
    def _require(result: protos.StatusResult, what: str) -> None:
        if result.status != protos.StatusResult.Success:
            exception = result.exception
            raise WorkerRefused(f"{what} failed: {exception.message}\n{exception.stack_trace}")
