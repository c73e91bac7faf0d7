-- Issue 7: each image's denoising journey (an animated GIF in the image files), when one was recorded.

ALTER TABLE images ADD COLUMN journey_sha256 TEXT;
