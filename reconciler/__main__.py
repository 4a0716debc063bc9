"""Allow ``python -m reconciler``."""

from reconciler.cli.main import run

if __name__ == "__main__":
    run()
