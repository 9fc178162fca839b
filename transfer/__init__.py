"""HTTP plumbing the faces share: multipart, file responses, what the REST routes depend on."""
