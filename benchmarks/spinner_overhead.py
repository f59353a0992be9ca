"""CPU used by a spinner left running for 5 s on a real pseudo-terminal (target: under 1% of a core),
and by a SpinnerGroup of 50 spinners (target: under 2% of a core).

Each case runs in its own process whose stderr is a pty; the parent drains the pty and reads the
child's CPU time from rusage. A child that only sleeps is the baseline, so interpreter start-up and
imports cancel out.

    python benchmarks/spinner_overhead.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import resource
import select
import struct
import subprocess
import sys
import termios

CASES = {
    # The same imports as the cases (import tulip itself loads nothing since names became lazy).
    "baseline (sleep only)": "import asyncio, time\nfrom aiotulip import Spinner, SpinnerGroup\n"
    "time.sleep({s})",
    "thread backend": "import time\nfrom aiotulip import Spinner\nwith Spinner('thinking!', timer=True):\n"
    "    time.sleep({s})",
    "asyncio backend": "import asyncio\nfrom aiotulip import Spinner\nasync def main():\n"
    "    async with Spinner('thinking!', timer=True):\n        await asyncio.sleep({s})\n"
    "asyncio.run(main())",
    "group of 50, thread": "import time\nfrom aiotulip import SpinnerGroup\n"
    "with SpinnerGroup(timer=True) as g:\n    [g.add(f'task {{i}} of 50') for i in range(50)]\n"
    "    time.sleep({s})",
    "group of 50, asyncio": "import asyncio\nfrom aiotulip import SpinnerGroup\nasync def main():\n"
    "    async with SpinnerGroup(timer=True) as g:\n        [g.add(f'task {{i}} of 50') for i in range(50)]\n"
    "        await asyncio.sleep({s})\nasyncio.run(main())",
}
TARGETS = {"group of 50, thread": 2.0, "group of 50, asyncio": 2.0}


def child_cpu(code: str) -> float:
    master, slave = os.openpty()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # A 50-row terminal: the group of 50 draws 48 lines and "+2 more" every frame.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=slave, env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    while proc.poll() is None:
        if select.select([master], [], [], 0.1)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                break
    proc.wait()
    os.close(master)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    cpu = {name: child_cpu(code.format(s=args.seconds)) for name, code in CASES.items()}
    base = cpu.pop("baseline (sleep only)")
    print(f"spinner CPU over {args.seconds:g} s (baseline process {base:.3f} s CPU subtracted)")
    print(f"{'backend':<22} {'CPU s':>8} {'% of one core':>14}  target")
    for name, used in cpu.items():
        extra = max(0.0, used - base)
        share = 100 * extra / args.seconds
        target = TARGETS.get(name, 1.0)
        print(f"{name:<22} {extra:>8.3f} {share:>13.2f}%  < {target:g}% {'ok' if share < target else 'OVER'}")


if __name__ == "__main__":
    main()
