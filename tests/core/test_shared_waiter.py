"""The registry of shared decision waiters: one per event loop, service and key."""

from __future__ import annotations

import asyncio

from signoff.waiting import shared_waiter, shared_waiters


async def test_one_waiter_per_service_and_key_closed_by_its_last_user() -> None:
    assert shared_waiters() == 0
    async with shared_waiter("http://127.0.0.1:1", api_key="k1") as first:
        async with shared_waiter("http://127.0.0.1:1", api_key="k1") as again:
            assert again is first
            async with shared_waiter("http://127.0.0.1:1", api_key="k2") as other_key:
                assert other_key is not first
                async with shared_waiter("http://127.0.0.1:2", api_key="k1") as other_url:
                    assert other_url is not first
                    assert shared_waiters() == 3
        assert shared_waiters() == 1  # ``first`` still has a user
    assert shared_waiters() == 0
    async with shared_waiter("http://127.0.0.1:1", api_key="k1") as fresh:
        assert fresh is not first  # the closed one is never handed out again
    assert shared_waiters() == 0


def test_each_event_loop_has_its_own() -> None:
    """A waiter's stream runs in one loop; another loop (another thread) gets its own."""

    async def hold(ready: asyncio.Event, done: asyncio.Event) -> object:
        async with shared_waiter("http://127.0.0.1:1", api_key="k") as waiter:
            ready.set()
            await done.wait()
            return waiter

    async def two() -> tuple[object, object]:
        ready, done = asyncio.Event(), asyncio.Event()
        here = asyncio.create_task(hold(ready, done))
        await ready.wait()
        there = await asyncio.to_thread(asyncio.run, hold(asyncio.Event(), _set()))
        done.set()
        return await here, there

    here, there = asyncio.run(two())
    assert here is not there and shared_waiters() == 0


def _set() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def test_the_key_is_kept_as_a_digest() -> None:
    async def keys() -> list[object]:
        from signoff import waiting

        async with shared_waiter("http://127.0.0.1:1", api_key="cq_live_very_secret"):
            return [part for key in waiting._shared for part in key]

    assert "cq_live_very_secret" not in [str(part) for part in asyncio.run(keys())]
