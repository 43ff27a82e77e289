#!/usr/bin/python3
"""A TCP proxy for the test bed: listen on HOST:PORT, forward every accepted
connection to HOST:PORT.  One process, one thread (selectors), so that
SIGSTOP freezes every connection at once (a black hole: the sockets stay
open, no byte moves) and SIGKILL closes them all (the kernel ends both
sides).  Loopback addresses only: the bed must never forward off the box.

usage: proxy.py LISTEN_HOST:PORT CONNECT_HOST:PORT PIDFILE

Writes PIDFILE once it listens.  Logs one line per connection event on
stderr, with the bytes moved each way when a connection ends, and a line
per second while bytes move ("moved c2s=N s2c=N"), so a test can tell that
the stream flowed through it.
"""
import os
import selectors
import socket
import sys
import time

BUF = 256 * 1024


def addr(s):
    host, _, port = s.rpartition(':')
    if not host.startswith('127.'):
        sys.exit(f'proxy: {host} is not a loopback address')
    return host, int(port)


def log(msg):
    sys.stderr.write(f'{time.strftime("%H:%M:%S")}.{int(time.time() * 1000) % 1000:03d} proxy[{os.getpid()}]: {msg}\n')
    sys.stderr.flush()


class Flow:
    """One direction of a proxied connection: bytes read from src wait in
    buf until dst takes them; src is not read while buf holds bytes, so a
    peer that stops reading stops the sender (back-pressure, as on a wire)."""

    def __init__(self, name, src, dst):
        self.name, self.src, self.dst = name, src, dst
        self.buf = b''
        self.moved = 0
        self.eof = False
        self.done = False


class Pair:
    """One proxied connection: client <-> upstream, two flows."""

    def __init__(self, n, client, upstream):
        self.n = n
        self.client, self.upstream = client, upstream
        self.c2s = Flow('c2s', client, upstream)
        self.s2c = Flow('s2c', upstream, client)
        self.closed = False


RCVBUF = 128 * 1024


def main():
    lhost, lport = addr(sys.argv[1])
    chost, cport = addr(sys.argv[2])
    pidfile = sys.argv[3]
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Small fixed receive buffers (set before listen/connect, so they are
    # what the window is scaled for): a stopped proxy then stops
    # acknowledging within ~0.25 MiB, as a link that drops packets would.
    # Autotuned, loopback grows them to tcp_rmem's maximum (32 MiB here),
    # which a post-copy stream at 1 MiB/s took over 30 s to fill.
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    lsock.bind((lhost, lport))
    lsock.listen(16)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    tmp = f'{pidfile}.tmp'
    with open(tmp, 'w') as f:
        f.write(f'{os.getpid()}\n')
    os.rename(tmp, pidfile)
    log(f'listening on {lhost}:{lport}, forwarding to {chost}:{cport}')
    pairs = []
    n = 0
    total = {'c2s': 0, 's2c': 0}
    reported = dict(total)
    last_report = time.monotonic()

    def interest(p):
        """(Re)registers both sockets for what their flows need now."""
        for s in (p.client, p.upstream):
            ev = 0
            for f in (p.c2s, p.s2c):
                if f.src is s and not f.eof and not f.buf:
                    ev |= selectors.EVENT_READ
                if f.dst is s and f.buf:
                    ev |= selectors.EVENT_WRITE
            try:
                sel.unregister(s)
            except KeyError:
                pass
            if ev:
                sel.register(s, ev, p)

    def close(p, why):
        if p.closed:
            return
        p.closed = True
        for s in (p.client, p.upstream):
            try:
                sel.unregister(s)
            except KeyError:
                pass
            s.close()
        pairs.remove(p)
        log(f'conn {p.n} closed ({why}): c2s={p.c2s.moved} s2c={p.s2c.moved}')

    while True:
        for key, ev in sel.select(timeout=1.0):
            s = key.fileobj
            if s is lsock:
                try:
                    c, peer = lsock.accept()
                except BlockingIOError:
                    continue
                n += 1
                u = socket.socket()
                u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                u.settimeout(5)
                try:
                    u.connect((chost, cport))
                except OSError as e:
                    u.close()
                    log(f'conn {n} from {peer[0]}:{peer[1]}: upstream {chost}:{cport}: {e}; closing')
                    c.close()
                    continue
                for x in (c, u):
                    x.setblocking(False)
                    x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                p = Pair(n, c, u)
                pairs.append(p)
                interest(p)
                log(f'conn {n} from {peer[0]}:{peer[1]} to {chost}:{cport}')
                continue
            p = key.data
            try:
                for f in (p.c2s, p.s2c):
                    if f.src is s and ev & selectors.EVENT_READ and not f.buf and not f.eof:
                        data = f.src.recv(BUF)
                        if data:
                            f.buf = data
                        else:
                            f.eof = True
                            log(f'conn {p.n}: EOF {f.name}')
                    if f.dst is s and ev & selectors.EVENT_WRITE and f.buf:
                        k = f.dst.send(f.buf)
                        f.buf = f.buf[k:]
                        f.moved += k
                        total[f.name] += k
                    if f.eof and not f.buf and not f.done:
                        # Half-close: pass the EOF on, keep the other way open.
                        f.done = True
                        f.dst.shutdown(socket.SHUT_WR)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                close(p, str(e))
                continue
            if p.c2s.done and p.s2c.done:
                close(p, 'both sides ended')
            else:
                interest(p)
        now = time.monotonic()
        if now - last_report >= 1.0:
            if total != reported:
                log(f'moved c2s={total["c2s"]} s2c={total["s2c"]} ({len(pairs)} open)')
                reported = dict(total)
            last_report = now


if __name__ == '__main__':
    main()
