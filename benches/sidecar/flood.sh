#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Valid callers while a flood of unknown API keys arrives: GET recommendations with a valid
# key over VICTIMS connections for DURATION seconds, first alone, then while ATTACKERS other
# connections send requests with random well-formed keys (each connection one every PACE ms:
# with the defaults 16 connections x 10 s / 80 ms = 2,000 unknown keys). Prints the valid
# requests' latency percentiles and errors in both runs, and what the attack received.
# Usage: benches/sidecar/flood.sh [USERS ITEMS INTERACTIONS] (default 20000 5000 300000)
set -- "${1:-20000}" "${2:-5000}" "${3:-300000}"
BENCH_NAME=flood DURATION=${DURATION:-10}
source "$(dirname "$0")/common.sh"
VICTIMS=${VICTIMS:-4} ATTACKERS=${ATTACKERS:-16} PACE=${PACE:-80}

cat >"$OUT/valid.lua" <<LUA
wrk.headers["X-API-Key"] = "$KEY"
math.randomseed(11)
request = function()
    return wrk.format("GET", string.format("/v1/users/u%06d/recommendations?k=10&model=als64", math.random(0, $USERS - 1)))
end
done = function(summary, latency, requests)
    io.write(string.format("RESULT requests=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d errors=%d\\n",
        summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
cat >"$OUT/unknown.lua" <<LUA
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local function random_key()
    local t = {}
    for i = 1, 52 do
        local k = math.random(1, #alphabet)
        t[i] = alphabet:sub(k, k)
    end
    return "rsk_" .. table.concat(t)
end
math.randomseed(os.time())
delay = function() return $PACE end
request = function()
    return wrk.format("GET", "/v1/models", { ["X-API-Key"] = random_key() })
end
done = function(summary, latency, requests)
    io.write(string.format("ATTACK requests=%d non2xx=%d p99_ms=%.3f\\n", summary.requests,
        summary.errors.status, latency:percentile(99) / 1000))
end
LUA

run_valid() { wrk -t 1 -c "$VICTIMS" -d "${DURATION}s" -s "$OUT/valid.lua" "http://127.0.0.1:$PORT" | grep '^RESULT'; }
# Warm-up: the key is verified and the model decoded in every pooled backend.
wrk -t 1 -c "$VICTIMS" -d 3s -s "$OUT/valid.lua" "http://127.0.0.1:$PORT" >/dev/null
alone=$(run_valid)
wrk -t 1 -c "$ATTACKERS" -d "$((DURATION + 1))s" -s "$OUT/unknown.lua" "http://127.0.0.1:$PORT" >"$OUT/attack.out" &
attack=$!
sleep 0.5
flooded=$(run_valid)
wait $attack
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "valid key, $VICTIMS connections, ${DURATION}s, alone:          $alone"
echo "valid key, $VICTIMS connections, ${DURATION}s, under the flood: $flooded"
echo "the flood ($ATTACKERS connections, one request per ${PACE} ms each): $(grep '^ATTACK' "$OUT/attack.out")"
grep -o '"level":"[A-Z]*"' "$OUT/sidecar.log" | sort | uniq -c | sed 's/^/sidecar log: /' || true
