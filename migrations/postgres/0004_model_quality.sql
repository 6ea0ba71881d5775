-- Models that prove themselves: a deployment's shadow phase and quality gates, and what
-- devices measured of each model.
ALTER TABLE deployments ADD COLUMN shadow TEXT;           -- JSON ShadowPolicy for the devices, or NULL
ALTER TABLE deployments ADD COLUMN gates TEXT;            -- JSON array of gate texts ("agreement>=0.97"), or NULL
ALTER TABLE deployments ADD COLUMN gate_min_devices BIGINT;
-- The phase whose failing gates an operator accepted by resuming: they no longer hold it.
ALTER TABLE deployments ADD COLUMN gates_waived_phase BIGINT;

-- The latest report of each kind per device and version: 'shadow' (the candidate beside the
-- live model, with the device's verdict) or 'live' (the committed model, from metrics_command).
-- `deployment_id` attributes it to the rollout that brought the version, when known.
CREATE TABLE model_reports (
    device_id      TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    bundle_name    TEXT NOT NULL,
    version        TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('shadow', 'live')),
    deployment_id  TEXT,
    passed         BIGINT,
    report         TEXT NOT NULL,
    at             TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    PRIMARY KEY (device_id, bundle_name, version, source)
);
CREATE INDEX model_reports_by_deployment ON model_reports (deployment_id, source);
CREATE INDEX model_reports_by_version ON model_reports (bundle_name, version, source);
