"""Maintenance an operator asks for: erasing a respondent, rebuilding staging, core and marts from raw."""
