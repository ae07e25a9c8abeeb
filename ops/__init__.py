"""Admin jobs and sidecars: the `fedhub` command line, sync, backups, scheduler."""
