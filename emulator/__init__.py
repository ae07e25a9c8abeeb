"""Reference member server: speaks the federation link, emulates conferences and venues."""
