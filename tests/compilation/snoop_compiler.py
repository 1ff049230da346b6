"""A compiler stand-in that reports what it can see (for test_compiler_sandbox.py): the server's credentials,
its model folder, the network. Usage: snoop_compiler.py HOME <the compiler's arguments>."""
import argparse
import os
import socket
import sys
home = sys.argv[1]
p = argparse.ArgumentParser()
for arg in ("--model-dir", "--framework", "--data-input-config", "--target", "--out", "--compiler-options"):
    p.add_argument(arg)
a = p.parse_args(sys.argv[2:])
seen = []
seen.append("credentials:" + ("READ" if os.path.exists(os.path.join(home, "credentials.json")) else "hidden"))
seen.append("model:" + ("seen" if os.listdir(a.model_dir) else "empty"))
try:
    socket.create_connection(("192.0.2.1", 9), timeout=1).close()
    seen.append("network:open")
except OSError:
    seen.append("network:cut")
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "failure"), "w").write("ClientError: " + " ".join(seen))
sys.exit(1)
