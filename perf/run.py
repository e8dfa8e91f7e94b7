#!/usr/bin/env python3
"""Whole-process performance harness: otrelay against rsyslog and syslog-ng.

    python3 perf/run.py [--alerts 1000000] [--runs 3] [--out perf/out] [--only SECTIONS]

On a fresh machine it installs the peers (rsyslog from apt; syslog-ng-core downloaded and
unpacked privately, because it conflicts with rsyslog), builds otrelay and the examples in
release mode, generates a deterministic workload (examples/gen_alerts.rs), and measures:

- throughput: otrelay (also with pipeline.workers = 2), rsyslog and syslog-ng each read the
  same file, apply the same rule (min level Minor; Modbus, DNP3, Siemens S7, BACnet,
  EtherNet/IP CIP), write CEF and send it over TCP and over UDP to the same counting receiver (examples/sink.rs). Alerts/s read =
  input alerts / (receiver's last message - spawn). CPU seconds and peak RSS of the tool.
  Correctness: the receiver's count against the count computed here from the input, and a
  byte check of msg, protocol, severity and the header name of every received line against the
  input alert (after CEF unescaping). Mismatches are reported, not fatal.
- ceiling: examples/udp_blast.rs replays otrelay's UDP datagrams with sendmmsg at full speed.
- curves (otrelay, TCP): alerts/s against rules, actions per alert, message length, and the
  forwarded share.
- latency: examples/latency.rs offers 10 k/s and 100 k/s to an otrelay TCP source.
- startup: spawn to the receiver's first byte, 1-alert file, median of 10.
- rss: peak RSS on a 10 M-alert file (--big-alerts 0 skips it).
- profile: perf record -e cpu-clock -g of one otrelay run per transport; the reports (by
  thread, by symbol) are saved in perf/out/work/perf-report-*.txt.

Everything runs on 127.0.0.1 with private instances; the system's syslog daemons are never
touched. Results: perf/out/results.md (and results.json); medians of --runs runs.
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "perf" / "peers"
PROTOCOLS = ["Modbus", "DNP3", "Siemens S7", "BACnet", "EtherNet/IP CIP"]
LEVELS = {"warning": 0, "minor": 1, "major": 2, "critical": 3}
TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney",
             "America/Los_Angeles", "Asia/Kolkata", "Europe/London"]
SYSLOG_NG_LIBS = ["libivykis0", "libjson-c5", "libnet1", "libpcre3", "libwrap0",
                  "libglib2.0-0", "libcap2"]
SINK_IDLE_MS = 1500
# The otrelay variants measured side by side, by the pipeline settings they add.
OTRELAY_PIPELINES = {"otrelay": None, "otrelay-w2": {"workers": 2},
                     "otrelay-w2s": {"workers": 2, "sender_per_worker": True}}
DAEMON_TIMEOUT_S = 600


def log(*a):
    print("perf:", *a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- set-up: peers, build, workload -----------------------------------------------------------

def apt_install(pkgs):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    missing = [p for p in pkgs
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout.strip() != "install ok installed"]
    if not missing:
        return
    log("installing", " ".join(missing))
    if subprocess.run(["apt-get", "install", "-y", *missing], env=env).returncode != 0:
        sh(["apt-get", "update"], env=env)
        sh(["apt-get", "install", "-y", *missing], env=env)


class SyslogNg:
    """A private syslog-ng unpacked from the syslog-ng-core package."""

    def __init__(self, root):
        self.root = Path(root)
        self.binary = self.root / "usr" / "sbin" / "syslog-ng"
        libdirs = {str(Path(p).parent) for p in glob.glob(str(self.root / "usr/lib/**/libsyslog-ng*.so*"),
                                                          recursive=True)}
        libdirs |= {str(self.root / "usr/lib/x86_64-linux-gnu"), str(self.root / "usr/lib")}
        self.ld_path = ":".join(sorted(libdirs))
        mods = sorted(glob.glob(str(self.root / "usr/lib/syslog-ng/3.*")))
        if not mods:
            raise RuntimeError(f"no syslog-ng module directory under {self.root}")
        self.module_path = mods[-1]

    def version(self):
        p = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True,
                           env=dict(os.environ, LD_LIBRARY_PATH=self.ld_path))
        return p.stdout.splitlines()[0] if p.stdout else "unknown"


def setup_peers(out):
    if not shutil.which("rsyslogd"):
        apt_install(["rsyslog"])
    # A system instance would compete for the CPU; it is left alone, but said.
    if subprocess.run(["pgrep", "-x", "rsyslogd"], capture_output=True).returncode == 0:
        log("warning: a system rsyslogd is running; it shares the CPUs with the measurements")
    apt_install(SYSLOG_NG_LIBS)
    root = out / "peers" / "syslog-ng"
    if not (root / "usr" / "sbin" / "syslog-ng").exists():
        with tempfile.TemporaryDirectory() as tmp:
            log("downloading syslog-ng-core")
            sh(["apt-get", "download", "syslog-ng-core"], cwd=tmp)
            deb = glob.glob(os.path.join(tmp, "syslog-ng-core_*.deb"))[0]
            root.mkdir(parents=True, exist_ok=True)
            sh(["dpkg", "-x", deb, str(root)])
    return SyslogNg(root)


def build():
    log("building otrelay and the examples (release)")
    sh(["cargo", "build", "--release", "--quiet", "--bin", "otrelay", "--example", "gen_alerts",
        "--example", "sink", "--example", "udp_blast", "--example", "latency"], cwd=ROOT)
    rel = ROOT / "target" / "release"
    ex = rel / "examples"
    return {"otrelay": rel / "otrelay", "gen": ex / "gen_alerts", "sink": ex / "sink",
            "blast": ex / "udp_blast", "latency": ex / "latency"}


def workload(bins, out, n, message_len=None):
    suffix = f"-m{message_len}" if message_len else ""
    path = out / f"alerts-{n}{suffix}.jsonl"
    if not path.exists():
        cmd = [str(bins["gen"]), str(n)]
        if message_len:
            cmd += ["--message-len", str(message_len)]
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            sh(cmd, stdout=f)
        tmp.rename(path)
    return path


class Rule:
    def __init__(self, min_level="Minor", protocols=None, engines=None, name="siem"):
        self.name = name
        self.min_level = min_level
        self.protocols = protocols
        self.engines = engines

    def matches(self, a):
        if LEVELS[a["severity"].lower()] < LEVELS[self.min_level.lower()]:
            return False
        if self.protocols is not None:
            p = a.get("protocol")
            if p is None or p.lower() not in {x.lower() for x in self.protocols}:
                return False
        if self.engines is not None and a["engine"].lower() not in {
                x.lower() for x in self.engines}:
            return False
        return True

    def toml(self, actions):
        lines = ["[[rule]]", f'name = "{self.name}"', f'min_level = "{self.min_level}"']
        if self.protocols is not None:
            lines.append("protocols = [" + ", ".join(f'"{p}"' for p in self.protocols) + "]")
        if self.engines is not None:
            lines.append("engines = [" + ", ".join(f'"{e}"' for e in self.engines) + "]")
        for a in actions:
            lines += ["[[rule.action]]"] + [f"{k} = {json.dumps(v)}" for k, v in a.items()]
        return "\n".join(lines)


BASE_RULE = Rule("Minor", PROTOCOLS)
# About 10 %: Critical (20 %) and four of the five protocols (48 %).
NARROW_RULE = Rule("Critical", PROTOCOLS[:4])


def expected(path, rules):
    """uuid -> (title, message, protocol, severity) of the alerts any of `rules` forwards."""
    want = {}
    with open(path, "rb") as f:
        for line in f:
            a = json.loads(line)
            if any(r.matches(a) for r in rules):
                want[a["uuid"]] = (a["title"], a.get("message"), a.get("protocol"),
                                   a["severity"])
    return want


# --- the byte check ---------------------------------------------------------------------------

KEY = re.compile(r"(?:^| )([A-Za-z0-9_]+)=")
EXT_ESC = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def unescape(s, table):
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in table:
            out.append(table[s[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_header(s, fields):
    """Splits the CEF header on unescaped `|`, `fields` times; returns fields + the rest."""
    parts, cur, i = [], [], 0
    while i < len(s) and len(parts) < fields:
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i + 1] if s[i + 1] in "\\|" else c + s[i + 1])
            i += 2
            continue
        if c == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    return parts, s[i:]


def parse_cef(line):
    at = line.find("CEF:")
    if at < 0:
        return None
    header, ext = split_header(line[at:], 7)
    if len(header) < 7:
        return None
    keys = list(KEY.finditer(ext))
    fields = {}
    for k, nxt in zip(keys, keys[1:] + [None]):
        end = nxt.start() if nxt else len(ext)
        fields[k.group(1)] = unescape(ext[k.end():end], EXT_ESC)
    fields["__title"] = header[5]
    return fields


def byte_check(out_path, want, copies=1):
    """Compares every received line with the input; returns a dict of counts."""
    seen, bad_fields, unknown, unparsed, lines = {}, {}, 0, 0, 0
    examples = []
    with open(out_path, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\n")
            if not raw:
                continue
            lines += 1
            c = parse_cef(raw.decode("utf-8", "replace"))
            if c is None:
                unparsed += 1
                continue
            uuid = c.get("UUID")
            if uuid not in want:
                unknown += 1
                continue
            seen[uuid] = seen.get(uuid, 0) + 1
            title, msg, proto, sev = want[uuid]
            got = {"title": c["__title"], "msg": c.get("msg"), "protocol": c.get("protocol"),
                   "severity": c.get("severity")}
            for k, v in (("title", title), ("msg", msg), ("protocol", proto), ("severity", sev)):
                if got[k] != v:
                    bad_fields[k] = bad_fields.get(k, 0) + 1
                    if len(examples) < 3:
                        examples.append(f"{uuid} {k}: got {got[k]!r} want {v!r}")
    missing = sum(1 for u in want if seen.get(u, 0) < copies)
    extra = sum(max(0, n - copies) for n in seen.values())
    return {"lines": lines, "missing": missing, "extra": extra, "unknown": unknown,
            "unparsed": unparsed, "mismatch": bad_fields, "examples": examples}


def check_text(chk):
    if chk is None:
        return "-"
    problems = []
    for k in ("missing", "extra", "unknown", "unparsed"):
        if chk[k]:
            problems.append(f"{chk[k]} {k}")
    for k, n in chk["mismatch"].items():
        problems.append(f"{n} {k} differ")
    return "ok" if not problems else ", ".join(problems)


# --- processes and measurements ---------------------------------------------------------------

def cpu_busy(interval=0.5):
    """Share of all CPUs busy over `interval` seconds, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(t1 - t0, 1)


BUSY = {"waited": 0, "busy_starts": 0}


def warm(path):
    """Reads the input once so that every tool starts with it in the page cache. This machine
    reclaims cold page-cache pages in the background (DAMON), so without it a run could read
    part of its input from disk, at random, whichever tool it is."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def wait_idle(limit_s=20, threshold=0.15, budget=40):
    """Waits until the machine is quiet (other users share it) before a measured run: at most
    `limit_s` seconds per run and `budget` waits of 2 s in all, so a busy machine cannot stall
    the harness."""
    deadline = time.monotonic() + limit_s
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline and BUSY["waited"] < budget:
        BUSY["waited"] += 1
        time.sleep(2)
        busy = cpu_busy()
    if busy > threshold:
        BUSY["busy_starts"] += 1
        log(f"warning: starting a run while the machine is {100 * busy:.0f} % busy")


def parse_kv(text):
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


class Sink:
    def __init__(self, bins, transport, port, expect=None, out=None, timed=False):
        cmd = [str(bins["sink"]), transport, f"127.0.0.1:{port}", "--idle-ms", str(SINK_IDLE_MS)]
        if timed:
            # CPU seconds of the sink itself, printed by time(1) on stderr when it exits.
            cmd = ["/usr/bin/time", "-f", "SINKCPU %U %S"] + cmd
        if expect is not None:
            cmd += ["--expect", str(expect)]
        if out is not None:
            cmd += ["--out", str(out)]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Wait until it listens: it says so on stderr.
        for line in self.p.stderr:
            if "listening" in line:
                break

    def result(self, timeout=DAEMON_TIMEOUT_S):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
        r = parse_kv(out)
        if "messages" not in r:
            log(f"sink failed (status {self.p.returncode}): {out.strip()} {err.strip()}")
        cpu = [ln.split()[1:] for ln in err.splitlines() if ln.startswith("SINKCPU ")]
        return {"messages": int(r.get("messages", 0)), "bytes": int(r.get("bytes", 0)),
                "first_ns": int(r.get("first_ns", 0)), "last_ns": int(r.get("last_ns", 0)),
                "cpu_s": sum(float(x) for x in cpu[0]) if cpu else None}


def proc_usage(pid):
    """(CPU seconds, peak RSS KiB) of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, hwm


def otrelay_config(path, source, rules, actions, dead_letter, pipeline=None):
    src = "\n".join(f"{k} = {json.dumps(v)}" for k, v in source.items())
    pipe = ""
    if pipeline:
        pipe = "[pipeline]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in pipeline.items())
    text = (f'dead_letter = "{dead_letter}"\n[sensor]\nname = "sensor-plant-01"\n'
            f'version = "24.1.5"\n{pipe}\n[[source]]\n{src}\n\n'
            + "\n\n".join(r.toml(actions) for r in rules) + "\n")
    path.write_text(text)
    return path


def cef_action(transport, port, timezone="UTC"):
    return {"kind": "cef", "host": "127.0.0.1", "port": port, "transport": transport,
            "timezone": timezone}


def run_otrelay(bins, work, alerts, n_alerts, transport, rules, actions, want_count,
                save=None, pipeline=None, wrap=None):
    """One otrelay run over a file; returns the measurement dict."""
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    acts = [dict(a, port=port) for a in actions]
    cfg = otrelay_config(work / f"otrelay-{transport}.toml", {"kind": "file", "path": str(alerts)},
                         rules, acts, work / "dead-letter.log", pipeline)
    sink = Sink(bins, transport, port, expect=want_count, out=save)
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", str(bins["otrelay"]), "run", "--config",
           str(cfg)]
    if wrap:
        cmd = wrap + cmd[3:]
    warm(alerts)
    wait_idle()
    start_ns = time.time_ns()
    p = subprocess.run(cmd, capture_output=True, text=True)
    got = sink.result()
    if p.returncode != 0:
        raise RuntimeError(f"otrelay failed ({p.returncode}):\n{p.stderr}")
    row = {"received": got["messages"], "bytes": got["bytes"]}
    if not wrap:
        last = [l for l in p.stderr.splitlines() if l.strip()][-1].split()
        row["cpu_s"] = float(last[1]) + float(last[2])
        row["rss_mib"] = int(last[3]) / 1024
    row["wall"] = max(got["last_ns"] - start_ns, 1) / 1e9
    row["alerts_per_s"] = n_alerts / row["wall"]
    row["msgs_per_s"] = got["messages"] / row["wall"]
    m = re.search(r"(\d+) forwarded", p.stderr)
    row["forwarded"] = int(m.group(1)) if m else -1
    row["summary"] = next((l for l in p.stderr.splitlines() if "summary" in l), "")
    return row


def fill(template, **values):
    text = template.read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def run_daemon(bins, work, n_alerts, tool, transport, alerts, want_count, save, sng):
    """One rsyslog or syslog-ng run; the daemon is stopped once the receiver has everything."""
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    run_dir = work / f"{tool}-{transport}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    env = dict(os.environ)
    if tool == "rsyslog":
        (run_dir / "state").mkdir()
        conf = run_dir / "rsyslog.conf"
        conf.write_text(fill(PEERS / "rsyslog.conf.in", STATE=run_dir / "state", ALERTS=alerts,
                             PROTO=transport, PORT=port))
        cmd = ["rsyslogd", "-n", "-f", str(conf), "-i", str(run_dir / "pid")]
    else:
        conf = run_dir / "syslog-ng.conf"
        conf.write_text(fill(PEERS / "syslog-ng.conf.in", ALERTS=alerts, PROTO=transport,
                             PORT=port, EOL="\\n" if transport == "tcp" else ""))
        cmd = [str(sng.binary), "-F", "-f", str(conf), f"--module-path={sng.module_path}",
               f"--persist-file={run_dir / 'persist'}", f"--pidfile={run_dir / 'pid'}",
               f"--control={run_dir / 'ctl'}"]
        env["LD_LIBRARY_PATH"] = sng.ld_path
    sink = Sink(bins, transport, port, expect=want_count, out=save)
    warm(alerts)
    wait_idle()
    start_ns = time.time_ns()
    d = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                         stderr=open(run_dir / "stderr.log", "w"))
    got = sink.result()
    try:
        cpu, hwm = proc_usage(d.pid)
    except OSError:
        cpu, hwm = float("nan"), 0
    d.send_signal(signal.SIGTERM)
    try:
        d.wait(timeout=10)
    except subprocess.TimeoutExpired:
        d.kill()
        d.wait()
    wall = max(got["last_ns"] - start_ns, 1) / 1e9
    return {"received": got["messages"], "bytes": got["bytes"], "cpu_s": cpu,
            "rss_mib": hwm / 1024, "wall": wall, "alerts_per_s": n_alerts / wall,
            "msgs_per_s": got["messages"] / wall, "forwarded": -1}


def med(rows, key):
    vals = [r[key] for r in rows if key in r and r[key] == r[key]]
    return statistics.median(vals) if vals else float("nan")


# --- sections ---------------------------------------------------------------------------------

def section_throughput(ctx):
    bins, work, alerts, n, want = ctx["bins"], ctx["work"], ctx["alerts"], ctx["n"], ctx["want"]
    results = {}
    for transport in ("tcp", "udp"):
        for tool in ctx["tools"]:
            if tool == "otrelay-w2s" and transport == "tcp":
                # A sender per worker opens a connection per worker, and the sink reads one
                # TCP connection at a time; the variant exists for UDP.
                continue
            rows, checks = [], []
            for i in range(ctx["runs"]):
                save = work / f"recv-{tool}-{transport}-{i}.txt"
                if tool.startswith("otrelay"):
                    # otrelay-w2: two pipeline workers (`pipeline.workers = 2`); otrelay-w2s:
                    # two workers with a sender thread each (`sender_per_worker = true`).
                    pipe = OTRELAY_PIPELINES.get(tool)
                    r = run_otrelay(bins, work, alerts, n, transport, [BASE_RULE],
                                    [cef_action(transport, 0)], len(want), save=save,
                                    pipeline=pipe)
                else:
                    r = run_daemon(bins, work, n, tool, transport, alerts, len(want), save,
                                   ctx["sng"])
                chk = byte_check(save, want)
                checks.append(chk)
                if i > 0 or tool != "otrelay" or transport != "udp":
                    save.unlink()
                else:
                    ctx["udp_datagrams"] = save
                rows.append(r)
                log(f"{tool} {transport} run {i + 1}: {r['alerts_per_s']:,.0f} alerts/s, "
                    f"received {r['received']}/{len(want)}, check {check_text(chk)}")
            results[(tool, transport)] = {
                "alerts_per_s": med(rows, "alerts_per_s"), "msgs_per_s": med(rows, "msgs_per_s"),
                "wall": med(rows, "wall"), "cpu_s": med(rows, "cpu_s"),
                "rss_mib": med(rows, "rss_mib"),
                "received": min(r["received"] for r in rows),
                "received_max": max(r["received"] for r in rows),
                "check": "; ".join(sorted({check_text(c) for c in checks})),
                "examples": [e for c in checks for e in c["examples"]][:3],
                "runs": [round(r["alerts_per_s"]) for r in rows],
            }
    ctx["throughput"] = results

    lines = [f"## Throughput: {n:,} alerts, {len(want):,} forwarded "
             f"({100 * len(want) / n:.1f} %), median of {ctx['runs']} runs", "",
             "| transport | tool | alerts/s read | messages/s sent | wall s | CPU s | "
             "peak RSS MiB | received (min) | check | runs (alerts/s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (tool, transport), r in results.items():
        lines.append(f"| {transport} | {tool} | {r['alerts_per_s']:,.0f} | "
                     f"{r['msgs_per_s']:,.0f} | {r['wall']:.2f} | {r['cpu_s']:.2f} | "
                     f"{r['rss_mib']:.1f} | {r['received']:,} | {r['check']} | "
                     f"{', '.join(f'{x:,}' for x in r['runs'])} |")
    lines += ["", "| transport, otrelay config | otrelay ÷ rsyslog | otrelay ÷ syslog-ng | "
              "CPU s per alert: otrelay, rsyslog, syslog-ng (µs) |", "|---|---|---|---|"]
    for t in ("tcp", "udp"):
        for ot in OTRELAY_PIPELINES:
            if not all((x, t) in results for x in (ot, "rsyslog", "syslog-ng")):
                continue
            o, rs, sn = (results[(x, t)] for x in (ot, "rsyslog", "syslog-ng"))
            lines.append(f"| {t}, {ot} | {o['alerts_per_s'] / rs['alerts_per_s']:.1f}× | "
                         f"{o['alerts_per_s'] / sn['alerts_per_s']:.1f}× | "
                         f"{1e6 * o['cpu_s'] / n:.2f}, {1e6 * rs['cpu_s'] / n:.2f}, "
                         f"{1e6 * sn['cpu_s'] / n:.2f} |")
    ex = [f"- {tool} {t}: {e}" for (tool, t), r in results.items() for e in r["examples"]]
    if ex:
        lines += ["", "Byte-check examples:", ""] + ex
    return "\n".join(lines)


def section_ceiling(ctx):
    bins, work = ctx["bins"], ctx["work"]
    src = ctx.get("udp_datagrams")
    if src is None or not Path(src).exists():
        return "## UDP ceiling\n\nskipped: needs the throughput section's saved UDP datagrams"
    count = sum(1 for _ in open(src, "rb"))
    rows = []
    for i in range(ctx["runs"]):
        port = free_port(socket.SOCK_DGRAM)
        sink = Sink(bins, "udp", port, expect=count, timed=True)
        wait_idle()
        p = subprocess.run(["/usr/bin/time", "-f", "BLASTCPU %U %S", str(bins["blast"]),
                            f"127.0.0.1:{port}", "--from", str(src)],
                           capture_output=True, text=True, check=True)
        got = sink.result()
        b = parse_kv(p.stdout)
        blast_cpu = [ln.split()[1:] for ln in p.stderr.splitlines() if ln.startswith("BLASTCPU")]
        wall = max(got["last_ns"] - int(b["start_ns"]), 1) / 1e9
        rows.append({"msgs_per_s": got["messages"] / wall, "received": got["messages"],
                     "sent": int(b["messages"]), "send_rate": int(b["messages"]) /
                     max(float(b["seconds"]), 1e-9),
                     "blast_cpu": sum(float(x) for x in blast_cpu[0]) if blast_cpu else 0.0,
                     "sink_cpu": got["cpu_s"] or 0.0})
        log(f"udp_blast run {i + 1}: {rows[-1]['msgs_per_s']:,.0f} datagrams/s, "
            f"{got['messages']}/{count} received")
    ceil = med(rows, "msgs_per_s")

    # otrelay again, against the same counting-only sink as udp_blast: in the throughput runs
    # the sink also saves every datagram for the byte check, which costs it CPU that the two
    # senders would not pay alike.
    same = {}
    for tool, pipe in OTRELAY_PIPELINES.items():
        if tool not in ctx["tools"]:
            continue
        runs = [run_otrelay(bins, work, ctx["alerts"], ctx["n"], "udp", [BASE_RULE],
                            [cef_action("udp", 0)], len(ctx["want"]), pipeline=pipe)
                for _ in range(ctx["runs"])]
        for r in runs:
            log(f"{tool} udp, counting sink: {r['msgs_per_s']:,.0f} datagrams/s, "
                f"received {r['received']}/{len(ctx['want'])}")
        same[tool] = {"msgs_per_s": med(runs, "msgs_per_s"), "cpu_s": med(runs, "cpu_s"),
                      "received": min(r["received"] for r in runs)}
    o = same.get("otrelay") or ctx["throughput"][("otrelay", "udp")]
    ratio = o["msgs_per_s"] / ceil
    loss_blast = 100 * (count - min(r["received"] for r in rows)) / count
    loss_o = 100 * (len(ctx["want"]) - o["received"]) / len(ctx["want"])
    ctx["ceiling"] = {"ceiling": ceil, "ratio": ratio}

    # What two CPUs allow at best: otrelay's CPU for the run plus the sink's CPU for the same
    # datagrams, spread perfectly over both CPUs, and nothing else running.
    cpus = os.cpu_count() or 1
    sink_cpu, blast_cpu = med(rows, "sink_cpu"), med(rows, "blast_cpu")
    bound = count / ((o["cpu_s"] + sink_cpu) / cpus)
    blast_bound = count / ((blast_cpu + sink_cpu) / cpus)
    return "\n".join([
        "## UDP ceiling (udp_blast: the same datagrams, sendmmsg, nothing else)", "",
        "| sender | datagrams/s | loss at the sink (worst run) |", "|---|---|---|",
        f"| udp_blast | {ceil:,.0f} | {loss_blast:.2f} % |",
        f"| udp_blast, send side only (sendmmsg returns) | {med(rows, 'send_rate'):,.0f} | |",
        f"| otrelay UDP (reads, parses, filters, encodes too) | {o['msgs_per_s']:,.0f} | "
        f"{loss_o:.2f} % |",
        *([f"| otrelay-w2 UDP (pipeline.workers = 2) | {same['otrelay-w2']['msgs_per_s']:,.0f} "
           f"| {100 * (len(ctx['want']) - same['otrelay-w2']['received']) / len(ctx['want']):.2f}"
           f" % |"] if "otrelay-w2" in same else []),
        *([f"| otrelay-w2s UDP (workers = 2, sender_per_worker = true) | "
           f"{same['otrelay-w2s']['msgs_per_s']:,.0f} "
           f"| {100 * (len(ctx['want']) - same['otrelay-w2s']['received']) / len(ctx['want']):.2f}"
           f" % |"] if "otrelay-w2s" in same else []),
        "",
        f"otrelay UDP / ceiling = **{100 * ratio:.0f} %** (target ≥ 90 %)"
        + (f"; with `workers = 2`: **{100 * same['otrelay-w2']['msgs_per_s'] / ceil:.0f} %**"
           if "otrelay-w2" in same else "")
        + (f"; with a sender per worker: "
           f"**{100 * same['otrelay-w2s']['msgs_per_s'] / ceil:.0f} %**"
           if "otrelay-w2s" in same else "")
        + f". Datagrams: {count:,}, from otrelay's first UDP run. Every sender here, otrelay "
        "included, runs against the same sink that only counts (the throughput table's sink "
        "also saves what it receives, for the byte check).", "",
        "CPU budget (medians; CPU s for the whole run):", "",
        "| process | CPU s | µs per datagram |", "|---|---|---|",
        f"| udp_blast | {blast_cpu:.2f} | {1e6 * blast_cpu / count:.2f} |",
        f"| sink, receiving the same datagrams | {sink_cpu:.2f} | {1e6 * sink_cpu / count:.2f} |",
        f"| otrelay UDP (whole process) | {o['cpu_s']:.2f} | {1e6 * o['cpu_s'] / count:.2f} |",
        "",
        f"With {cpus} CPUs fully used and nothing else running, otrelay + sink could reach at "
        f"most {bound:,.0f} datagrams/s = **{100 * bound / ceil:.0f} %** of the ceiling "
        f"(udp_blast + sink: {blast_bound:,.0f}/s, {100 * blast_bound / ceil:.0f} %)."])


def curve_rows(ctx, label, variants):
    """Runs otrelay over TCP for each variant; variant = (name, alerts, n, rules, actions, want)."""
    out = []
    for name, alerts, n, rules, actions, want_count in variants:
        rows = [run_otrelay(ctx["bins"], ctx["work"], alerts, n, "tcp", rules, actions,
                            want_count) for _ in range(ctx["runs"])]
        ok = all(r["received"] == want_count for r in rows)
        size = alerts.stat().st_size
        out.append((name, med(rows, "alerts_per_s"), med(rows, "cpu_s"), med(rows, "rss_mib"),
                    want_count, min(r["received"] for r in rows), ok,
                    size / n * med(rows, "alerts_per_s") / 2 ** 20))
        log(f"{label} {name}: {out[-1][1]:,.0f} alerts/s, received "
            f"{out[-1][5]}/{want_count}")
    return out


def section_curves(ctx):
    bins, work, alerts, n, want = ctx["bins"], ctx["work"], ctx["alerts"], ctx["n"], ctx["want"]
    tcp = [cef_action("tcp", 0)]
    parts = ["## Cost curves (otrelay, TCP, medians)"]

    # Rules: the base rule plus narrower ones (subsets of it), all with the same action, so the
    # output is the base rule's whatever the count.
    rng = random.Random(7)
    variants = []
    for count in (1, 10, 100, 1000):
        rules = [BASE_RULE]
        for i in range(1, count):
            protos = rng.sample(PROTOCOLS, rng.randint(1, 5))
            engines = None
            if rng.random() < 0.5:
                engines = rng.sample(["Policy Violation", "Protocol Violation", "Malware",
                                      "Anomaly", "Operational"], rng.randint(1, 4))
            rules.append(Rule(rng.choice(["Minor", "Major", "Critical"]), protos, engines,
                              name=f"r{i}"))
        variants.append((f"{count} rules", alerts, n, rules, tcp, len(want)))
    parts.append(curve_table("rules", curve_rows(ctx, "rules", variants)))

    variants = []
    for k in (1, 2, 4, 8):
        acts = [cef_action("tcp", 0, tz) for tz in TIMEZONES[:k]]
        variants.append((f"{k} actions", alerts, n, [BASE_RULE], acts, k * len(want)))
    parts.append(curve_table("actions per forwarded alert (time zones, one connection)",
                             curve_rows(ctx, "actions", variants)))

    variants = []
    for length in (100, 1024, 4096, 8192):
        # Long messages get fewer alerts so that the file stays near 1 GiB.
        m = max(100_000, min(n, n * 1024 // length))
        path = workload(bins, work, m, length)
        w = expected(path, [BASE_RULE])
        # field_limits = false: the whole message is encoded (by default msg is cut at 1023).
        whole = [dict(cef_action("tcp", 0), field_limits=False)]
        variants.append((f"{length} B message", path, m, [BASE_RULE], whole, len(w)))
    parts.append(curve_table("message length (field_limits = false; MiB/s of input)",
                             curve_rows(ctx, "length", variants)))

    narrow = expected(alerts, [NARROW_RULE])
    variants = [(f"{100 * len(narrow) / n:.1f} % forwarded", alerts, n, [NARROW_RULE], tcp,
                 len(narrow)),
                (f"{100 * len(want) / n:.1f} % forwarded", alerts, n, [BASE_RULE], tcp,
                 len(want))]
    parts.append(curve_table("forwarded share", curve_rows(ctx, "share", variants)))
    return "\n\n".join(parts)


def curve_table(title, rows):
    lines = [f"### vs {title}", "",
             "| variant | alerts/s | input MiB/s | CPU s | peak RSS MiB | expected | received "
             "(min) | ok |", "|---|---|---|---|---|---|---|---|"]
    for name, rate, cpu, rss, want, got, ok, mibs in rows:
        lines.append(f"| {name} | {rate:,.0f} | {mibs:,.0f} | {cpu:.2f} | {rss:.1f} | "
                     f"{want:,} | {got:,} | {'yes' if ok else 'NO'} |")
    return "\n".join(lines)


def section_latency(ctx):
    bins, work = ctx["bins"], ctx["work"]
    lines = ["## Latency: intake (TCP source) to receiver, fixed offered rate, 5 s", "",
             "| offered rate | sent | received | p50 µs | p99 µs | p99.9 µs | max µs |",
             "|---|---|---|---|---|---|---|"]
    ctx["latency"] = {}
    for rate in (10_000, 100_000):
        src, dst = free_port(), free_port()
        cfg = otrelay_config(work / "otrelay-latency.toml",
                             {"kind": "tcp", "listen": f"127.0.0.1:{src}"}, [BASE_RULE],
                             [cef_action("tcp", dst)], work / "dead-letter.log")
        wait_idle()
        lat = subprocess.Popen([str(bins["latency"]), "--source", f"127.0.0.1:{src}",
                                "--listen", f"127.0.0.1:{dst}", "--rate", str(rate),
                                "--seconds", "5"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        lat.stderr.readline()
        o = subprocess.Popen([str(bins["otrelay"]), "run", "--config", str(cfg)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        out, _ = lat.communicate(timeout=60)
        o.send_signal(signal.SIGINT)
        o.communicate(timeout=30)
        r = parse_kv(out)
        ctx["latency"][rate] = r
        log(f"latency {rate}/s: {out.strip()}")
        lines.append(f"| {rate:,}/s | {r.get('sent')} | {r.get('received')} | "
                     f"{r.get('p50_us')} | {r.get('p99_us')} | {r.get('p999_us')} | "
                     f"{r.get('max_us')} |")
    return "\n".join(lines)


def section_startup(ctx):
    bins, work = ctx["bins"], ctx["work"]
    one = work / "alerts-one.jsonl"
    with open(ctx["alerts"], "rb") as f:
        for line in f:
            if BASE_RULE.matches(json.loads(line)):
                one.write_bytes(line)
                break
    times = []
    for _ in range(10):
        port = free_port()
        cfg = otrelay_config(work / "otrelay-startup.toml", {"kind": "file", "path": str(one)},
                             [BASE_RULE], [cef_action("tcp", port)], work / "dead-letter.log")
        sink = Sink(bins, "tcp", port, expect=1)
        start_ns = time.time_ns()
        p = subprocess.run([str(bins["otrelay"]), "run", "--config", str(cfg)],
                           capture_output=True)
        got = sink.result(timeout=10)
        if p.returncode == 0 and got["messages"] == 1:
            times.append((got["first_ns"] - start_ns) / 1e6)
    ctx["startup_ms"] = statistics.median(times) if times else float("nan")
    return "\n".join([
        "## Start-up to first alert sent (1-alert file, TCP)", "",
        "| median ms | min ms | max ms | runs |", "|---|---|---|---|",
        f"| {ctx['startup_ms']:.2f} | {min(times):.2f} | {max(times):.2f} | {len(times)} |", "",
        "From the harness's spawn (fork + exec included) to the receiver's first byte."])


def section_rss(ctx):
    bins, work = ctx["bins"], ctx["work"]
    rows = []
    sizes = [ctx["n"]] + ([ctx["big"]] if ctx["big"] else [])
    for m in sizes:
        path = workload(bins, work, m)
        # The big file's expected count is otrelay's own summary (reading 10 M alerts in Python
        # takes too long); the 1 M file is checked against the input.
        count = len(ctx["want"]) if m == ctx["n"] else None
        r = run_otrelay(bins, work, path, m, "tcp", [BASE_RULE], [cef_action("tcp", 0)], count)
        rows.append((m, path.stat().st_size, r))
        log(f"rss {m}: {r['rss_mib']:.1f} MiB, {r['alerts_per_s']:,.0f} alerts/s")
        if m != ctx["n"]:
            path.unlink()
    lines = ["## Peak RSS of otrelay (TCP, whole run)", "",
             "| alerts | file GiB | peak RSS MiB | alerts/s | received | expected |",
             "|---|---|---|---|---|---|"]
    for m, size, r in rows:
        exp = f"{len(ctx['want']):,}" if m == ctx["n"] else f"{r['forwarded']:,} (summary)"
        lines.append(f"| {m:,} | {size / 2 ** 30:.2f} | {r['rss_mib']:.1f} | "
                     f"{r['alerts_per_s']:,.0f} | {r['received']:,} | {exp} |")
    return "\n".join(lines)


def section_profile(ctx):
    bins, work = ctx["bins"], ctx["work"]
    parts = ["## Profile (perf record -e cpu-clock -g, one otrelay run per transport)"]
    for transport in ("tcp", "udp"):
        data = work / f"perf-{transport}.data"
        wrap = ["perf", "record", "-e", "cpu-clock", "-g", "-q", "-o", str(data), "--"]
        r = run_otrelay(bins, work, ctx["alerts"], ctx["n"], transport, [BASE_RULE],
                        [cef_action(transport, 0)], len(ctx["want"]), wrap=wrap)
        base = ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none"]
        by_thread = subprocess.run(base + ["--sort", "comm"], capture_output=True,
                                   text=True).stdout
        by_symbol = subprocess.run(base + ["--sort", "comm,dso,symbol", "--percent-limit",
                                           "0.5"], capture_output=True, text=True).stdout
        (work / f"perf-report-{transport}.txt").write_text(by_thread + "\n" + by_symbol)

        def rows(text, limit):
            kept = [re.sub(r"(\s+-)+\s*$", "", l).rstrip() for l in text.splitlines()
                    if l.strip() and not l.startswith("#")]
            return kept[:limit]

        parts.append("\n".join([
            f"### {transport.upper()}: {r['alerts_per_s']:,.0f} alerts/s under perf", "",
            "CPU samples by thread:", "", "```text", *rows(by_thread, 8), "```", "",
            "Top symbols (self time):", "", "```text", *rows(by_symbol, 25), "```"]))
    return "\n\n".join(parts)


SECTIONS = ["throughput", "ceiling", "curves", "latency", "startup", "rss", "profile"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-alerts", type=int, default=10_000_000,
                    help="alerts for the RSS-growth check; 0 skips it")
    ap.add_argument("--out", default=str(ROOT / "perf" / "out"))
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--tools", default="otrelay,otrelay-w2,otrelay-w2s,rsyslog,syslog-ng",
                    help="throughput: the tools to measure (otrelay-w2 = pipeline.workers 2)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    only = args.only.split(",")

    sng = setup_peers(out) if "throughput" in only else None
    if args.no_build:
        rel = ROOT / "target" / "release"
        bins = {"otrelay": rel / "otrelay", "gen": rel / "examples/gen_alerts",
                "sink": rel / "examples/sink", "blast": rel / "examples/udp_blast",
                "latency": rel / "examples/latency"}
    else:
        bins = build()
    alerts = workload(bins, out, args.alerts)
    log("computing the expected output from the input")
    want = expected(alerts, [BASE_RULE])
    ctx = {"bins": bins, "work": work, "alerts": alerts, "n": args.alerts, "want": want,
           "runs": args.runs, "sng": sng, "big": args.big_alerts,
           "tools": args.tools.split(",")}

    version = subprocess.run([str(bins["otrelay"]), "--version"], capture_output=True,
                             text=True).stdout.strip()
    rs_version = subprocess.run(["rsyslogd", "-v"], capture_output=True,
                                text=True).stdout.splitlines()[0].split(" compiled")[0]
    head = [f"# otrelay whole-process performance, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "", f"Command: `python3 perf/run.py {' '.join(sys.argv[1:])}`".replace("  ", " "),
            "",
            f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {os.uname().release}. "
            f"Tools: {version}; {rs_version}"
            + (f"; {sng.version()}" if sng else "") + ".", ""]
    parts = []
    for s in SECTIONS:
        if s in only:
            log(f"section {s}")
            parts.append(globals()[f"section_{s}"](ctx))
            (out / "results.md").write_text("\n".join(head) + "\n" + "\n\n".join(parts) + "\n")
    note = (f"Other processes share this machine: before each measured run the harness waits "
            f"(up to 20 s, 80 s in all) until the CPUs are less than 15 % busy. Waits: {BUSY['waited']} "
            f"× 2 s; runs started on a busy machine anyway: {BUSY['busy_starts']}.")
    (out / "results.md").write_text("\n".join(head) + "\n" + "\n\n".join(parts) + "\n\n"
                                    + note + "\n")
    summary = {k: v for k, v in ctx.items() if k in ("startup_ms", "ceiling", "latency")}
    if "throughput" in ctx:
        summary["throughput"] = {f"{t}/{tr}": v for (t, tr), v in ctx["throughput"].items()}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    print((out / "results.md").read_text())


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
