"""Resumable uploads by the tus protocol 1.0 at `/uploads/`: a face of its own."""
