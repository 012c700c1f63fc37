from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialLocation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_LOCATION_UNSPECIFIED: _ClassVar[CredentialLocation]
    CREDENTIAL_LOCATION_HEADER: _ClassVar[CredentialLocation]
    CREDENTIAL_LOCATION_QUERY: _ClassVar[CredentialLocation]
    CREDENTIAL_LOCATION_BEARER: _ClassVar[CredentialLocation]

class LimitDimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIMIT_DIMENSION_UNSPECIFIED: _ClassVar[LimitDimension]
    LIMIT_DIMENSION_KEY: _ClassVar[LimitDimension]
    LIMIT_DIMENSION_CLIENT_IP: _ClassVar[LimitDimension]
    LIMIT_DIMENSION_FIELD: _ClassVar[LimitDimension]
CREDENTIAL_LOCATION_UNSPECIFIED: CredentialLocation
CREDENTIAL_LOCATION_HEADER: CredentialLocation
CREDENTIAL_LOCATION_QUERY: CredentialLocation
CREDENTIAL_LOCATION_BEARER: CredentialLocation
LIMIT_DIMENSION_UNSPECIFIED: LimitDimension
LIMIT_DIMENSION_KEY: LimitDimension
LIMIT_DIMENSION_CLIENT_IP: LimitDimension
LIMIT_DIMENSION_FIELD: LimitDimension
API_FIELD_NUMBER: _ClassVar[int]
api: _descriptor.FieldDescriptor
METHOD_FIELD_NUMBER: _ClassVar[int]
method: _descriptor.FieldDescriptor
JSON_VALUE_FIELD_NUMBER: _ClassVar[int]
json_value: _descriptor.FieldDescriptor
GRPC_ONLY_FIELD_NUMBER: _ClassVar[int]
grpc_only: _descriptor.FieldDescriptor
NULL_WHEN_UNSET_FIELD_NUMBER: _ClassVar[int]
null_when_unset: _descriptor.FieldDescriptor

class Credential(_message.Message):
    __slots__ = ("location", "name")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    location: CredentialLocation
    name: str
    def __init__(self, location: _Optional[_Union[CredentialLocation, str]] = ..., name: _Optional[str] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("name", "rate", "by", "field")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    name: str
    rate: str
    by: _containers.RepeatedScalarFieldContainer[LimitDimension]
    field: str
    def __init__(self, name: _Optional[str] = ..., rate: _Optional[str] = ..., by: _Optional[_Iterable[_Union[LimitDimension, str]]] = ..., field: _Optional[str] = ...) -> None: ...

class ApiOptions(_message.Message):
    __slots__ = ("name", "error_dialect", "credentials", "limits")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_DIALECT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    name: str
    error_dialect: str
    credentials: _containers.RepeatedCompositeFieldContainer[Credential]
    limits: _containers.RepeatedCompositeFieldContainer[RateLimit]
    def __init__(self, name: _Optional[str] = ..., error_dialect: _Optional[str] = ..., credentials: _Optional[_Iterable[_Union[Credential, _Mapping]]] = ..., limits: _Optional[_Iterable[_Union[RateLimit, _Mapping]]] = ...) -> None: ...

class MethodOptions(_message.Message):
    __slots__ = ("success_status", "limits", "beacon", "statuses")
    SUCCESS_STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    BEACON_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    success_status: int
    limits: _containers.RepeatedCompositeFieldContainer[RateLimit]
    beacon: bool
    statuses: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, success_status: _Optional[int] = ..., limits: _Optional[_Iterable[_Union[RateLimit, _Mapping]]] = ..., beacon: _Optional[bool] = ..., statuses: _Optional[_Iterable[int]] = ...) -> None: ...
