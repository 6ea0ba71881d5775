-- Several ota-server instances can share one database. What each keeps in memory for the
-- check-in path (devices, live deployments, who joined which, trust metadata) is then a cache,
-- and this feed keeps it coherent: triggers add a row for every change another instance must
-- see, in the same transaction, and each instance reads the rows after the last one it
-- applied about twice a second. Writes run one at a time, so `seq` grows in commit order.
CREATE TABLE registry_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '',
    at_epoch  INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX registry_changes_by_age ON registry_changes (at_epoch);

-- Rows up to `pruned_through` were deleted: an instance that had not read that far reloads
-- everything instead.
CREATE TABLE registry_change_horizon (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through  INTEGER NOT NULL
);
INSERT INTO registry_change_horizon (id, pruned_through) VALUES (1, 0);

-- A device's identity: what authenticating it and choosing its deployments read.
CREATE TRIGGER devices_feed_update AFTER UPDATE OF token_hash, hardware, group_name, public_key, status, session_epoch ON devices
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('device', NEW.id); END;
CREATE TRIGGER devices_feed_delete AFTER DELETE ON devices
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('device_deleted', OLD.id); END;
CREATE TRIGGER device_tags_feed_insert AFTER INSERT ON device_tags
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('device', NEW.device_id); END;
CREATE TRIGGER device_tags_feed_delete AFTER DELETE ON device_tags
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('device', OLD.device_id); END;

CREATE TRIGGER deployments_feed_insert AFTER INSERT ON deployments
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('deployment', NEW.id); END;
CREATE TRIGGER deployments_feed_update AFTER UPDATE ON deployments
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('deployment', NEW.id); END;
CREATE TRIGGER deployments_feed_delete AFTER DELETE ON deployments
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('deployment', OLD.id); END;

CREATE TRIGGER deployment_devices_feed_insert AFTER INSERT ON deployment_devices
BEGIN INSERT INTO registry_changes (kind, key, detail) VALUES ('membership', NEW.deployment_id, NEW.device_id); END;
CREATE TRIGGER deployment_devices_feed_update AFTER UPDATE OF state, phase ON deployment_devices
    WHEN OLD.state IS NOT NEW.state OR OLD.phase IS NOT NEW.phase
BEGIN INSERT INTO registry_changes (kind, key, detail) VALUES ('membership', NEW.deployment_id, NEW.device_id); END;
CREATE TRIGGER deployment_devices_feed_delete AFTER DELETE ON deployment_devices
BEGIN INSERT INTO registry_changes (kind, key, detail) VALUES ('membership', OLD.deployment_id, OLD.device_id); END;

CREATE TRIGGER trust_metadata_feed_insert AFTER INSERT ON trust_metadata
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('trust', NEW.role); END;
CREATE TRIGGER trust_metadata_feed_update AFTER UPDATE ON trust_metadata
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('trust', NEW.role); END;

-- New figures for a deployment: its gates are checked again.
CREATE TRIGGER model_reports_feed_insert AFTER INSERT ON model_reports WHEN NEW.deployment_id IS NOT NULL
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('quality', NEW.deployment_id); END;
CREATE TRIGGER model_reports_feed_update AFTER UPDATE ON model_reports WHEN NEW.deployment_id IS NOT NULL
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('quality', NEW.deployment_id); END;

-- Admission limits are counted in the database: devices that joined a deployment lately.
CREATE INDEX deployment_devices_by_assigned ON deployment_devices (deployment_id, assigned_epoch);

-- A deployment's status sums the transfers of the devices that reported one; with the whole
-- fleet in a rollout, reading them from the table would visit every membership.
CREATE INDEX deployment_devices_transfers ON deployment_devices (deployment_id, bytes_fetched, bytes_total) WHERE bytes_total IS NOT NULL;
