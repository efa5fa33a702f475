"""The readable table of a results document.

Latency columns: ``arr`` is send → the frame reached the client's socket (the kernel's
receive timestamp), ``read`` is send → the generator parsed it (adds the generator's
own queue); see bench/loadgen.py."""

from __future__ import annotations

from typing import Any


def table(document: dict[str, Any]) -> str:
    host = document["machine"]
    lines = [f"Tsunagu benchmark ({document['mode']}), {host['cpus']} CPUs {host['cpu_model']}"]
    if "speed_ms_at_start" in host:
        lines.append(f"machine speed: {host['speed_ms_at_start']} ms at the start, "
                     f"{host.get('speed_ms_at_end', '?')} ms at the end "
                     "(bench.run.machine_speed; lower is faster)")
    for s in document["scenarios"]:
        lines.append("")
        lines.append(f"== {s['scenario']}: {s['description']}")
        lines.extend(_rows(s))
    return "\n".join(lines) + "\n"


_LATENCY_HEAD = (f"{'arr p50':>8} {'arr p99':>8} {'read p50':>8} {'read p99':>8}")


def _latencies(f: dict[str, Any]) -> str:
    """Arrival and read p50/p99 in ms."""
    arr, lat = f["arrival_ms"], f["latency_ms"]
    return f"{arr['p50']:8.2f} {arr['p99']:8.2f} {lat['p50']:8.2f} {lat['p99']:8.2f}"


def _rows(s: dict[str, Any]) -> list[str]:
    key = s["scenario"]
    out: list[str] = []
    if key.startswith("a_"):
        out.append(f"{'server':10} {'rate':4} {'msg/s':>7} {'deliv/s':>9} {_LATENCY_HEAD} "
                   f"{'us/deliv':>9} {'loop us':>8} all")
        for kind in ("tsunagu", "raw", "starlette"):
            for label, f in s.get(kind, {}).get("phases", {}).items():
                out.append(f"{kind:10} {label:4} {f['sent_per_s']:7.1f} "
                           f"{f['deliveries_per_s']:9.1f} {_latencies(f)} "
                           f"{f['server_cpu_us_per_delivery']:9.2f} "
                           f"{f['server_loop_us_per_delivery']:8.2f} "
                           f"{'yes' if f['all_delivered'] else 'NO'}")
    elif key.startswith("b_"):
        out.append(f"{'server':10} {'ws':8} {'msg/s':>7} {'deliv/s':>9} {_LATENCY_HEAD} "
                   f"{'us/deliv':>9} all")
        for label, group in (("plain", s), ("deflate", s.get("permessage_deflate", {}))):
            for kind in ("tsunagu", "raw", "starlette"):
                f = group.get(kind)
                if f:
                    out.append(f"{kind:10} {label:8} {f['sent_per_s']:7.1f} "
                               f"{f['deliveries_per_s']:9.1f} {_latencies(f)} "
                               f"{f['server_cpu_us_per_delivery']:9.2f} "
                               f"{'yes' if f['all_delivered'] else 'NO'}")
    elif key.startswith("c_"):
        out.append(f"{'server':18} {'held':>6} {'KiB/conn':>9} {'2nd half':>9} {'conn/s':>7} "
                   f"{'CPU ms/conn':>12} {'connect p99 ms':>15}")
        for kind, f in s.items():
            if isinstance(f, dict) and "kib_per_connection" in f:
                out.append(f"{kind:18} {f['connections']:6} {f['kib_per_connection']:9.1f} "
                           f"{f.get('kib_per_connection_second_half', 0.0):9.1f} "
                           f"{f['connect']['rate_per_s']:7.0f} "
                           f"{f['server_cpu_ms_per_connect']:12.3f} "
                           f"{f['connect']['connect_ms']['p99']:15.1f}")
    elif key.startswith("f_"):
        out.append(f"{'server':10} {'phase':13} {'deliv/s':>9} {_LATENCY_HEAD} "
                   f"{'us/deliv':>9} {'rss+MiB':>8} all  stalled ones afterwards")
        for kind in ("tsunagu", "raw", "starlette"):
            f = s.get(kind)
            if not f:
                continue
            for label in ("all_reading", "some_stalled"):
                p = f[label]
                after = ""
                if label == "some_stalled":
                    ended = f["stalled_after_resuming"]
                    after = (f"closed {ended['close_codes'] or 'none'}, read "
                             f"{ended['messages_read_after_resuming']} msgs")
                out.append(f"{kind:10} {label:13} {p['deliveries_per_s']:9.1f} "
                           f"{_latencies(p)} "
                           f"{p['server_cpu_us_per_delivery']:9.2f} "
                           f"{p['rss_growth_mib']:8.1f} "
                           f"{'yes' if p['all_delivered'] else 'NO ':3}  {after}")
    elif key.startswith("d_"):
        out.append(f"{'database':10} {'senders':>7} {'messages':>9} {'msg/s':>8} "
                   f"{'p50 ms':>8} {'p99 ms':>8} {'per tx':>7} chain")
        for row in s.get("runs", []):
            out.append(f"{row['database']:10} {row.get('senders', ''):>7} {row['messages']:9} "
                       f"{row['messages_per_s']:8.0f} {row['latency_ms']['p50']:8.2f} "
                       f"{row['latency_ms']['p99']:8.2f} {row.get('mean_batch', 1):7} "
                       f"{'ok' if row.get('chain_ok') else 'BROKEN'}")
    elif key.startswith("e_"):
        out.append(f"{'database':10} {'query':12} {'chars':>5} {'hits':>5} {'p50 ms':>8} "
                   f"{'p95 ms':>8}")
        for row in s.get("queries", []):
            out.append(f"{row['database']:10} {row['query']:12} {row['chars']:5} "
                       f"{row['hits']:5} {row['latency_ms']['p50']:8.2f} "
                       f"{row['latency_ms']['p95']:8.2f}")
    elif key.startswith("g_"):
        out.append(f"{'database':10} {'people':>6} {'in s':>6} {'stored once':>11} "
                   f"{'tallies':>7} {'lag p50 ms':>10} {'lag p99 ms':>10} ok")
        lag = s["lag_ms"]
        out.append(f"{s['database']:10} {s['people']:6} {s['sending_took_s']:6} "
                   f"{'yes' if s['stored_once'] else 'NO':>11} {s['tally_frames']:7} "
                   f"{lag['p50']:10.1f} {lag['p99']:10.1f} {'yes' if s['ok'] else 'NO'}")
    elif key[:2] in ("h_", "i_", "j_"):
        from bench.report_nodes import rows

        out.extend(rows(s))
    if "ratios" in s:
        for name, row in s["ratios"].items():
            out.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    return out
