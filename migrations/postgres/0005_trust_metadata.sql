-- TUF metadata the server serves to devices: the root chain (every version, so a device can
-- walk from the one it has), the release (targets) metadata operators publish, and the
-- snapshot and timestamp the server signs itself. Envelopes are stored byte for byte: hashes
-- in snapshot and timestamp cover the exact bytes.
CREATE TABLE trust_metadata (
    role       TEXT NOT NULL CHECK (role IN ('root', 'targets', 'snapshot', 'timestamp')),
    version    BIGINT NOT NULL CHECK (version > 0),
    envelope   BYTEA NOT NULL,
    stored_at  TEXT NOT NULL,
    PRIMARY KEY (role, version)
);

-- What each device last said it trusts (DeviceAPI.TrustReport as JSON): root and release
-- versions, the release expiry, its channel and any trust problem.
ALTER TABLE devices ADD COLUMN trust TEXT;
