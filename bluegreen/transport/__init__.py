"""Layer 5, transport: the only code that talks SSH (``ssh``: connections with verified
host keys, sudo, HTTP(S) over SSH channels, the dry-run remote) and the known_hosts lines
paramiko does not understand."""
