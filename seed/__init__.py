"""Seeding the repository from mongodump archives and directories, and dumping it back."""
