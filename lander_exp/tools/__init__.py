"""What reads finished runs or starts many of them, and never trains itself: report, analyze,
evaluate, sweep."""
