"""A generator suspends and resumes: each run between yields is its own pair of lines,
so the caller's other calls made while it is suspended nest under the caller."""

import functrace


@functrace.trace
def numbers(limit):
    total = 0
    for n in range(limit):
        received = yield n
        total += received or 0
    return total


@functrace.trace
def show(n):
    return f"got {n}"


@functrace.trace
def consume():
    gen = numbers(2)
    show(next(gen))
    show(gen.send(10))
    try:
        gen.send(20)
    except StopIteration as stop:
        return stop.value


if __name__ == "__main__":
    print("total:", consume())
