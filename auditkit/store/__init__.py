"""The audit store: audits, inputs, results, content-addressed artifacts, sign-offs and a trail sealed with a key
that vouches for every one of them."""
from auditkit.store.engine import DB_URL_ENV, StoreError
from auditkit.store.schema import SCHEMA_VERSION
from auditkit.store.store import ArtifactRef, AuditRecord, AuditStore, SignOff, StartupReport
from auditkit.store.trail import ChainCheck, Event

__all__ = ["DB_URL_ENV", "SCHEMA_VERSION", "ArtifactRef", "AuditRecord", "AuditStore", "ChainCheck", "Event",
           "SignOff", "StartupReport", "StoreError"]
