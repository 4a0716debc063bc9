"""Declarative plan/apply reconciler for Microsoft Graph's SharePoint cross-tenant migration API."""

__version__ = "0.1.0"
