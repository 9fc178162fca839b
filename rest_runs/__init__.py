"""The REST face of training runs and their rounds: routes of our own, beside the original's."""
