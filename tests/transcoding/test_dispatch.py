from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from grpc_status import rpc_status

from event_gateway.transcoding.context import InProcessContext, format_peer, peer_host
from event_gateway.transcoding.dispatch import InProcessDispatcher, Refused

S = wrappers_pb2.StringValue
METHOD = "/t.Svc/Call"


def dispatcher_for(behaviour: Any, interceptors: list[Any] = ()) -> InProcessDispatcher:
    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    dispatcher = InProcessDispatcher(interceptors=interceptors)
    dispatcher.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Svc", {"Call": handler}),))
    return dispatcher


class Tagging(aio.ServerInterceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        self.log.append(f"{self.name}:{details.method}:{dict(details.invocation_metadata)['k']}")
        handler = await continuation(details)
        inner = handler.unary_unary

        async def wrapped(request: Any, context: Any) -> Any:
            self.log.append(f"{self.name}-call")
            return await inner(request, context)
        return grpc.unary_unary_rpc_method_handler(wrapped)


async def test_interceptors_run_outermost_first_on_every_call() -> None:
    log: list[str] = []

    async def echo(request: Any, context: Any) -> Any:
        log.append(f"servicer:{context.peer()}")
        return S(value=request.value + "!")

    dispatcher = dispatcher_for(echo, [Tagging("a", log), Tagging("b", log)])
    for _ in range(2):
        outcome = await dispatcher.call(METHOD, S(value="hi"), (("k", "v"),), "ipv4:1.2.3.4:5")
        assert outcome.status is None and outcome.response == S(value="hi!")
    assert log == ["a:/t.Svc/Call:v", "b:/t.Svc/Call:v", "a-call", "b-call",
                   "servicer:ipv4:1.2.3.4:5"] * 2


async def test_abort_with_status_keeps_earlier_trailing_metadata_and_details() -> None:
    async def refuse(request: Any, context: Any) -> Any:
        await context.send_initial_metadata((("x-limit", "10"),))
        context.set_trailing_metadata((("x-remaining", "0"),))
        status = status_pb2.Status(code=8, message="slow down")
        status.details.add().Pack(error_details_pb2.RetryInfo())
        await context.abort_with_status(rpc_status.to_status(status))

    outcome = await dispatcher_for(refuse).call(METHOD, S(), (), "ipv4:1.2.3.4:5")
    assert outcome.response is None
    assert outcome.status.code == 8 and outcome.status.message == "slow down"
    assert outcome.status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    assert outcome.initial_metadata == (("x-limit", "10"),)
    assert outcome.trailing_metadata == (("x-remaining", "0"),)


async def test_abort_and_set_code() -> None:
    async def abort(request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.NOT_FOUND, "gone")

    async def set_code(request: Any, context: Any) -> Any:
        context.set_code(grpc.StatusCode.PERMISSION_DENIED)
        context.set_details("no")
        return S()

    first = await dispatcher_for(abort).call(METHOD, S(), (), "p")
    assert (first.status.code, first.status.message) == (5, "gone")
    second = await dispatcher_for(set_code).call(METHOD, S(), (), "p")
    assert (second.status.code, second.status.message) == (7, "no")


async def test_servicer_bug_is_unknown_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: Any, context: Any) -> Any:
        raise RuntimeError("secret detail")

    outcome = await dispatcher_for(broken).call(METHOD, S(), (), "p")
    assert outcome.status.code == grpc.StatusCode.UNKNOWN.value[0]
    assert "secret" not in outcome.status.message
    assert "secret detail" in caplog.text


async def test_sync_behaviour_runs_in_executor() -> None:
    def sync(request: Any, context: Any) -> Any:
        return S(value="sync")

    assert (await dispatcher_for(sync).call(METHOD, S(), (), "p")).response == S(value="sync")


async def test_unknown_and_streaming_methods_are_unimplemented() -> None:
    dispatcher = InProcessDispatcher()
    stream = grpc.unary_stream_rpc_method_handler(lambda r, c: iter(()))
    dispatcher.add_registered_method_handlers("t.Svc", {"Stream": stream})
    assert (await dispatcher.call("/t.Svc/Nope", S(), (), "p")).status.code == 12
    assert (await dispatcher.call("/t.Svc/Stream", S(), (), "p")).status.code == 12


async def test_registered_handlers_take_precedence_and_lookup_is_cached() -> None:
    async def generic(request: Any, context: Any) -> Any:
        return S(value="generic")

    async def registered(request: Any, context: Any) -> Any:
        return S(value="registered")

    looked_up: list[str] = []

    class Counting(grpc.GenericRpcHandler):
        def service(self, details: Any) -> Any:
            looked_up.append(details.method)
            return grpc.unary_unary_rpc_method_handler(generic)

    dispatcher = InProcessDispatcher([Counting()])
    for _ in range(3):
        assert (await dispatcher.call("/t.Svc/Other", S(), (), "p")).response.value == "generic"
    assert looked_up == ["/t.Svc/Other"]
    dispatcher.add_registered_method_handlers(
        "t.Svc", {"Other": grpc.unary_unary_rpc_method_handler(registered)})
    assert (await dispatcher.call("/t.Svc/Other", S(), (), "p")).response.value == "registered"


async def test_context_surface() -> None:
    context = InProcessContext((("a", "1"),), format_peer("::1", 5000))
    assert context.peer() == "ipv6:[::1]:5000" and peer_host(context.peer()) == "::1"
    assert format_peer("127.0.0.1", 80) == "ipv4:127.0.0.1:80"
    assert context.invocation_metadata() == (("a", "1"),)
    assert context.auth_context() == {} and context.peer_identities() is None
    assert context.time_remaining() is None and not context.cancelled()
    context.set_compression(grpc.Compression.Gzip)
    done: list[Any] = []
    context.add_done_callback(done.append)
    with pytest.raises(aio.AbortError):
        await context.abort(grpc.StatusCode.INTERNAL, "x")
    with pytest.raises(aio.UsageError):
        await context.abort(grpc.StatusCode.INTERNAL, "again")
    context.finish()
    assert context.done() and done == [context]
    assert InProcessContext((), "p", timeout=10).time_remaining() > 9


async def test_a_refused_request_passes_the_interceptors_and_never_reaches_the_servicer() -> None:
    log: list[str] = []

    async def servicer(request: Any, context: Any) -> Any:
        log.append("servicer")
        return S()

    class Counting(aio.ServerInterceptor):
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            inner = (await continuation(details)).unary_unary

            async def counted(request: Any, context: Any) -> Any:
                log.append("counted")
                context.set_trailing_metadata((("x-remaining", "4"),))
                return await inner(request, context)
            return grpc.unary_unary_rpc_method_handler(counted)

    refusal = status_pb2.Status(code=3, message="body: not JSON")
    refusal.details.add().Pack(error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="body", description="not JSON")]))
    outcomes = [
        await dispatcher.call(METHOD, Refused(refusal), (("k", "v"),), "ipv4:1.2.3.4:5")
        for dispatcher in (dispatcher_for(servicer, [Counting()]), dispatcher_for(servicer))
    ]
    assert all(o.status == refusal and o.response is None for o in outcomes)
    # Counted once (with interceptors), its trailers kept; the servicer never ran.
    assert outcomes[0].trailing_metadata == (("x-remaining", "4"),)
    assert log == ["counted"]
    ok = await dispatcher_for(servicer, [Counting()]).call(METHOD, S(value="x"), (("k", "v"),), "p")
    assert ok.status is None and log == ["counted", "counted", "servicer"]
