"""The `ivcrush` commands by subject; `ivcrush.cli.app` registers them."""
