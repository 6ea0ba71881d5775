-- What each device last said it is (a DeviceInventory, as JSON), and which devices a
-- deployment is for beyond its target (an InventoryCondition, as its text).
ALTER TABLE devices ADD COLUMN inventory TEXT;
ALTER TABLE deployments ADD COLUMN inventory_filter TEXT;

-- Deployment filters read the inventory from every instance's cache: a change to it goes
-- through the change feed like a change of tags or group.
DROP TRIGGER devices_feed_update;
CREATE TRIGGER devices_feed_update AFTER UPDATE OF token_hash, hardware, group_name, public_key, status, session_epoch, inventory ON devices
BEGIN INSERT INTO registry_changes (kind, key) VALUES ('device', NEW.id); END;
