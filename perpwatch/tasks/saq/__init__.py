"""The distributed task backend on SAQ (Redis): the manager, the job function and its
names, the Redis keys for dedup and listing, the worker queue and the worker."""
