"""Ready-made JSON documents: rendered once by a projection (or for an as_of read), served as is."""

import json

from marshmallow import Schema

encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # a document's JSON text


def render(schema: Schema, stream_id: str, fields: dict) -> str:
    """The JSON text of ``schema``'s reply for the aggregate ``stream_id`` with ``fields``."""
    return encode(schema.dump({"id": stream_id, **fields}))
