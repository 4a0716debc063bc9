"""examples/ci/README.md agrees with the files it explains: its links resolve, and the names it tells users to
create (secrets, variable group, service connection, environments, the script's path) are the ones the
pipelines use."""

from __future__ import annotations

import re

from tests.ci_examples.pipelines import ADO_PIPELINE, CI, COMMENT_SCRIPT_IN_REPO, GITHUB_WORKFLOW, ROOT, load

README = CI / "README.md"
PR_WORKFLOW = ROOT / "docs" / "pr-workflow.md"
# Written alongside this page by other work; its link is checked once it exists.
BEING_WRITTEN = {ROOT / "docs" / "state-backends.md"}


def _relative_links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


def test_links_resolve() -> None:
    for page in (README, PR_WORKFLOW):
        links = _relative_links(page.read_text(encoding="utf-8"))
        assert links
        for link in links:
            target = (page.parent / link.partition("#")[0]).resolve()
            assert target.exists() or target in BEING_WRITTEN, f"{page.name}: {link}"
    assert "../examples/ci/README.md" in _relative_links(PR_WORKFLOW.read_text(encoding="utf-8"))


def test_the_names_it_asks_for_are_the_pipelines_names() -> None:
    text = README.read_text(encoding="utf-8")
    github = GITHUB_WORKFLOW.read_text(encoding="utf-8")
    ado = load(ADO_PIPELINE)
    ado_text = ADO_PIPELINE.read_text(encoding="utf-8")
    for secret in ("RECONCILER_SOURCE_CLIENT_SECRET", "RECONCILER_TARGET_CLIENT_SECRET"):
        assert f"client_secret_env: {secret}" in text
        assert f"${{{{ secrets.{secret} }}}}" in github
        key_vault_name = secret.lower().replace("_", "-")
        assert f"`{key_vault_name}`" in text
        assert f"$({key_vault_name})" in ado_text
    [group] = [v["group"] for v in ado["variables"] if "group" in v]
    assert f"`{group}`" in text
    assert "azureSubscription: reconciler-state" in ado_text
    assert "`reconciler-state`" in text
    assert "environment: reconciler-apply" in github
    assert "environment: reconciler-apply" in ado_text
    assert "`reconciler-apply`" in text
    assert "vars.AZURE_CLIENT_ID" in github
    assert "`AZURE_CLIENT_ID`" in text
    assert f"`{COMMENT_SCRIPT_IN_REPO}`" in text
    assert COMMENT_SCRIPT_IN_REPO in github
    assert COMMENT_SCRIPT_IN_REPO in ado_text
    assert "RECONCILER_WORKSPACE: migration" in github
    assert "`migration/`" in text
