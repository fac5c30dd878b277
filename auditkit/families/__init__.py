"""Model families: everything that differs between kinds of model lives in one family module each.

A family sniffs its format from the bytes, checks a checkpoint without deserialising it (app process), loads it
and runs its batched forward pass (worker process), and maps a validated dataset to its inputs. `registry` holds
them; adding a family is one module plus `register(...)` (see docs/architecture.md).
"""
