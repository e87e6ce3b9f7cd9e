"""The export job: streams of Graph records into Blob Storage as gzip NDJSON, exactly once, and its fan-out."""
