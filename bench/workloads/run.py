"""One run of one workload, for bench/bench_macro.py: prints one JSON line with the
process CPU time spent in the workload alone (after a small warm-up run that does the
lazy imports), the trace lines it wrote and the workload's result (to check that every
variant computed the same thing).

    python run.py WORKLOAD MODE SCALE OUTDIR
      MODE: plain (untraced, or functrace when started by `functrace run`),
            cprofile, viztracer

The functrace variants are `python -m functrace run -i PACKAGE -o FILE run.py ...
plain ...`: this script is their __main__ (traced, but it defines no function), the
workload's package is traced through the import hook, and the lines are flushed to
FILE inside the timing. Module-level code only, so that nothing of it is traced.
"""

import importlib
import json
import os
import sys
import time

name, how, scale, outdir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
workload = importlib.import_module(f"wl_{name}")
state = workload.setup(scale)
workload.warm(state)

trace_file = None
offset = 0
functrace = sys.modules.get("functrace")
if functrace is not None:
    functrace.flush()
    trace_file = os.environ.get("FUNCTRACE_OUTPUT")
    if trace_file and os.path.exists(trace_file):
        offset = os.path.getsize(trace_file)

if how == "plain":
    start = time.process_time()
    result = workload.run(state)
    if functrace is not None:
        functrace.flush()
    cpu = time.process_time() - start
elif how == "cprofile":
    import cProfile

    profile = cProfile.Profile()
    start = time.process_time()
    profile.enable()
    result = workload.run(state)
    profile.disable()
    profile.dump_stats(os.path.join(outdir, "profile.pstats"))
    cpu = time.process_time() - start
elif how == "viztracer":
    from viztracer import VizTracer

    tracer = VizTracer(output_file=os.path.join(outdir, "viztracer.json"), verbose=0)
    start = time.process_time()
    tracer.start()
    result = workload.run(state)
    tracer.stop()
    tracer.save()
    cpu = time.process_time() - start
else:
    raise SystemExit(f"unknown mode {how!r}")

lines = 0
if trace_file and os.path.exists(trace_file):
    with open(trace_file, "rb") as f:
        f.seek(offset)
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
print(json.dumps({"cpu": cpu, "lines": lines, "result": repr(result)}))
