"""Two asyncio tasks interleave on one thread; each gets its own tag, t[01]a[NN],
and its own indentation, so `grep 'a\\[02\\]:'` shows one task's whole story."""

import asyncio

import functrace


@functrace.trace
def parse(body):
    return body.upper()


@functrace.trace
async def fetch(name, delay):
    await asyncio.sleep(delay)
    return parse(f"{name} body")


@functrace.trace
async def handle(name, delay):
    body = await fetch(name, delay)
    return len(body)


@functrace.trace
async def main():
    return await asyncio.gather(handle("alpha", 0.02), handle("beta", 0.01))


if __name__ == "__main__":
    print(asyncio.run(main()))
