"""Compiles tests/transcoding/protos/codec_test.proto once per process for the codec tests.

The generated module is imported normally, so its types land in the default descriptor
pool, where google.protobuf.Any resolves them (for json_format and for the codec alike).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

PROTO_DIR = Path(__file__).parent / "protos"


@functools.cache
def codec_test_pb2() -> ModuleType:
    import grpc_tools
    from grpc_tools import protoc

    out = Path(tempfile.mkdtemp(prefix="codec_test_pb2_"))
    atexit.register(shutil.rmtree, out, True)
    include = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{include}",
            f"--python_out={out}",
            str(PROTO_DIR / "codec_test.proto"),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed with {code}")
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("codec_test_pb2")
    finally:
        sys.path.remove(str(out))
