"""Domain code of the rrweb-s3-storage API: everything routes call into."""
