#!/usr/bin/env python3
"""fakeqmp.py - a scripted fake QMP monitor, for tests that feed the guard
what a hostile or broken QEMU could send.

usage: fakeqmp.py SOCKET SCRIPT LOG

Listens on the unix socket SOCKET (replacing what is there), serves one
client at a time: the QMP greeting (offering "oob"), qmp_capabilities
answered with {}, then every command answered by the current rules while
SCRIPT's steps run in order, across connections.  Every message received and
every step is a line in LOG, so a test can wait on it and assert it.

SCRIPT, one step a line ('#' starts a comment):
  reply CMD JSON       from now on answer CMD with {"return": JSON, "id": ...}
  reply-raw CMD TEXT   from now on answer CMD with TEXT, @ID@ replaced by the
                       request's id as JSON (for replies no rule could build)
  silent CMD           from now on never answer CMD (a held monitor)
  send TEXT            send TEXT (any bytes, e.g. an event) once a client has
                       negotiated; waits for one
  wait CMD             wait until CMD arrives again after this step began
  waitfile PATH        wait until PATH exists (the test says "go")
  touch PATH           create PATH (tell the test a step was done)
  close                close the current client's connection
Without a rule: query-status answers "running", query-migrate {}, anything
else a CommandNotFound error.

LOG lines: "listening", "connected", "recv CMD ARGS", "sent TEXT",
"step N: LINE", "closed", "script done".
"""
import json
import os
import selectors
import socket
import sys
import time

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                "package": "fakeqmp"},
                    "capabilities": ["oob"]}}


class Fake:
    def __init__(self, path, script, log):
        self.steps = [l.strip() for l in script if l.strip() and not l.lstrip().startswith("#")]
        self.pc = 0
        self.wait_base = None
        self.log = log
        self.rules = {
            "query-status": ("json", {"status": "running", "running": True, "singlestep": False}),
            "query-migrate": ("json", {}),
        }
        self.counts = {}
        self.client = None
        self.ready = False
        self.buf = ""
        self.dec = json.JSONDecoder()
        self.sel = selectors.DefaultSelector()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.sel.register(self.srv, selectors.EVENT_READ)
        self.note("listening")

    def note(self, line):
        self.log.write(line + "\n")
        self.log.flush()

    def send(self, text):
        if not text.endswith("\n"):
            text += "\r\n"
        try:
            self.client.sendall(text.encode())
        except OSError:
            self.drop()
            return
        self.note("sent " + text.rstrip())

    def drop(self):
        if self.client:
            self.sel.unregister(self.client)
            self.client.close()
            self.client = None
            self.ready = False
            self.buf = ""
            self.note("closed")

    def accept(self):
        conn, _ = self.srv.accept()
        if self.client:
            conn.close()	# QEMU serves one client per socket
            return
        self.client = conn
        self.sel.register(conn, selectors.EVENT_READ)
        self.note("connected")
        self.send(json.dumps(GREETING))

    def answer(self, cmd, msg):
        mid = json.dumps(msg.get("id"))
        if cmd == "qmp_capabilities":
            self.send('{"return": {}, "id": %s}' % mid)
            self.ready = True
            return
        kind, value = self.rules.get(cmd, ("error", None))
        if kind == "silent":
            return
        if kind == "raw":
            self.send(value.replace("@ID@", mid))
        elif kind == "json":
            self.send(json.dumps({"return": value, "id": msg.get("id")}))
        else:
            self.send(json.dumps({"error": {"class": "CommandNotFound",
                                            "desc": "The command %s has not been found" % cmd},
                                  "id": msg.get("id")}))

    def receive(self):
        try:
            data = self.client.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop()
            return
        self.buf += data.decode(errors="replace")
        while True:
            self.buf = self.buf.lstrip()
            if not self.buf:
                return
            try:
                msg, end = self.dec.raw_decode(self.buf)
            except ValueError:
                return
            self.buf = self.buf[end:]
            cmd = msg.get("execute") or msg.get("exec-oob") or "?"
            self.counts[cmd] = self.counts.get(cmd, 0) + 1
            self.note("recv %s %s" % (cmd, json.dumps(msg.get("arguments"), sort_keys=True)))
            self.answer(cmd, msg)

    def step(self):
        """Runs steps until one must wait; True when the script moved."""
        moved = False
        while self.pc < len(self.steps):
            line = self.steps[self.pc]
            op, _, rest = line.partition(" ")
            if op == "wait":
                if self.wait_base is None:
                    self.wait_base = self.counts.get(rest, 0)
                if self.counts.get(rest, 0) <= self.wait_base:
                    return moved
                self.wait_base = None
            elif op == "waitfile":
                if not os.path.exists(rest):
                    return moved
            elif op == "send":
                if not self.ready:
                    return moved
                self.send(rest)
            elif op == "close":
                self.drop()
            elif op == "touch":
                open(rest, "a").close()
            elif op in ("reply", "reply-raw"):
                cmd, _, value = rest.partition(" ")
                self.rules[cmd] = ("json", json.loads(value)) if op == "reply" else ("raw", value)
            elif op == "silent":
                self.rules[rest] = ("silent", None)
            else:
                raise SystemExit("fakeqmp: unknown step: " + line)
            self.note("step %d: %s" % (self.pc + 1, line))
            self.pc += 1
            moved = True
            if self.pc == len(self.steps):
                self.note("script done")
        return moved

    def run(self):
        while True:
            self.step()
            # waitfile is the only step that needs polling.
            timeout = 0.05 if self.pc < len(self.steps) else None
            for key, _ in self.sel.select(timeout):
                if key.fileobj is self.srv:
                    self.accept()
                elif self.client and key.fileobj is self.client:
                    self.receive()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    with open(sys.argv[2]) as script, open(sys.argv[3], "a") as log:
        Fake(sys.argv[1], script, log).run()


if __name__ == "__main__":
    main()
