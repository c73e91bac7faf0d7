"""Regions: a lattice over images where a group marks what it likes and dislikes, and the edits made from it."""
