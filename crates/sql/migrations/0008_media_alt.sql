-- A description of an upload for people who cannot see it (the image's alternative text).

ALTER TABLE media ADD COLUMN alt TEXT;
