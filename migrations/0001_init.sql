-- The fleet registry's schema. Applied once, in a transaction, by ota-server at start.
-- Times: *_at TEXT columns are RFC 3339 UTC; last_seen, expires_at and *_epoch are Unix seconds.

-- Admin-API tokens. Only the SHA-256 of each secret is stored.
CREATE TABLE admin_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'publisher', 'operator', 'admin')),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Tokens a device presents once, to register.
CREATE TABLE enrollment_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER,
    tags        TEXT NOT NULL DEFAULT '[]',
    group_name  TEXT,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE devices (
    id                   TEXT PRIMARY KEY,
    token_hash           TEXT NOT NULL UNIQUE,
    hardware             TEXT NOT NULL,
    attributes           TEXT NOT NULL DEFAULT '{}',
    group_name           TEXT,
    enrollment_token_id  TEXT,
    registered_at        TEXT NOT NULL,
    last_seen            INTEGER,
    -- The latest update state the device reported ('idle' until its first update).
    state                TEXT NOT NULL DEFAULT 'idle'
);
CREATE INDEX devices_by_hardware ON devices (hardware, id);
CREATE INDEX devices_by_state ON devices (state, id);
CREATE INDEX devices_by_last_seen ON devices (last_seen);
CREATE INDEX devices_by_group ON devices (group_name, id);

CREATE TABLE device_tags (
    device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    PRIMARY KEY (device_id, tag)
);
CREATE INDEX device_tags_by_tag ON device_tags (tag, device_id);

-- What each device last said it runs, per bundle name.
CREATE TABLE installed (
    device_id    TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    bundle_name  TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    state        TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (device_id, bundle_name)
);
CREATE INDEX installed_by_bundle ON installed (bundle_name, version, device_id);

-- How many devices run each version of each bundle name, kept by triggers so that fleet
-- overviews cost the same for any fleet size.
CREATE TABLE installed_counts (
    bundle_name  TEXT NOT NULL,
    version      TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (bundle_name, version)
);
CREATE TRIGGER installed_counts_insert AFTER INSERT ON installed BEGIN
    INSERT INTO installed_counts (bundle_name, version, count) VALUES (NEW.bundle_name, NEW.version, 1)
        ON CONFLICT (bundle_name, version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER installed_counts_update AFTER UPDATE OF version, bundle_name ON installed
    WHEN OLD.version IS NOT NEW.version OR OLD.bundle_name IS NOT NEW.bundle_name BEGIN
    UPDATE installed_counts SET count = count - 1 WHERE bundle_name = OLD.bundle_name AND version = OLD.version;
    INSERT INTO installed_counts (bundle_name, version, count) VALUES (NEW.bundle_name, NEW.version, 1)
        ON CONFLICT (bundle_name, version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER installed_counts_delete AFTER DELETE ON installed BEGIN
    UPDATE installed_counts SET count = count - 1 WHERE bundle_name = OLD.bundle_name AND version = OLD.version;
END;

-- Content-addressed payload files; a row exists only once the file is complete on disk.
CREATE TABLE content (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE bundles (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    -- The version without build metadata: 1.0.0+a and 1.0.0+b are the same version.
    version_key   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    digest        TEXT NOT NULL UNIQUE,
    envelope      BLOB NOT NULL,
    compatible    TEXT NOT NULL,
    size          INTEGER NOT NULL,
    signers       TEXT NOT NULL,
    created       TEXT NOT NULL,
    metadata      TEXT,
    health        TEXT,
    published_at  TEXT NOT NULL,
    published_by  TEXT NOT NULL,
    UNIQUE (name, version_key)
);

CREATE TABLE bundle_files (
    bundle_id  INTEGER NOT NULL REFERENCES bundles (id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (bundle_id, path)
);
CREATE INDEX bundle_files_by_digest ON bundle_files (digest);

CREATE TABLE deployments (
    id                         TEXT PRIMARY KEY,
    seq                        INTEGER NOT NULL UNIQUE,
    bundle_id                  INTEGER NOT NULL REFERENCES bundles (id),
    bundle_name                TEXT NOT NULL,
    target                     TEXT NOT NULL,
    phases                     TEXT NOT NULL,
    current_phase              INTEGER NOT NULL DEFAULT 0,
    phase_started_epoch        INTEGER NOT NULL,
    status                     TEXT NOT NULL CHECK (status IN ('active', 'paused', 'cancelled')),
    paused_reason              TEXT,
    auto_advance               INTEGER NOT NULL DEFAULT 0,
    soak_s                     INTEGER NOT NULL DEFAULT 0,
    success_ratio              REAL NOT NULL DEFAULT 1.0,
    failure_threshold_count    INTEGER,
    failure_threshold_percent  REAL,
    failure_min_finished       INTEGER NOT NULL DEFAULT 0,
    rate_limit_per_minute      INTEGER,
    -- When the current phase first reached its success ratio (the soak time runs from here).
    soak_started_epoch         INTEGER,
    -- Failures and finished devices already accepted by a resume; thresholds count beyond them.
    failure_baseline           INTEGER NOT NULL DEFAULT 0,
    finished_baseline          INTEGER NOT NULL DEFAULT 0,
    created_at                 TEXT NOT NULL,
    created_by                 TEXT NOT NULL,
    finished_at                TEXT
);
CREATE INDEX deployments_by_status ON deployments (status, seq);

-- Which devices a deployment reached, in which phase, and how far each got.
CREATE TABLE deployment_devices (
    deployment_id  TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    device_id      TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    phase          INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'downloading', 'installing', 'succeeded', 'failed', 'rolled_back')),
    detail         TEXT NOT NULL DEFAULT '',
    assigned_epoch INTEGER NOT NULL,
    updated_epoch  INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, device_id)
);
CREATE INDEX deployment_devices_by_device ON deployment_devices (device_id);

-- Counts per deployment, phase and state, and failure reasons, kept by triggers in the same
-- transaction as every change above: a deployment's status never scans its devices.
CREATE TABLE deployment_counts (
    deployment_id  TEXT NOT NULL,
    phase          INTEGER NOT NULL,
    state          TEXT NOT NULL,
    count          INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, phase, state)
);
CREATE TABLE deployment_failures (
    deployment_id  TEXT NOT NULL,
    reason         TEXT NOT NULL,
    count          INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, reason)
);

CREATE TRIGGER deployment_devices_insert AFTER INSERT ON deployment_devices BEGIN
    INSERT INTO deployment_counts (deployment_id, phase, state, count) VALUES (NEW.deployment_id, NEW.phase, NEW.state, 1)
        ON CONFLICT (deployment_id, phase, state) DO UPDATE SET count = count + 1;
    INSERT INTO deployment_failures (deployment_id, reason, count)
        SELECT NEW.deployment_id, substr(NEW.detail, 1, 200), 1 WHERE NEW.state IN ('failed', 'rolled_back')
        ON CONFLICT (deployment_id, reason) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER deployment_devices_update AFTER UPDATE OF state, phase, detail ON deployment_devices
    WHEN OLD.state IS NOT NEW.state OR OLD.phase IS NOT NEW.phase OR OLD.detail IS NOT NEW.detail BEGIN
    UPDATE deployment_counts SET count = count - 1
        WHERE deployment_id = OLD.deployment_id AND phase = OLD.phase AND state = OLD.state;
    INSERT INTO deployment_counts (deployment_id, phase, state, count) VALUES (NEW.deployment_id, NEW.phase, NEW.state, 1)
        ON CONFLICT (deployment_id, phase, state) DO UPDATE SET count = count + 1;
    UPDATE deployment_failures SET count = count - 1
        WHERE OLD.state IN ('failed', 'rolled_back') AND deployment_id = OLD.deployment_id AND reason = substr(OLD.detail, 1, 200);
    INSERT INTO deployment_failures (deployment_id, reason, count)
        SELECT NEW.deployment_id, substr(NEW.detail, 1, 200), 1 WHERE NEW.state IN ('failed', 'rolled_back')
        ON CONFLICT (deployment_id, reason) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER deployment_devices_delete AFTER DELETE ON deployment_devices BEGIN
    UPDATE deployment_counts SET count = count - 1
        WHERE deployment_id = OLD.deployment_id AND phase = OLD.phase AND state = OLD.state;
    UPDATE deployment_failures SET count = count - 1
        WHERE OLD.state IN ('failed', 'rolled_back') AND deployment_id = OLD.deployment_id AND reason = substr(OLD.detail, 1, 200);
END;

-- Every update step devices report.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY,
    device_id      TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    deployment_id  TEXT,
    bundle_name    TEXT NOT NULL,
    version        TEXT NOT NULL,
    state          TEXT NOT NULL,
    detail         TEXT NOT NULL,
    at             TEXT NOT NULL,
    received_at    TEXT NOT NULL
);
CREATE INDEX events_by_device ON events (device_id, id);
CREATE INDEX events_by_deployment ON events (deployment_id, id);

-- Every admin action, by whom.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
