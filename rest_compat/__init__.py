"""The original REST API (API.md §3), route for route, over the same operations as GraphQL."""
