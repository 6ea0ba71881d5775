-- Instances wake when the change feed grows instead of waiting for their next poll: each
-- statement that adds feed rows sends one notification on 'ota_registry_changes', delivered
-- to the listening instances when its transaction commits (and never if it rolls back). The
-- feed stays the source of truth: a notification carries nothing, it only says "read now",
-- and a slower poll still reads the feed should notifications be lost.
CREATE FUNCTION registry_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ota_registry_changes', '');
    RETURN NULL;
END $$;
CREATE TRIGGER registry_changes_notify AFTER INSERT ON registry_changes
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changes_notify();
