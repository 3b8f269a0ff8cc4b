#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The REST sidecar as a running process: the committed OpenAPI document passes a validator,
# schemathesis (every check) finds no failure against a real instance with real data, and
# /docs renders in headless Chromium with no network access.
source "$(dirname "$0")/common.sh"
VENV=$BUILD/venv-sidecar
if [ ! -x "$VENV/bin/schemathesis" ]; then
    log "installing schemathesis and openapi-spec-validator into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==4.32.5" "openapi-spec-validator==0.9.0"
fi
"$VENV/bin/openapi-spec-validator" "$ROOT/docs/reference/api/openapi.yaml" >/dev/null \
    || fail "docs/reference/api/openapi.yaml is not a valid OpenAPI document"

DB=recsys_sidecar_contract
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys" -c "SET client_min_messages = warning" -f "$ROOT/sidecar/setup.sql" >/dev/null
(cd "$ROOT" && cargo build -q -p recsys-sidecar)
SIDECAR=$ROOT/target/debug/recsys-sidecar
export RECSYS_DATABASE_URL="postgres://recsys_sidecar@localhost/$DB?host=$PGSOCK&port=$PGPORT"
PORT=${RECSYS_CONTRACT_PORT:-18089}
export RECSYS_LISTEN_ADDR=127.0.0.1:$PORT RECSYS_LOG=warn
# Keys are created by a login with recsys_key_admin (here the superuser), not the sidecar's.
KEY=$(RECSYS_DATABASE_URL="postgres://postgres@localhost/$DB?host=$PGSOCK&port=$PGPORT" \
    "$SIDECAR" keys create --tenant contract --role admin 2>/dev/null)
# A stand-in OTLP/HTTP collector that records what it receives.
OTLP_PORT=$((PORT + 1))
rm -f "$BUILD/otlp-received"
python3 - "$OTLP_PORT" "$BUILD/otlp-received" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(self.path.encode() + b" " + body + b"\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
COLLECTOR_PID=$!
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_PORT "$SIDECAR" serve 2>"$BUILD/sidecar-contract.log" &
SIDECAR_PID=$!
trap 'kill $SIDECAR_PID $COLLECTOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || fail "the sidecar did not become ready"

# Real data and a model, so recommendations, versions and evaluations answer 200, not only 404.
python3 - "$KEY" "$PORT" <<'PY'
import json, sys, time, urllib.request
key, port = sys.argv[1], sys.argv[2]
def call(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
events = [{"event_id": f"e{u}-{j}", "user_id": f"u{u}", "item_id": str((u * 7 + j * j) % 40)}
          for u in range(80) for j in range(8)]
call("POST", "/v1/interactions", {"events": events})
run = call("POST", "/v1/models/0/training-runs", {"algorithm": "als", "params": {"factors": 4, "iterations": 2}})
for _ in range(300):
    if call("GET", f"/v1/training-runs/{run['run_id']}")["status"] in ("succeeded", "failed"):
        break
    time.sleep(0.1)
PY

# NUL characters are excluded: PostgreSQL text and jsonb cannot hold them (documented).
if ! "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" --checks all \
        -H "X-API-Key: $KEY" -n "${SCHEMATHESIS_EXAMPLES:-50}" --seed 1 -w 1 \
        --generation-allow-x00 false >"$BUILD/schemathesis.log" 2>&1; then
    tail -n 80 "$BUILD/schemathesis.log" >&2
    fail "schemathesis found failures (full log: $BUILD/schemathesis.log)"
fi
pass "schemathesis: $(grep -E "^  [0-9]+ generated" "$BUILD/schemathesis.log" | xargs)"

# /docs must render from the binary alone: no network for the browser.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || fail "chromium is not installed (scripts/test installs it)"
DOM=$("$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --proxy-server=127.0.0.1:9 --proxy-bypass-list='127.0.0.1' \
    --virtual-time-budget=10000 --dump-dom "http://127.0.0.1:$PORT/docs/" 2>/dev/null)
for want in "recsys REST API" "/v1/users/{user_id}/recommendations" "/v1/models/{model}/training-runs"; do
    grep -qF "$want" <<<"$DOM" || fail "/docs did not render \"$want\""
done
pass "/docs renders offline in headless Chromium"
grep -q '"level":"ERROR"' "$BUILD/sidecar-contract.log" && fail "the sidecar logged errors: $BUILD/sidecar-contract.log"
pass "no errors logged"

# A graceful stop flushes the spans to the collector.
kill -TERM $SIDECAR_PID
wait $SIDECAR_PID || fail "the sidecar did not stop cleanly on SIGTERM"
python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); sys.exit(not (b.startswith(b"/v1/traces ") and b"recsys-sidecar" in b))' \
    "$BUILD/otlp-received" 2>/dev/null || fail "no spans reached the OTLP collector"
pass "traces exported over OTLP/HTTP"
