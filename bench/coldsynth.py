#!/usr/bin/env python3
"""bench/coldsynth.py — a first `xflow synth` as on a fresh machine.

    bench/run cold-synth [XFLOW_BINARY]

Synthesizes a copy of examples/wordcount with an empty XFLOW_CACHE_DIR and
an empty GOCACHE (temporary ones: the machine's own caches are left alone;
Go modules come from the module cache, as after the README's `go mod
download`), without JSII_NODE, so that xflow installs node@22 when the node
on PATH is older. It prints xflow's output with the elapsed time of each
line, then the 1-minute load average sampled every 5 s during the run (the
machine is shared: read the figures with it; a synth alone keeps about 2
busy), the CPU time of the synth and its peak memory. XFLOW_BINARY defaults
to a build of ./cmd/xflow. The README's "First synth" figures come from it.
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="xflow-coldsynth-")
try:
    if len(sys.argv) > 1:
        xflow = os.path.abspath(sys.argv[1])
    else:
        xflow = os.path.join(work, "xflow")
        subprocess.run(["go", "build", "-o", xflow, "./cmd/xflow"], cwd=repo, check=True)
    example = os.path.join(work, "wordcount")
    shutil.copytree(os.path.join(repo, "examples", "wordcount"), example,
                    ignore=shutil.ignore_patterns(".xflow", "__pycache__", "cdk.out"))
    env = dict(os.environ, XFLOW_CACHE_DIR=os.path.join(work, "xflow-cache"), GOCACHE=os.path.join(work, "go-build"))
    env.pop("JSII_NODE", None)

    stop = threading.Event()
    loads, peak = [], [0]

    def sample_load():
        while not stop.is_set():
            with open("/proc/loadavg") as f:
                loads.append(float(f.read().split()[0]))
            stop.wait(5)

    def tree_rss(root):
        children, rss = {}, {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(d))
            rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo += children.get(pid, [])
        return total

    def sample_memory(pid):
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss(pid))
            stop.wait(0.5)

    with open("/proc/loadavg") as f:
        print(f"start {time.strftime('%H:%M:%S')}, load average {f.read().strip()}, {os.cpu_count()} cores", flush=True)
    threading.Thread(target=sample_load, daemon=True).start()
    start = time.time()
    p = subprocess.Popen([xflow, "synth", "-c", os.path.join(example, "xflow.yaml"), "-o", os.path.join(work, "cdk.out")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=sample_memory, args=(p.pid,), daemon=True).start()
    for line in p.stdout:
        print(f"{time.time() - start:7.1f}s  {line.rstrip()}", flush=True)
    status = p.wait()
    wall = time.time() - start
    stop.set()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime
    print(f"exit status {status} after {wall:.1f} s; 1-minute load average during the run: "
          f"min {min(loads):.1f}, mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f}; "
          f"CPU {cpu:.0f} s ({cpu / wall:.2f} cores busy on average); peak memory {peak[0] / 2**20:.0f} MB")
    sys.exit(status)
finally:
    shutil.rmtree(work, ignore_errors=True)
