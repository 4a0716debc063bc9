"""Who is running: a person at a machine, or the CI run (GitHub Actions, Azure Pipelines), for lock holders.

A lock names its holder so that whoever meets it knows which person or pipeline to ask before running
`reconciler state unlock`; this is the one place that reads the CI variables for it.
"""

from __future__ import annotations

import getpass
import os
import socket


def who() -> str:
    """A person, or the CI run: `state unlock` users need to know which pipeline to look at."""
    env = os.environ
    if env.get("GITHUB_ACTIONS") == "true":
        server, repository = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
        run = f"{server}/{repository}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
        return f"{env.get('GITHUB_ACTOR', 'github')} via GitHub Actions {run}"
    if env.get("TF_BUILD") == "True":  # Azure Pipelines sets TF_BUILD on every agent
        return (
            f"{env.get('BUILD_REQUESTEDFOR', 'azure-pipelines')} via Azure Pipelines "
            f"{env.get('BUILD_DEFINITIONNAME', '')} build {env.get('BUILD_BUILDID', '')}"
        )
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return f"pid {os.getpid()}@{socket.gethostname()}"
