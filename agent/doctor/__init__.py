"""``provisioner-agent doctor``: the guide's troubleshooting chapters as a diagnosis. Facts
(agent/facts/probe.py, health.py) and the guide's log files are matched against the catalogue
(provisioner/platform/data/doctor.toml: checks.py holds the fact predicates it names,
diagnose.py the matching); report.py renders the findings (text or JSON) and the exit status.
Nothing here changes the host."""
