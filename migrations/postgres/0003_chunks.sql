-- Content-defined chunks of large payload files, from the signed manifests. A chunk is stored
-- in the content store like any other blob (by its SHA-256, once across every bundle), so a
-- file published as chunks is served by reading its chunks in order.
CREATE TABLE file_chunks (
    file_digest   TEXT NOT NULL,
    position      BIGINT NOT NULL,
    "offset"      BIGINT NOT NULL,
    length        BIGINT NOT NULL,
    chunk_digest  TEXT NOT NULL,
    PRIMARY KEY (file_digest, position)
);

-- What each device fetched for a deployment against the full size of what it needed:
-- the bytes a rollout saved by reusing files and chunks the devices already held.
ALTER TABLE deployment_devices ADD COLUMN bytes_fetched BIGINT;
ALTER TABLE deployment_devices ADD COLUMN bytes_total BIGINT;
