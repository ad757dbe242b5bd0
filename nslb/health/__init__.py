"""Operating status and statistics, derived from what the data plane reports."""
