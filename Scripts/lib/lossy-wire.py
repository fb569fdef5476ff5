#!/usr/bin/env python3
"""A slow, lossy network link in user space, for kernels built without tc netem (sch_netem).

Scripts/netns-checks uses it in place of a veth pair: it creates a TAP device in each of two
network namespaces and copies every Ethernet frame from one to the other, so the two ends behave
as one cable. It starts clean; SIGUSR1 turns on the impairment: each frame is held --delay-ms
milliseconds and dropped with probability --loss, in both directions, as `tc qdisc add ... netem
delay 50ms loss 5%` on both ends would. It prints "ready" once both devices exist.

Usage: lossy-wire.py NETNS_A IFNAME_A NETNS_B IFNAME_B [--delay-ms 50] [--loss 0.05]
"""
import argparse
import ctypes
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def tap_in(netns: str, name: str) -> int:
    """A TAP device named `name` inside `netns` (it belongs to the namespace it was made in)."""
    with open(f"/run/netns/{netns}") as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main() -> None:
    parser = argparse.ArgumentParser(description="a slow, lossy link between two network namespaces")
    parser.add_argument("netns_a")
    parser.add_argument("ifname_a")
    parser.add_argument("netns_b")
    parser.add_argument("ifname_b")
    parser.add_argument("--delay-ms", type=float, default=50)
    parser.add_argument("--loss", type=float, default=0.05)
    args = parser.parse_args()
    if not (0 <= args.delay_ms <= 10_000 and 0 <= args.loss < 1):
        sys.exit("lossy-wire: --delay-ms takes 0 to 10000 and --loss 0 to below 1")
    a = tap_in(args.netns_a, args.ifname_a)
    b = tap_in(args.netns_b, args.ifname_b)
    other = {a: b, b: a}
    impaired = False

    def impair(_signum, _frame):
        nonlocal impaired
        impaired = True

    signal.signal(signal.SIGUSR1, impair)
    print("ready", flush=True)
    pending: list = []  # (due, sequence, destination fd, frame): sent in order of due time
    sequence = 0
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        try:
            readable, _, _ = select.select([a, b], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            while True:
                try:
                    frame = os.read(fd, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # the device is down: nothing to read now
                    break
                if impaired and random.random() < args.loss:
                    continue
                delay = args.delay_ms / 1000 if impaired else 0.0
                heapq.heappush(pending, (now + delay, sequence, other[fd], frame))
                sequence += 1
        while pending and pending[0][0] <= time.monotonic():
            _, _, fd, frame = heapq.heappop(pending)
            try:
                os.write(fd, frame)
            except OSError:  # the far device is down or its queue full: the frame is lost, as on a wire
                pass


if __name__ == "__main__":
    main()
