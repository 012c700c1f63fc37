"""The REST ceiling: a trivial ASGI app on the gateway's own uvicorn configuration.

It reads the request body and answers a fixed JSON document, nothing else. uvicorn runs
as the gateway runs it (server.py): httptools, one process, uvloop, lifespan off, no
access log, no server header. Whatever the gateway does per request costs on top of this.

    python raw_asgi.py --port 8080
"""

from __future__ import annotations

import argparse

import uvicorn
import uvloop

RESPONSE = b'{"status":"ok","stored":1,"errors":0}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(RESPONSE)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body, as any real handler must
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": RESPONSE})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=30,
    )
    uvloop.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
