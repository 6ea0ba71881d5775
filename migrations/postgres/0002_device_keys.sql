-- Devices are keys. A device registers the Ed25519 public key it made, proves it holds it,
-- and authenticates every request with it (sessions opened by signed proofs); an operator
-- decides which devices are accepted. Devices registered before keys keep their bearer token
-- until they bind a key; then token_hash becomes 'key:' || id, which no secret hashes to.

ALTER TABLE devices ADD COLUMN public_key TEXT;
ALTER TABLE devices ADD COLUMN status TEXT NOT NULL DEFAULT 'accepted'
    CHECK (status IN ('pending', 'accepted', 'rejected'));
-- Changed (to a new random value) whenever the device's key or standing changes: a session
-- names it, so sessions from before a reject, a re-key or a re-registration stay dead.
ALTER TABLE devices ADD COLUMN session_epoch TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX devices_by_public_key ON devices (public_key) WHERE public_key IS NOT NULL;
CREATE INDEX devices_by_status ON devices (status, id);

-- What a device registering with a token may be: the token decides, not the device. Tokens
-- made before this keep accepting their devices at once, as they did.
ALTER TABLE enrollment_tokens ADD COLUMN hardware TEXT;
ALTER TABLE enrollment_tokens ADD COLUMN id_prefix TEXT;
ALTER TABLE enrollment_tokens ADD COLUMN auto_accept BIGINT NOT NULL DEFAULT 1;

-- Devices an operator imported with their keys (a factory list): accepted on first contact.
CREATE TABLE preauthorized_devices (
    device_id   TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL UNIQUE,
    hardware    TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',
    group_name  TEXT,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

-- Which phase a device lands in is a keyed hash of its id, with a secret per deployment,
-- so that nobody can choose ids that land in the canary phase.
ALTER TABLE deployments ADD COLUMN phase_secret TEXT;

-- Admin-API tokens may expire (Unix seconds).
ALTER TABLE admin_tokens ADD COLUMN expires_at BIGINT;

-- Secrets the server itself keeps (the key that derives device session keys).
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Nonces of device proofs (registration, sessions, key binding) seen within the proof window,
-- so that a captured proof is refused even after a restart or on another instance.
CREATE TABLE proof_nonces (
    nonce_key  TEXT PRIMARY KEY,
    created    BIGINT NOT NULL
);
CREATE INDEX proof_nonces_by_created ON proof_nonces (created);
