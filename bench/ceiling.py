"""The ceiling: a bare Flask route answering a small JSON document.

No Flask app on this machine, under the same gunicorn settings, can answer faster;
the product's figures are shown as a fraction of this one.
"""

from flask import Flask, jsonify

app = Flask(__name__)
DOCUMENT = {"id": "12a33c84-ee60-45a1-848d-428ad3259abc", "name": "Bacon"}


@app.route("/", defaults={"_path": ""}, methods=["GET", "POST"])
@app.route("/<path:_path>", methods=["GET", "POST"])
def document(_path: str):
    return jsonify(DOCUMENT)
