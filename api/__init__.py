"""The HTTP API: parse, authenticate, call a service, map its errors. Nothing more."""
