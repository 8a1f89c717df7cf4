"""The Metabase dashboards as code: templates, their JSON export and provisioning via the API.

Reads only the views of ``soleflip_bi.views``; nothing downstream depends on it.
"""
