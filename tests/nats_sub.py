"""A bare NATS client for the shell tests: python3 nats_sub.py PORT SUBJECT.

Prints "ready" once the server has the subscription, then one line per message:
"SUBJECT PAYLOAD" (the payload as text: JSON messages stay one line). Runs until the
server closes the connection or it is killed."""
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b'CONNECT {"verbose":false}\r\nSUB ' + sys.argv[2].encode() + b" 1\r\nPING\r\n")
s.settimeout(None)
buf = b""
while True:
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
    while b"\r\n" in buf:
        line, rest = buf.split(b"\r\n", 1)
        if line.startswith(b"MSG "):
            n = int(line.split()[-1])
            if len(rest) < n + 2:
                break
            print(line.split()[1].decode(), rest[:n].decode(errors="replace"), flush=True)
            buf = rest[n + 2:]
        else:
            buf = rest
            if line == b"PONG":
                print("ready", flush=True)
            elif line == b"PING":
                s.sendall(b"PONG\r\n")
