"""A TCP relay in a process of its own, in front of the shared Spark Connect server: the server
process a test kills. To the client, a relay killed by SIGKILL is a server process killed (the
kernel drops its connections and nothing listens on the port any more), while the shared server
lives on for the other tests, and no second JVM starts (one costs about 20 s of wall and of a
core's CPU on this machine).

Run as a script (``python relay.py TARGET_PORT``): it prints the port it listens on, then
forwards each connection to ``127.0.0.1:TARGET_PORT`` until it is killed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Relay:
    """A running relay process and the ``sc://`` URL that reaches the server through it."""

    process: subprocess.Popen
    url: str

    def kill(self) -> None:
        """SIGKILL, as a server process dies: no goodbye on any connection."""
        self.process.kill()
        self.process.wait(timeout=30)


def start_relay(target_port: int) -> Relay:
    """A relay process to the server on ``target_port``, listening once this returns."""
    process = subprocess.Popen([sys.executable, "-I", str(Path(__file__)), str(target_port)],
                               stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    return Relay(process, f"sc://127.0.0.1:{port}")


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction of a connection; at its end, pass the end on."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _serve(target_port: int) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
