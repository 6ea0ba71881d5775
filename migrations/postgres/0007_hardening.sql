-- Limits on what devices can make the registry keep (see migrations/0007_hardening.sql).

-- Installed versions are counted only for published bundles (name, version and digest).
DROP TRIGGER installed_counts_insert ON installed;
DROP TRIGGER installed_counts_update ON installed;
DROP TRIGGER installed_counts_delete ON installed;
CREATE OR REPLACE FUNCTION installed_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND EXISTS (SELECT 1 FROM bundles WHERE digest = OLD.digest AND name = OLD.bundle_name AND version = OLD.version) THEN
        UPDATE installed_counts SET count = installed_counts.count - 1 WHERE bundle_name = OLD.bundle_name AND version = OLD.version;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND EXISTS (SELECT 1 FROM bundles WHERE digest = NEW.digest AND name = NEW.bundle_name AND version = NEW.version) THEN
        INSERT INTO installed_counts (bundle_name, version, count) VALUES (NEW.bundle_name, NEW.version, 1)
            ON CONFLICT (bundle_name, version) DO UPDATE SET count = installed_counts.count + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER installed_counts_insert AFTER INSERT ON installed FOR EACH ROW EXECUTE FUNCTION installed_counts_change();
CREATE TRIGGER installed_counts_update AFTER UPDATE OF version, bundle_name, digest ON installed FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.bundle_name IS DISTINCT FROM NEW.bundle_name OR OLD.digest IS DISTINCT FROM NEW.digest)
    EXECUTE FUNCTION installed_counts_change();
CREATE TRIGGER installed_counts_delete AFTER DELETE ON installed FOR EACH ROW EXECUTE FUNCTION installed_counts_change();

CREATE FUNCTION installed_counts_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO installed_counts (bundle_name, version, count)
        SELECT NEW.name, NEW.version, COUNT(*) FROM installed
         WHERE bundle_name = NEW.name AND version = NEW.version AND digest = NEW.digest
         GROUP BY bundle_name, version
        ON CONFLICT (bundle_name, version) DO UPDATE SET count = excluded.count;
    RETURN NULL;
END $$;
CREATE TRIGGER installed_counts_publish AFTER INSERT ON bundles FOR EACH ROW EXECUTE FUNCTION installed_counts_publish();

DELETE FROM installed_counts;
INSERT INTO installed_counts (bundle_name, version, count)
    SELECT i.bundle_name, i.version, COUNT(*) FROM installed i
      JOIN bundles b ON b.digest = i.digest AND b.name = i.bundle_name AND b.version = i.version
     GROUP BY i.bundle_name, i.version;

CREATE INDEX events_by_received ON events (received_at);
CREATE INDEX model_reports_by_received ON model_reports (received_at);
