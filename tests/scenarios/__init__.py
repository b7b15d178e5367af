"""Backend-neutral test scenarios.

Each module here defines tests that must hold whichever backend runs the
ambient loop; ``tests/asyncio`` and ``tests/trio`` import them with
``from scenarios.x import *`` so they are collected, and run, once per backend.
"""
