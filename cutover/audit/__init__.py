"""`invoke audit`: an inventory of each domain's mail DNS, read from the authoritative servers,
and the risks of cutting it over. collect.py reads, risks.py judges, report.py assembles the
document (the JSON schema is in the README), render_text.py / render_html.py present it."""
