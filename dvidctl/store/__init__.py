"""Storage: engines, the versioned key-value layer, the commit DAG and metadata."""
