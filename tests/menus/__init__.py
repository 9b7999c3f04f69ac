"""Tests of the menus package: the call flow between a scripted channel and in-memory services."""
