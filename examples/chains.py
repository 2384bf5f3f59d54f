"""The seed article's demo: which chain did this call to D come from?

A1 -> B1 -> C1 -> D runs in the main thread, A2 -> B2 -> C2 -> D in another.
Run it with `python examples/chains.py`; pick one thread with `grep '^t\\[02\\]'`.
"""

import threading
import time

import functrace


@functrace.trace
def A1():
    B1()


@functrace.trace
def B1():
    C1()


@functrace.trace
def C1():
    D()


@functrace.trace
def A2():
    B2()


@functrace.trace
def B2():
    C2()


@functrace.trace
def C2():
    D()


@functrace.trace
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
