#!/usr/bin/env python3
"""A TCP proxy between NATS clients and a nats-server that corrupts transfers in flight.

Usage: nats_corrupt_proxy.py LISTEN_PORT SERVER_PORT N [MIN_BYTES]

Client -> server bytes pass unchanged. Server -> client, the NATS protocol is followed
(MSG / HMSG frames carry their payload length): the payload of each of the first N
messages of at least MIN_BYTES (default 65536) gets one byte flipped in its middle, so the
framing stays valid and only the data is wrong, as a bad link or a bad buffer would make
it. Prints "ready" once it listens, and "corrupted K" for each message it changed.
"""
import socket
import sys
import threading

listen_port, server_port, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
min_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 65536
lock = threading.Lock()
state = {"left": budget, "done": 0}


def close_both(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pipe_up(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    close_both(src, dst)


def take():
    with lock:
        if state["left"] <= 0:
            return False
        state["left"] -= 1
        state["done"] += 1
        print("corrupted", state["done"], flush=True)
        return True


def pipe_down(src, dst):
    buf = b""
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            buf += b
            while True:
                eol = buf.find(b"\r\n")
                if eol < 0:
                    break
                line = buf[: eol + 2]
                words = line.split()
                if words and words[0] in (b"MSG", b"HMSG"):
                    size = int(words[-1])
                    end = eol + 2 + size + 2
                    if len(buf) < end:
                        break  # the whole frame first
                    payload = bytearray(buf[eol + 2 : end - 2])
                    if size >= min_bytes and take():
                        payload[size // 2] ^= 0x5A
                    dst.sendall(line + bytes(payload) + b"\r\n")
                    buf = buf[end:]
                else:
                    dst.sendall(line)
                    buf = buf[eol + 2 :]
    except OSError:
        pass
    close_both(src, dst)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(16)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", server_port))
    threading.Thread(target=pipe_up, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe_down, args=(u, c), daemon=True).start()
