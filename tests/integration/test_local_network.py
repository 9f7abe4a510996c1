"""Nothing the local stack starts can be reached from another machine.

Checked from the kernel's own tables, without sending a packet anywhere but loopback: every listening socket owned
by this test process or its children (the HTTP server, the Stripe simulator on the same port, DynamoDB Local's
forwarder) is bound to a loopback address, and the DynamoDB Local jar lives in a network namespace of its own, so
its listen-on-every-interface socket is not in this namespace at all.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from local.dynamodb_local import NO_CORS_ORIGIN, DynamoDBLocal
from local.server import StackConfig

LISTEN = "0A"


def _descendants(root: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), set()).add(int(stat.parent.name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def _address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # four little-endian 32-bit words
    return ipaddress.IPv6Address(words)


def listeners_of(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state, in this network namespace, owned by ``pids``."""
    inodes = _socket_inodes(pids)
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == LISTEN and inode in inodes:
                addr, port = local.split(":")
                out.append((str(_address(addr)), int(port, 16)))
    return out


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


def test_the_checker_sees_a_wildcard_listener():
    # The assertion below can fail: a socket on every interface is reported as such.
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        assert ("0.0.0.0", port) in listeners_of({os.getpid()})


def test_everything_the_stack_started_listens_on_loopback_only(stack, ddb_local):
    mine = listeners_of(_descendants(os.getpid()))
    ports = {port for _, port in mine}
    assert int(stack.base_url.rsplit(":", 1)[1]) in ports  # the HTTP server (API, dashboard, Stripe simulator)
    assert ddb_local.port in ports  # DynamoDB Local's only way in
    exposed = [(a, p) for a, p in mine if not is_loopback(a)]
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_dynamodb_local_runs_in_a_network_namespace_of_its_own(ddb_local):
    assert ddb_local.contained
    argv = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in _descendants(ddb_local.proc.pid)}
    jars = [pid for pid, args in argv.items() if args[0].endswith(b"java") and b"DynamoDBLocal.jar" in b" ".join(args)]
    assert len(jars) == 1
    assert os.readlink(f"/proc/{jars[0]}/ns/net") != os.readlink("/proc/self/ns/net")
    assert listeners_of({jars[0]}) == []  # its socket on every interface exists only inside its namespace


def test_dynamodb_local_sends_no_telemetry_and_grants_no_cors():
    cmd = DynamoDBLocal()._jar_command(8000)
    assert "-disableTelemetry" in cmd
    assert cmd[cmd.index("-cors") + 1] == NO_CORS_ORIGIN and NO_CORS_ORIGIN.endswith(".invalid")


def test_dynamodb_local_answers_no_cors_preflight_from_a_web_page(ddb_local, http):
    r = http.options(ddb_local.endpoint, headers={
        "Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-amz-target"})
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_the_local_stack_refuses_a_non_loopback_host(host):
    with pytest.raises(ValueError, match="loopback"):
        StackConfig(port=3000, table_name="t", dynamodb_endpoint="http://127.0.0.1:1", host=host)
