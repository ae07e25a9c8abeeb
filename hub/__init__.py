"""The live core of fedhub: pure domain logic (federation tree, number plan, cascade state).

Nothing here does I/O: no sockets, no database, no asyncio. Adapters in controllers/,
sip/, storage/ and dashboards/ feed it data and carry its outputs.
"""
