"""The SMTP acceptance probe: does the MX a stage points at take mail for the domain?

DNS checks prove records are served; mail is lost elsewhere (a new provider that does not yet
know the domain answers `550 5.4.1`, a stale host `451 4.4.62`). The probe opens an SMTP session
to every MX host, asks RCPT TO for each probe recipient and hangs up: it never sends DATA.
"""
