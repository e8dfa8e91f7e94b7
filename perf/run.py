#!/usr/bin/env python3
"""Whole-process throughput harness for otrelay.

Generates a deterministic workload (examples/gen_alerts.rs), then forwards it with otrelay over
TCP and over UDP to a counting receiver on 127.0.0.1 (examples/sink.rs), several times each, and
writes a Markdown table of medians: alerts/s read, forwarded messages/s, CPU seconds, peak RSS,
and correctness (the receiver's count against the count otrelay forwarded, and loss for UDP).

    python3 perf/run.py [--alerts 1000000] [--runs 3] [--out perf/out]

The rule is the one the peers are measured with: min level Minor, five protocols, CEF.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ["Modbus", "DNP3", "Siemens S7", "BACnet", "EtherNet/IP CIP"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build():
    sh(["cargo", "build", "--release", "--quiet", "--bin", "otrelay",
        "--example", "gen_alerts", "--example", "sink"], cwd=ROOT)
    rel = ROOT / "target" / "release"
    return rel / "otrelay", rel / "examples" / "gen_alerts", rel / "examples" / "sink"


def workload(gen, out, n):
    path = out / f"alerts-{n}.jsonl"
    if not path.exists():
        with open(path, "wb") as f:
            sh([str(gen), str(n)], stdout=f)
    return path


def config(out, alerts, transport, port, extra=""):
    protos = ", ".join(f'"{p}"' for p in PROTOCOLS)
    text = f"""dead_letter = "{out}/dead-letter.log"
[sensor]
name = "sensor-plant-01"
[[source]]
kind = "file"
path = "{alerts}"
[[rule]]
name = "siem"
min_level = "Minor"
protocols = [{protos}]
[[rule.action]]
kind = "cef"
host = "127.0.0.1"
port = {port}
transport = "{transport}"
{extra}
"""
    path = out / f"otrelay-{transport}.toml"
    path.write_text(text)
    return path


def parse_time(stderr):
    """/usr/bin/time -f '%e %U %S %M' prints the last line."""
    last = [l for l in stderr.splitlines() if l.strip()][-1].split()
    return float(last[0]), float(last[1]) + float(last[2]), int(last[3])


def summary_value(stderr, label):
    for line in stderr.splitlines():
        if line.startswith("otrelay: summary:"):
            words = line.replace(",", "").split()
            return int(words[words.index(label) - 1])
    raise RuntimeError("no summary in:\n" + stderr)


def run_otrelay(otrelay, sink, cfg, transport, port, n):
    sink_p = subprocess.Popen([str(sink), transport, f"127.0.0.1:{port}", "--idle-ms", "2000"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.3)
    started = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", str(otrelay), "run", "--config",
                        str(cfg)], capture_output=True, text=True)
    wall = time.monotonic() - started
    if p.returncode != 0:
        sink_p.kill()
        raise RuntimeError(p.stderr)
    forwarded = summary_value(p.stderr, "forwarded")
    sink_out, _ = sink_p.communicate(timeout=120)
    got = dict(kv.split("=") for kv in sink_out.split())
    _, cpu, rss = parse_time(p.stderr)
    return {
        "alerts_per_s": n / wall,
        "fwd_per_s": forwarded / wall,
        "cpu_s": cpu,
        "rss_mib": rss / 1024,
        "forwarded": forwarded,
        "received": int(got["messages"]),
        "wall": wall,
    }


def median_row(rows):
    keys = ["alerts_per_s", "fwd_per_s", "cpu_s", "rss_mib", "wall"]
    row = {k: statistics.median(r[k] for r in rows) for k in keys}
    row["forwarded"] = rows[0]["forwarded"]
    row["received"] = min(r["received"] for r in rows)
    row["runs"] = len(rows)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "perf" / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    otrelay, gen, sink = build()
    alerts = workload(gen, out, args.alerts)
    results = {}
    for transport in ["tcp", "udp"]:
        rows = []
        for _ in range(args.runs):
            port = free_port()
            cfg = config(out, alerts, transport, port)
            rows.append(run_otrelay(otrelay, sink, cfg, transport, port, args.alerts))
        results[transport] = median_row(rows)
        print(transport, results[transport], file=sys.stderr)

    lines = [
        f"# otrelay throughput, {args.alerts} alerts, median of {args.runs} runs",
        "",
        f"Machine: {os.cpu_count()} CPUs. Rule: min level Minor, {len(PROTOCOLS)} protocols, CEF.",
        "",
        "| transport | alerts/s read | messages/s sent | wall s | CPU s | peak RSS MiB | forwarded | received | loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t, r in results.items():
        loss = 100.0 * (r["forwarded"] - r["received"]) / max(r["forwarded"], 1)
        lines.append(
            f"| {t} | {r['alerts_per_s']:,.0f} | {r['fwd_per_s']:,.0f} | {r['wall']:.2f} | "
            f"{r['cpu_s']:.2f} | {r['rss_mib']:.1f} | {r['forwarded']} | {r['received']} | "
            f"{loss:.2f} % |")
    table = "\n".join(lines) + "\n"
    (out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
