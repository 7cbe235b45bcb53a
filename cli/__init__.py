"""The `ivcrush` command line: parses arguments and renders results."""
