-- Devices that keep their own update client (SWUpdate's suricatta, a RAUC hawkBit client)
-- and speak hawkBit's DDI API. They authenticate with a per-device token (stored hashed in
-- token_hash, as bearer devices did) that works only on their own controller id.
ALTER TABLE devices ADD COLUMN protocol TEXT NOT NULL DEFAULT 'agent' CHECK (protocol IN ('agent', 'ddi'));

-- The SHA-1 and MD5 of a client image, which those clients check (they know no SHA-256).
-- Computed once per file, when a DDI device first asks for its deployment.
CREATE TABLE artifact_digests (
    digest  TEXT PRIMARY KEY,
    sha1    TEXT NOT NULL,
    md5     TEXT NOT NULL
);
