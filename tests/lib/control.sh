# tests/lib/control.sh: one command on domauthd's control socket (source
# it). control_send SOCKET COMMAND prints the whole answer.
control_send() {
    "${python:-/usr/bin/python3}" - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode())
PY
}
