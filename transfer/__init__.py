"""HTTP plumbing both faces share: the streaming multipart reader and file responses."""
