-- The build of a bundle with variants each device runs, as it reports it.
ALTER TABLE installed ADD COLUMN variant TEXT;
