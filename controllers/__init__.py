"""Adapters to member servers: the federation link protocol (sans-I/O) and its asyncio client."""
