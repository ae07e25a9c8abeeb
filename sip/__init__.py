"""The SIP redirect service: sans-I/O parser, pure redirect policy, UDP/TCP/TLS transport."""
