"""protoc plugin that produces gRPC Python stubs with grpcio-tools' bundled generator.

buf runs plugins as programs; grpcio-tools only exposes its gRPC generator inside its
own protoc. This plugin hands the request's descriptors to that protoc and returns
what it writes, so `buf generate` needs nothing beyond the Python install.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        descriptor_set = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        (work / "in.binpb").write_bytes(descriptor_set.SerializeToString())
        out = work / "out"
        out.mkdir()
        args = ["protoc", f"--descriptor_set_in={work / 'in.binpb'}", f"--grpc_python_out={out}"]
        if protoc.main(args + list(request.file_to_generate)) != 0:
            response.error = "grpc_tools.protoc failed"
        else:
            for path in sorted(out.rglob("*.py")):
                response.file.add(name=str(path.relative_to(out)), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
