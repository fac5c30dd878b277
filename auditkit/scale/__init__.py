"""Scale-out: the same audit on a Ray cluster (optional extra, `requirements-ray.txt`) or streamed in chunks locally."""
