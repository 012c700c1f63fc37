"""The gateway's contract, read from the Protobuf descriptors.

The four documented APIs are described once, in proto/. This module reads the
`eventgateway.v1` options off their descriptors into plain, frozen specs, so that
policy (credentials, limits), ingestion and the REST wiring (success status, error
dialect, enum spellings) are configured by data rather than by branches on API names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType

from google.protobuf import descriptor

from eventgateway.v1 import options_pb2

CredentialLocation = options_pb2.CredentialLocation
LimitDimension = options_pb2.LimitDimension


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    location: int  # options_pb2.CredentialLocation
    name: str  # the header or query parameter, as declared
    # The metadata key it arrives under: the name lower-cased, once, here (metadata keys
    # are lower case on both transports, so they are compared as they are).
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.lower())


@dataclass(frozen=True, slots=True)
class LimitSpec:
    name: str
    rate: str
    by: tuple[int, ...]  # options_pb2.LimitDimension values
    field: str = ""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    full_name: str  # "/alana.v1.ShopperEventsService/TrackEvents", as gRPC names it
    descriptor: descriptor.MethodDescriptor
    api: ApiSpec
    success_status: int
    beacon: bool
    # Other HTTP statuses a REST answer can carry (OpenAPI); empty: the dialect's table.
    statuses: tuple[int, ...]
    # The API's limits followed by the method's own.
    limits: tuple[LimitSpec, ...]


@dataclass(frozen=True, slots=True)
class ApiSpec:
    name: str
    service: descriptor.ServiceDescriptor
    error_dialect: str
    credentials: tuple[CredentialSpec, ...]
    limits: tuple[LimitSpec, ...]

    @property
    def public(self) -> bool:
        return not self.credentials


@dataclass(frozen=True, slots=True)
class Contract:
    apis: tuple[ApiSpec, ...]
    methods: Mapping[str, MethodSpec] = field(default_factory=dict)

    def api(self, name: str) -> ApiSpec:
        for api in self.apis:
            if api.name == name:
                return api
        raise KeyError(name)

    def method(self, full_name: str) -> MethodSpec | None:
        return self.methods.get(full_name)


def limit_names(contract: Contract) -> dict[str, set[str]]:
    """Every API's limit names (its own and its methods'), by API name."""
    known: dict[str, set[str]] = {api.name: set() for api in contract.apis}
    for method in contract.methods.values():
        known[method.api.name].update(spec.name for spec in method.limits)
    return known


def check_limit_overrides(contract: Contract, overrides: Mapping[str, Mapping[str, str]]) -> None:
    """Raise ValueError for an override naming an API or limit the contract lacks (a typo)."""
    known = limit_names(contract)
    for api, limits in overrides.items():
        if api not in known:
            raise ValueError(f"unknown API {api!r} (known: {', '.join(sorted(known))})")
        for name in limits:
            if name not in known[api]:
                raise ValueError(f"unknown limit {api}.{name} (known: {', '.join(sorted(known[api]))})")


def _limits(raw: Iterable[options_pb2.RateLimit]) -> tuple[LimitSpec, ...]:
    return tuple(LimitSpec(l.name, l.rate, tuple(l.by), l.field) for l in raw)


def read_contract(services: Iterable[descriptor.ServiceDescriptor]) -> Contract:
    """Build the contract from service descriptors carrying `eventgateway.v1.api` options."""
    apis: list[ApiSpec] = []
    methods: dict[str, MethodSpec] = {}
    for service in services:
        options = service.GetOptions().Extensions[options_pb2.api]
        api = ApiSpec(
            name=options.name or service.full_name,
            service=service,
            error_dialect=options.error_dialect,
            credentials=tuple(CredentialSpec(c.location, c.name) for c in options.credentials),
            limits=_limits(options.limits),
        )
        apis.append(api)
        for method in service.methods:
            method_options = method.GetOptions().Extensions[options_pb2.method]
            full_name = f"/{service.full_name}/{method.name}"
            methods[full_name] = MethodSpec(
                full_name=full_name,
                descriptor=method,
                api=api,
                success_status=method_options.success_status or 200,
                beacon=method_options.beacon,
                statuses=tuple(method_options.statuses),
                limits=api.limits + _limits(method_options.limits),
            )
    return Contract(apis=tuple(apis), methods=methods)


def enum_json_value(value: descriptor.EnumValueDescriptor) -> str | None:
    """The documented wire spelling of an enum value, when it differs from its proto name."""
    spelled: str = value.GetOptions().Extensions[options_pb2.json_value]
    return spelled or None


def grpc_only(field: descriptor.FieldDescriptor) -> bool:
    """Whether the field is left out of its message's JSON (REST) form."""
    return bool(field.GetOptions().Extensions[options_pb2.grpc_only])


def null_when_unset(field: descriptor.FieldDescriptor) -> bool:
    """Whether the field's JSON form is null, rather than absent, when it is unset."""
    return bool(field.GetOptions().Extensions[options_pb2.null_when_unset])


def services_of(modules: Iterable[ModuleType]) -> list[descriptor.ServiceDescriptor]:
    """Every service declared in the given generated `_pb2` modules."""
    return [s for m in modules for s in m.DESCRIPTOR.services_by_name.values()]


def event_api_modules() -> list[ModuleType]:
    """The generated modules of the four documented APIs."""
    from alana.v1 import shopper_events_pb2
    from depict.v1 import events_pb2 as depict_pb2
    from storefront.v1 import analytics_pb2
    from topsort.v2 import events_pb2 as topsort_pb2

    return [shopper_events_pb2, analytics_pb2, depict_pb2, topsort_pb2]


def default_contract() -> Contract:
    return read_contract(services_of(event_api_modules()))
