"""Stand-ins for the host-worker gRPC message classes, for driving Microsoft's real Python worker runtime.

Why a stand-in: `azure-functions-runtime` (the worker for Python 3.13+) takes the gRPC message module as a
parameter. In Azure the proxy worker passes its own generated `FunctionRpc_pb2`; that module is published only as
source (Azure/azure-functions-python-worker, `proto/FunctionRpc.proto`), not in any registry package, and the one
registry package that once carried generated messages (`azure-functions-worker` 1.1.9, 2020) predates function
indexing and the messages the runtime builds today. So these classes stand in for the *messages alone*: every
decision (indexing, binding checks, type conversion, invocation, the thread pool) stays in the runtime's own code.

They are as strict as protobuf where it matters for a faithful test: a field a message does not declare raises
(protobuf: "Protocol message X has no "y" field"), enum and integer fields take only integers, string fields only
str, and a oneof reports the member that was set. Field names and enum numbers follow FunctionRpc.proto.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar


class Message:
    """A protobuf-like message: keyword construction, declared fields with defaults, `WhichOneof`."""

    FIELDS: ClassVar[dict[str, Any]] = {}  # field name -> default value (its type is the type the field takes)
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}  # oneof group -> its member fields

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            if name not in self.FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
            if value is not None:
                _check_type(type(self).__name__, name, self.FIELDS[name], value)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name in self.FIELDS:
            default = self.FIELDS[name]
            return type(default)() if isinstance(default, (dict, list)) else default
        raise AttributeError(name)

    def WhichOneof(self, group: str) -> str | None:
        for name in self.ONEOFS[group]:
            if self.__dict__.get(name) is not None:
                return name
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _check_type(message: str, name: str, default: Any, value: Any) -> None:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, bytes):
        ok = isinstance(value, bytes)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    elif isinstance(default, list):
        ok = isinstance(value, (list, tuple))
    else:
        ok = True  # a message-typed field: any message object
    if not ok:
        raise TypeError(f"{message}.{name}: {value!r} has type {type(value).__name__}, "
                        f"but expected one of: {type(default).__name__}")


_MESSAGE: Any = object()  # the default of a message-typed field (unset)


class StatusResult(Message):
    Failure, Success, Cancelled = 0, 1, 2
    FIELDS: ClassVar[dict[str, Any]] = {"status": 0, "result": "", "exception": _MESSAGE, "logs": []}


class RpcException(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"source": "", "stack_trace": "", "message": "", "is_user_exception": False,
                                        "type": ""}


class WorkerMetadata(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"runtime_name": "", "runtime_version": "", "worker_version": "",
                                        "worker_bitness": "", "custom_properties": {}}


class WorkerInitResponse(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"worker_version": "", "capabilities": {}, "result": _MESSAGE,
                                        "worker_metadata": _MESSAGE}


class FunctionEnvironmentReloadResponse(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"worker_metadata": _MESSAGE, "capabilities": {}, "result": _MESSAGE}


class BindingInfo(Message):
    # enum Direction and enum DataType of FunctionRpc.proto
    undefined, string, binary, stream = 0, 1, 2, 3
    FIELDS: ClassVar[dict[str, Any]] = {"type": "", "direction": 0, "data_type": 0, "properties": {}}


# Direction's members are named `in`, `out` and `inout`; `in` is a Python keyword, so set them outside the body.
setattr(BindingInfo, "in", 0)  # `in` is a keyword: only setattr can name it
BindingInfo.out = 1  # type: ignore[attr-defined]
BindingInfo.inout = 2  # type: ignore[attr-defined]


class RpcRetryOptions(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"max_retry_count": 0, "delay_interval": timedelta(0),
                                        "minimum_interval": timedelta(0), "maximum_interval": timedelta(0),
                                        "retry_strategy": ""}


class RpcFunctionMetadata(Message):
    FIELDS: ClassVar[dict[str, Any]] = {
        "name": "", "directory": "", "script_file": "", "entry_point": "", "bindings": {}, "is_proxy": False,
        "status": _MESSAGE, "language": "", "raw_bindings": [], "function_id": "", "managed_dependency_enabled": False,
        "retry_options": _MESSAGE, "properties": {},
    }


class FunctionMetadataResponse(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"function_metadata_results": [], "result": _MESSAGE,
                                        "use_default_metadata_indexing": False}


class FunctionLoadResponse(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"function_id": "", "result": _MESSAGE, "is_dependency_downloaded": False}


class NullableString(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"value": ""}


class NullableDouble(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"value": 0.0}


class NullableBool(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"value": False}


class NullableTimestamp(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"value": _MESSAGE}


class RpcHttpCookie(Message):
    class SameSite:
        Lax, Strict, ExplicitNone = 1, 2, 3

    FIELDS: ClassVar[dict[str, Any]] = {"name": "", "value": "", "domain": _MESSAGE, "path": _MESSAGE,
                                        "expires": _MESSAGE, "secure": _MESSAGE, "http_only": _MESSAGE,
                                        "same_site": 0, "max_age": _MESSAGE}


setattr(RpcHttpCookie.SameSite, "None", 0)  # the proto member is named None


class TypedData(Message):
    FIELDS: ClassVar[dict[str, Any]] = {
        "string": "", "json": "", "bytes": b"", "stream": b"", "http": _MESSAGE, "int": 0, "double": 0.0,
        "collection_bytes": _MESSAGE, "collection_string": _MESSAGE, "collection_double": _MESSAGE,
        "collection_sint64": _MESSAGE, "model_binding_data": _MESSAGE, "collection_model_binding_data": _MESSAGE,
    }
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"data": tuple(FIELDS)}


class RpcHttp(Message):
    FIELDS: ClassVar[dict[str, Any]] = {
        "method": "", "url": "", "headers": {}, "body": _MESSAGE, "params": {}, "status_code": "", "query": {},
        "enable_content_negotiation": False, "rawBody": _MESSAGE, "identities": [], "cookies": [],
        "nullable_headers": {}, "nullable_params": {}, "nullable_query": {},
    }


class ParameterBinding(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"name": "", "data": _MESSAGE, "rpc_shared_memory": _MESSAGE}
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"rpc_data": ("data", "rpc_shared_memory")}


class InvocationResponse(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"invocation_id": "", "output_data": [], "return_value": _MESSAGE,
                                        "result": _MESSAGE}


# --- the requests the driver sends (the host's side) ------------------------------------------------------------


class RpcTraceContext(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"trace_parent": "", "trace_state": "", "attributes": {}}


class RetryContext(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"retry_count": 0, "max_retry_count": 0, "exception": _MESSAGE}


class WorkerInitRequest(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"host_version": "", "capabilities": {}, "log_categories": {},
                                        "worker_directory": "", "function_app_directory": ""}


class FunctionsMetadataRequest(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"function_app_directory": ""}


class FunctionLoadRequest(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"function_id": "", "metadata": _MESSAGE, "managed_dependency_enabled": False}


class InvocationRequest(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"invocation_id": "", "function_id": "", "input_data": [],
                                        "trigger_metadata": {}, "trace_context": _MESSAGE,
                                        "retry_context": _MESSAGE}


class StreamingMessage(Message):
    FIELDS: ClassVar[dict[str, Any]] = {"request_id": "", "worker_init_request": _MESSAGE,
                                        "functions_metadata_request": _MESSAGE, "function_load_request": _MESSAGE,
                                        "invocation_request": _MESSAGE}
