"""The ceiling of the stack: a FastAPI endpoint that only reads and parses the JSON body."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/webhook/alertmanager")
async def receive(request: Request) -> Response:
    body = orjson.loads(await request.body())
    return Response(orjson.dumps({"status": "stored", "alerts": len(body["alerts"])}), media_type="application/json")
