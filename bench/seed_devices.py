#!/usr/bin/env python3
"""Seeds N registered devices straight into a stopped server's SQLite file, with tokens
ota_dev_bench_<i> (the server stores only their SHA-256), and writes a wrk Lua script that
checks in as every device in turn. Usage: seed_devices.py DB N LUA_OUT [installed-digest]"""
import hashlib, sqlite3, sys

db, count, lua_out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
digest = sys.argv[4] if len(sys.argv) > 4 else "a" * 64
con = sqlite3.connect(db)
with con:
    con.execute("DELETE FROM devices WHERE id LIKE 'bench-%'")
    con.executemany(
        "INSERT INTO devices (id, token_hash, hardware, attributes, registered_at, last_seen) VALUES (?, ?, 'bench-hw', '{}', '2026-11-29T00:00:00Z', 0)",
        ((f"bench-{i:06d}", hashlib.sha256(f"ota_dev_bench_{i}".encode()).hexdigest()) for i in range(count)))
con.close()

body = '{"installed":[{"digest":"%s","name":"model","state":"committed","version":"1.0.0"}]}' % digest
with open(lua_out, "w") as f:
    f.write(f"""
-- Each wrk thread walks the device tokens from its own offset.
local count = {count}
local counter = 0
local offset = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function init(args)
  counter = offset
end
wrk.method = "POST"
wrk.path = "/api/v1/device/checkin"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  wrk.headers["Authorization"] = "Bearer ota_dev_bench_" .. (counter % count)
  return wrk.format()
end
""")
