"""Python 3.11 could start a garbage collection inside any allocation, in C code of sqlite3, greenlet or
SQLAlchemy, and crashed under a crowd on SQLite (bench/wall_crash.py shows it). While the app runs on 3.11, the
collector runs from the event loop instead; it still frees reference cycles."""

import asyncio
import gc
import sys
import weakref

from club import db as club_db


class Node:
    def __init__(self) -> None:
        self.me = self


async def test_cycles_are_collected_from_the_event_loop_while_the_app_runs(app):
    assert gc.isenabled() is (sys.version_info >= (3, 12))  # the app's lifespan is running
    collected = []
    for _ in range(3):
        node = Node()
        collected.append(weakref.ref(node))
        del node
    for _ in range(gc.get_threshold()[0] * 2):  # enough allocations to be due for a collection
        Node()
    deadline = asyncio.get_running_loop().time() + 5
    while any(ref() is not None for ref in collected) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(club_db.COLLECT_EVERY_SECONDS)
    assert all(ref() is None for ref in collected)


async def test_automatic_collection_comes_back_when_the_app_stops(settings, engine):
    from club.app import create_app

    application = create_app(settings, engine=engine)
    async with application.router.lifespan_context(application):
        pass
    assert gc.isenabled()
