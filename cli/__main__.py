"""`python -m ivcrush.cli`: the `ivcrush` command without its installed script."""

from ivcrush.cli.app import main

if __name__ == "__main__":
    main()
