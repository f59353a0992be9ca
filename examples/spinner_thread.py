"""A spinner in a thread while the main thread does slow work (Fluent Python, modernised).

Python cannot kill a thread, so the supervisor asks it to stop: it sets a threading.Event, which the
spinner also uses as its clock (Event.wait(timeout) sleeps, but wakes at once when the event is set).
"""

import itertools
import threading
import time


def spin(msg: str, done: threading.Event) -> None:
    for char in itertools.cycle(r"\|/-"):
        status = f"\r{char} {msg}"
        print(status, end="", flush=True)
        if done.wait(0.1):  # True once the event is set: time to stop
            break
    blanks = " " * len(status)
    print(f"\r{blanks}\r", end="")  # erase the status line


def slow() -> int:
    time.sleep(3)  # blocks this thread but releases the GIL, so the spinner keeps turning
    return 42


def supervisor() -> int:
    done = threading.Event()
    spinner = threading.Thread(target=spin, args=("thinking!", done))
    print(f"spinner object: {spinner}")
    spinner.start()
    result = slow()
    done.set()
    spinner.join()
    return result


def main() -> None:
    result = supervisor()
    print(f"Answer: {result}")


if __name__ == "__main__":
    main()
