-- The builds a bundle holds (`Manifest.Variant`: name, requirements, files, size, as JSON;
-- NULL for a bundle of one build), and the build each device in a deployment chose.
ALTER TABLE bundles ADD COLUMN variants TEXT;
ALTER TABLE deployment_devices ADD COLUMN variant TEXT;
