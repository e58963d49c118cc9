#!/usr/bin/python3
"""telnet_login.py HOST PORT USER PASSWORD: one scripted Telnet login.

A minimal expect-like Telnet client: it refuses every option the server
offers (WONT/DONT), waits for the login prompt, sends the user name, waits
for the password prompt, sends the password, and reports the server's
verdict. Exit status 0 if the server said "Login incorrect", 3 if the
login succeeded, 1 on any other outcome (timeout, closed connection).
"""

import socket
import sys
import time

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240


class Session:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.text = b""  # everything the server printed, options removed
        self.pending = b""

    def _absorb(self, data):
        data = self.pending + data
        self.pending = b""
        i = 0
        while i < len(data):
            c = data[i]
            if c != IAC:
                self.text += bytes([c])
                i += 1
                continue
            if i + 1 >= len(data):
                self.pending = data[i:]
                return
            cmd = data[i + 1]
            if cmd in (DO, DONT, WILL, WONT):
                if i + 2 >= len(data):
                    self.pending = data[i:]
                    return
                opt = data[i + 2]
                if cmd == DO:
                    self.sock.sendall(bytes([IAC, WONT, opt]))
                elif cmd == WILL:
                    self.sock.sendall(bytes([IAC, DONT, opt]))
                i += 3
            elif cmd == SB:
                end = data.find(bytes([IAC, SE]), i)
                if end < 0:
                    self.pending = data[i:]
                    return
                i = end + 2
            elif cmd == IAC:
                self.text += b"\xff"
                i += 2
            else:
                i += 2

    def expect(self, needles, deadline):
        start = len(self.text)
        while time.monotonic() < deadline:
            low = self.text[start:].lower()
            for n in needles:
                if n in low:
                    return n
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                return None
            self._absorb(data)
        return None

    def send_line(self, line):
        self.sock.sendall(line.encode() + b"\r\n")


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    deadline = time.monotonic() + 15
    s = Session(host, port, timeout=0.5)
    if s.expect([b"login:"], deadline) is None:
        print("telnet: no login prompt", file=sys.stderr)
        return 1
    s.send_line(user)
    if s.expect([b"password:"], deadline) is None:
        print("telnet: no password prompt", file=sys.stderr)
        return 1
    s.send_line(password)
    verdict = s.expect([b"login incorrect", b"$ ", b"# "], deadline)
    s.sock.close()
    if verdict == b"login incorrect":
        print("telnet: Login incorrect")
        return 0
    if verdict is not None:
        print("telnet: login succeeded", file=sys.stderr)
        return 3
    print("telnet: no verdict", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
