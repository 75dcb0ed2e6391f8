"""Real servers on loopback for delivery tests: SFTP (asyncssh), SMTP (aiosmtpd),
FTP/FTPS (pyftpdlib) and S3 (moto). Fixtures live in tests.servers.fixtures.

Each server object has `start()` / `stop()` (same port again after a restart, so a
test can take a destination down and bring it back) and a helper that gives the
integration delivery settings pointing at it.
"""
