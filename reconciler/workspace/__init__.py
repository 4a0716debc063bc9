"""The workspace: ``reconciler.yaml`` (tenants, credentials by reference, endpoints, state backend,
defaults) tied to the spec files it selects; formatting, scaffolding and schema files for both.
"""
