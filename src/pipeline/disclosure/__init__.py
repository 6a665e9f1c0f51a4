"""Disclosure control: the release as a linear model, primary and secondary suppression, the audit attacking it."""
