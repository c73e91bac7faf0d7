"""Reading the event log for moderators: a member's recent actions, a job's history, moderation steps."""
