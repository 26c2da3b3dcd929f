"""The baseline of bench/api.py: a bare Flask JSON endpoint with the same route, served the same way."""

from flask import Flask, jsonify

app = Flask("bare")
BODY = {
    "id": "00000000-0000-4000-8000-000000000000",
    "name": "demo",
    "phase": "Provisioning",
    "generation": 1,
    "conditions": [{"type": "Ready", "status": "Unknown", "reason": "Reconciling", "message": "generation 1"}],
}


@app.get("/v1/clusters/<cluster_id>")
def cluster(cluster_id: str):
    return jsonify(BODY)
