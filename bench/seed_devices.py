#!/usr/bin/env python3
"""Seeds N registered devices straight into a stopped server's SQLite file and writes a wrk
Lua script that checks in as every device in turn.

    seed_devices.py DB N LUA_OUT [installed-digest] [--signed] [--trust-report JSON]

Without --signed: devices from before device keys, with bearer tokens ota_dev_bench_<i>
(the server stores only their SHA-256). With --signed: devices with keys, each request
signed as the agent signs it (RFC 9421, HMAC-SHA256 under a session key). The sessions are
made here from the server's session secret, as the server would make them (a session costs
the device one Ed25519 proof an hour, which this benchmark leaves out: it measures what every
check-in costs); their signatures are made once, so they must be used within 300 s.
With --trust-report: each check-in also carries a nonce and that trust report, so a server
with a TUF root answers with a signed answer (devices "btuf-N").
With --ddi: DDI devices (SWUpdate, RAUC) with tokens ota_ddi_bench_<i>, polled as hawkBit's
clients poll (GET /default/controller/v1/bddi-N, Authorization: TargetToken).
"""
import base64, hashlib, hmac, os, sqlite3, sys, time

arguments = sys.argv[1:]
trust_report = None
if "--trust-report" in arguments:
    index = arguments.index("--trust-report")
    trust_report = arguments[index + 1]
    arguments = arguments[:index] + arguments[index + 2:]
ddi = "--ddi" in arguments
signed = "--signed" in arguments or trust_report is not None
arguments = [a for a in arguments if a not in ("--signed", "--ddi")]
db, count, lua_out = arguments[0], int(arguments[1]), arguments[2]
digest = arguments[3] if len(arguments) > 3 else "a" * 64
body = '{"installed":[{"digest":"%s","name":"model","state":"committed","version":"1.0.0"}]' % digest
if trust_report:
    # One nonce for all: the server signs whatever nonce it gets; only devices check them.
    body += ',"nonce":"%s","trust":%s' % ("0" * 32, trust_report)
body += "}"
prefix = "btuf" if trust_report else "bsig" if signed else "bddi" if ddi else "bench"
con = sqlite3.connect(db)
with con:
    con.execute(f"DELETE FROM devices WHERE id LIKE '{prefix}-%'")
    if signed:
        keys = [os.urandom(32) for _ in range(count)]
        epochs = [os.urandom(16).hex() for _ in range(count)]
        con.executemany(
            "INSERT INTO devices (id, token_hash, hardware, attributes, registered_at, last_seen, public_key, status, session_epoch) "
            "VALUES (?, ?, 'bench-hw', '{}', '2026-11-29T00:00:00Z', 0, ?, 'accepted', ?)",
            ((f"{prefix}-{i:06d}", f"key:{prefix}-{i:06d}", base64.b64encode(keys[i]).decode(), epochs[i]) for i in range(count)))
    elif ddi:
        con.executemany(
            "INSERT INTO devices (id, token_hash, hardware, attributes, registered_at, last_seen, protocol) VALUES (?, ?, 'bench-hw', '{\"board\":\"bench\"}', '2026-11-29T00:00:00Z', 0, 'ddi')",
            ((f"{prefix}-{i:06d}", hashlib.sha256(f"ota_ddi_bench_{i}".encode()).hexdigest()) for i in range(count)))
    else:
        con.executemany(
            "INSERT INTO devices (id, token_hash, hardware, attributes, registered_at, last_seen) VALUES (?, ?, 'bench-hw', '{}', '2026-11-29T00:00:00Z', 0)",
            ((f"{prefix}-{i:06d}", hashlib.sha256(f"ota_dev_bench_{i}".encode()).hexdigest()) for i in range(count)))
    secret = con.execute("SELECT value FROM server_secrets WHERE name = 'device_sessions'").fetchone() if signed else None
con.close()

path = "/api/v1/device/checkin"
if signed:
    secret = bytes.fromhex(secret[0])
    content_digest = "sha-256=:%s:" % base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    created = int(time.time())
    entries = []
    for i in range(count):
        session = f"s1:{prefix}-{i:06d}:{epochs[i]}:{created + 3000}:{os.urandom(8).hex()}"
        session_key = hmac.new(secret, session.encode(), hashlib.sha256).digest()
        params = f'("@method" "@path" "content-digest");created={created};keyid="{session}";alg="hmac-sha256"'
        base = f'"@method": POST\n"@path": {path}\n"content-digest": {content_digest}\n"@signature-params": {params}'
        mac = base64.b64encode(hmac.new(session_key, base.encode(), hashlib.sha256).digest()).decode()
        entries.append(f"ota={params}\tota=:{mac}:")
    with open(lua_out + ".signatures", "w") as data:
        data.write("\n".join(entries) + "\n")
    # Read at start by each wrk thread (a Lua chunk cannot hold 100,000 constants).
    table = f'''local signatures = {{}}
for line in io.lines("{lua_out}.signatures") do
  local input, signature = line:match("^(.-)\\t(.*)$")
  signatures[#signatures + 1] = {{input, signature}}
end
'''
    per_request = f'''  local entry = signatures[(counter % count) + 1]
  wrk.headers["Content-Digest"] = "{content_digest}"
  wrk.headers["Signature-Input"] = entry[1]
  wrk.headers["Signature"] = entry[2]'''
elif ddi:
    table = ""
    per_request = '''  local index = counter % count
  wrk.headers["Authorization"] = "TargetToken ota_ddi_bench_" .. index
  wrk.headers["Accept"] = "application/json"
  do return wrk.format("GET", string.format("/default/controller/v1/bddi-%06d", index), nil, "") end'''
else:
    table = ""
    per_request = '''  wrk.headers["Authorization"] = "Bearer ota_dev_bench_" .. (counter % count)'''

with open(lua_out, "w") as f:
    f.write(f"""
-- Each wrk thread walks the devices from its own offset.
{table}local count = {count}
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
wrk.path = "{path}"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
{per_request}
  return wrk.format()
end
""")
