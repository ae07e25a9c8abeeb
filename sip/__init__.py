"""The SIP redirect service: sans-I/O message parser, pure redirect policy, UDP/TCP/TLS transport."""
