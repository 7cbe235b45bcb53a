"""Data-quality suites (Great Expectations) on the raw 2.0 tables and on the dbt marts.

Every check reports in one format (`report`): the expectations defined in code (`raw`, `marts`, run by `gx`
in an ephemeral context: no project folder, no cloud, no analytics) and a few distribution checks in pandas
where GE has no fitting expectation (`distribution`). `docs` writes a report to disk; `validation` composes
the whole `ivcrush validate`.
"""
