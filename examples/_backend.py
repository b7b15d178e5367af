"""Shared by the examples: ``--backend asyncio|trio`` on the command line."""

import argparse

import unsync


def choose_backend() -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    backend: str = parser.parse_args().backend
    unsync.use_backend(backend)
    return backend
