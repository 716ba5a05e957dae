"""``python -m mltools``: the same as the ``mltools`` console script."""

from mltools.cli.app import main

if __name__ == "__main__":
    main()
