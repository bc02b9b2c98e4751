"""The MTA-STS policy lifecycle (RFC 8461): the policy file the stages render, where it is
published, how the served one is fetched, and how a run changes and a rollback restores it.

policy.py   the file format and the mx matching rules (pure)
publish.py  the publish targets: a directory a web server serves, or an S3 bucket
fetch.py    the served policy over HTTPS, certificate verified
lifecycle.py what each stage publishes, the `_mta-sts` TXT id, the gate, the rollback
"""
