"""What every stage shares: the file layout, atomic file writes, content hashes, log lines, stage timing."""
