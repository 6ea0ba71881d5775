-- Limits on what devices can make the registry keep.

-- Installed versions are counted only for published bundles (name, version and digest): a
-- device reporting versions that were never published no longer adds rows for good. A count
-- is recomputed when its bundle is published, so devices that ran it before count too.
DROP TRIGGER installed_counts_insert;
DROP TRIGGER installed_counts_update;
DROP TRIGGER installed_counts_delete;
CREATE TRIGGER installed_counts_insert AFTER INSERT ON installed
    WHEN EXISTS (SELECT 1 FROM bundles WHERE digest = NEW.digest AND name = NEW.bundle_name AND version = NEW.version) BEGIN
    INSERT INTO installed_counts (bundle_name, version, count) VALUES (NEW.bundle_name, NEW.version, 1)
        ON CONFLICT (bundle_name, version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER installed_counts_update_old AFTER UPDATE OF version, bundle_name, digest ON installed
    WHEN (OLD.version IS NOT NEW.version OR OLD.bundle_name IS NOT NEW.bundle_name OR OLD.digest IS NOT NEW.digest)
     AND EXISTS (SELECT 1 FROM bundles WHERE digest = OLD.digest AND name = OLD.bundle_name AND version = OLD.version) BEGIN
    UPDATE installed_counts SET count = count - 1 WHERE bundle_name = OLD.bundle_name AND version = OLD.version;
END;
CREATE TRIGGER installed_counts_update_new AFTER UPDATE OF version, bundle_name, digest ON installed
    WHEN (OLD.version IS NOT NEW.version OR OLD.bundle_name IS NOT NEW.bundle_name OR OLD.digest IS NOT NEW.digest)
     AND EXISTS (SELECT 1 FROM bundles WHERE digest = NEW.digest AND name = NEW.bundle_name AND version = NEW.version) BEGIN
    INSERT INTO installed_counts (bundle_name, version, count) VALUES (NEW.bundle_name, NEW.version, 1)
        ON CONFLICT (bundle_name, version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER installed_counts_delete AFTER DELETE ON installed
    WHEN EXISTS (SELECT 1 FROM bundles WHERE digest = OLD.digest AND name = OLD.bundle_name AND version = OLD.version) BEGIN
    UPDATE installed_counts SET count = count - 1 WHERE bundle_name = OLD.bundle_name AND version = OLD.version;
END;
CREATE TRIGGER installed_counts_publish AFTER INSERT ON bundles BEGIN
    INSERT INTO installed_counts (bundle_name, version, count)
        SELECT NEW.name, NEW.version, COUNT(*) FROM installed
         WHERE bundle_name = NEW.name AND version = NEW.version AND digest = NEW.digest
         GROUP BY bundle_name, version
        ON CONFLICT (bundle_name, version) DO UPDATE SET count = excluded.count;
END;
-- Recount what is there now, by the new rule.
DELETE FROM installed_counts;
INSERT INTO installed_counts (bundle_name, version, count)
    SELECT i.bundle_name, i.version, COUNT(*) FROM installed i
      JOIN bundles b ON b.digest = i.digest AND b.name = i.bundle_name AND b.version = i.version
     GROUP BY i.bundle_name, i.version;

-- Events and figures are pruned after the retention (--event-retention), oldest first.
CREATE INDEX events_by_received ON events (received_at);
CREATE INDEX model_reports_by_received ON model_reports (received_at);
