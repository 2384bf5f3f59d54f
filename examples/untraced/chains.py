"""The seed article's demo, untraced: `functrace run` or `functrace instrument` adds the tracing.

A1 -> B1 -> C1 -> D runs in the main thread, A2 -> B2 -> C2 -> D in another.
Run it with `functrace run examples/untraced/chains.py`.
"""

import threading
import time


def A1():
    B1()


def B1():
    C1()


def C1():
    D()


def A2():
    B2()


def B2():
    C2()


def C2():
    D()


def D():
    time.sleep(0.001)


def main():
    worker = threading.Thread(target=A2, name="worker")
    worker.start()
    time.sleep(0.05)
    A1()
    worker.join()


if __name__ == "__main__":
    main()
