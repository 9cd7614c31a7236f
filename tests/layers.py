#!/usr/bin/env python3
"""layers.py: dependencies point down (../shared/design.md, "Layers").

Every file under src/LAYER/ may include headers of the layers listed for
LAYER below, its own, and the public headers in include/. The front ends
(cli/, daemon/) may include any layer; nothing in src/ may include them.
Prints TAP: one test per layer, naming each offending #include."""
import os
import re
import sys

# A layer and the layers it may use (directly or not).
ALLOWED = {
    "util": set(),
    "msg": {"util"},
    "dns": {"util"},
    "authres": {"util", "msg"},
    "spf": {"util", "dns", "authres"},
    "record": {"util", "dns", "spf"},
    "dkim": {"util", "dns", "authres", "msg"},
    "arc": {"util", "dns", "authres", "msg", "dkim"},
    "srs": {"util"},
    "dmarc": {"util", "dns"},
    "proto": {"util", "msg"},
    "config": {"util"},
    "policy": {"util", "msg", "authres", "config", "spf", "dkim", "dmarc", "dns"},
    "store": {"util", "msg", "authres", "config", "policy"},
    "report": {"util", "store"},
    "service": {"util", "msg", "dns", "authres", "spf", "dkim", "dmarc", "config", "policy", "store",
                "proto", "report"},
}
# The front ends that must not reach the mail path: domauth-web (web/) reads
# the store and talks to domauthd's control socket, so the service (the
# message check, the signing keys) and the engines that judge mail are not
# among what it may include; record (the publisher's SPF wizard) is.
FRONT_ENDS = {
    "web": {"util", "msg", "config", "store", "report", "proto", "record"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    layers = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    print("1..%d" % (len(layers) + len(FRONT_ENDS)))
    failed = 0
    for n, layer in enumerate(layers, 1):
        problems = []
        if layer not in ALLOWED:
            problems.append("src/%s is not a known layer: add it to tests/layers.py" % layer)
        allowed = ALLOWED.get(layer, set()) | {layer}
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for target in INCLUDE.findall(text):
                    if "/" not in target:
                        continue  # same folder, or include/
                    top = target.split("/")[0]
                    if top in layers and top not in allowed:
                        rel = os.path.relpath(path, os.path.join(root, ".."))
                        problems.append('%s includes "%s": %s is not below %s'
                                        % (rel, target, top, layer))
        if problems:
            failed += 1
            print("not ok %d - src/%s includes only the layers below it" % (n, layer))
            for p in problems:
                print("#   " + p)
        else:
            print("ok %d - src/%s includes only the layers below it" % (n, layer))
    for k, (front, allowed) in enumerate(sorted(FRONT_ENDS.items()), len(layers) + 1):
        problems = []
        top_dir = os.path.join(root, "..", front)
        for dirpath, _, files in os.walk(top_dir):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for target in INCLUDE.findall(text):
                    top = target.split("/")[0] if "/" in target else None
                    if top in layers and top not in allowed:
                        problems.append('%s/%s includes "%s": %s is not for %s/'
                                        % (front, name, target, top, front))
        if problems:
            print("not ok %d - %s/ stays off the mail path (no service, no mail engines)" % (k, front))
            for p in problems:
                print("#   " + p)
        else:
            print("ok %d - %s/ stays off the mail path (no service, no mail engines)" % (k, front))
    return 0


if __name__ == "__main__":
    sys.exit(main())
