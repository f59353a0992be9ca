"""A spinner as an asyncio task while a coroutine does slow work (Fluent Python, modernised).

No thread here: one event loop runs both coroutines, switching at each await. The supervisor stops
the spinner by cancelling its task, which raises CancelledError at the spinner's await.
"""

import asyncio
import itertools


async def spin(msg: str) -> None:
    for char in itertools.cycle(r"\|/-"):
        status = f"\r{char} {msg}"
        print(status, end="", flush=True)
        try:
            await asyncio.sleep(0.1)  # yields to the loop; time.sleep here would freeze everything
        except asyncio.CancelledError:
            break
    blanks = " " * len(status)
    print(f"\r{blanks}\r", end="")


async def slow() -> int:
    await asyncio.sleep(3)  # pretend to wait for I/O, letting the loop run the spinner meanwhile
    return 42


async def supervisor() -> int:
    spinner = asyncio.create_task(spin("thinking!"))  # scheduled now, runs at our next await
    print(f"spinner object: {spinner}")
    result = await slow()
    spinner.cancel()
    await asyncio.gather(spinner, return_exceptions=True)  # let it erase its line before we print
    return result


def main() -> None:
    result = asyncio.run(supervisor())
    print(f"Answer: {result}")


if __name__ == "__main__":
    main()
