"""Adapters: the database, storage and outside services the services run on."""
