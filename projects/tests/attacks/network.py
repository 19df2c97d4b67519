"""Try every way out of the jail to a network service; print probe -> outcome."""

import json
import socket
import sys

targets = json.loads(sys.argv[1])
out = {}


def tcp(host, port):
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return "connected:" + s.recv(64).decode(errors="replace")
    except OSError as exc:
        return f"blocked:{exc.errno}:{exc.strerror}"


def unix(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            return "connected"
    except OSError as exc:
        return f"blocked:{exc.errno}:{exc.strerror}"


out["postgres_tcp"] = tcp("127.0.0.1", 5432)
out["redis_tcp"] = tcp("127.0.0.1", 6379)
out["web_loopback"] = tcp("127.0.0.1", targets["web_port"])
out["web_ipv6"] = tcp("::1", targets["web_port"])
if targets.get("netns_addr"):
    out["netns_peer"] = tcp(targets["netns_addr"], targets["netns_port"])
out["outside"] = tcp("1.1.1.1", 53)
out["postgres_unix"] = unix("/var/run/postgresql/.s.PGSQL.5432")
out["abstract_unix"] = unix("\0" + targets["abstract"])
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("8.8.8.8", 53))
    out["udp"] = "sent"
except OSError as exc:
    out["udp"] = f"blocked:{exc.errno}:{exc.strerror}"
for name, family in (("vsock", 40), ("netlink", 16), ("packet", 17)):
    try:
        socket.socket(family, socket.SOCK_RAW if name != "vsock" else socket.SOCK_STREAM).close()
        out[name] = "opened"
    except OSError as exc:
        out[name] = f"blocked:{exc.errno}:{exc.strerror}"
print(json.dumps(out))
