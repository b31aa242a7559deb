"""Ready-made JSON documents: rendered once by a projection (or for an as_of read), served as is."""

import json

from marshmallow import Schema


def render(schema: Schema, stream_id: str, fields: dict) -> str:
    """The JSON text of ``schema``'s reply for the aggregate ``stream_id`` with ``fields``."""
    return json.dumps(schema.dump({"id": stream_id, **fields}), ensure_ascii=False, separators=(",", ":"))
