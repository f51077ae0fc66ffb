"""Statistics, leaderboard tables, summaries and figures, computed from result records alone."""
