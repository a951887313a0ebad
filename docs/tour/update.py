#!/usr/bin/env python3
# Reruns every chapter's script with the trace on and writes what it
# printed into its page, between the <!-- output --> and <!-- trace -->
# markers. Run from the checkout after a build: python3 docs/tour/update.py
import glob, os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
h2lua = os.environ.get("H2LUA_BIN", os.path.join(root, "h2lua"))
for script in sorted(glob.glob(os.path.join(root, "docs/tour/[0-9][0-9]-*.lua"))):
    page = script[:-4] + ".md"
    env = dict(os.environ, H2LUA_TRACE="nocolor")
    p = subprocess.run([h2lua, script], cwd=root, env=env, capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        sys.exit("%s failed:\n%s%s" % (script, p.stdout, p.stderr))
    text = open(page).read()
    for marker, body in (("output", p.stdout), ("trace", p.stderr)):
        text = re.sub(r"(<!-- %s -->\n```\n).*?(```\n<!-- /%s -->)" % (marker, marker),
                      lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2),
                      text, flags=re.S)
    open(page, "w").write(text)
    print("updated", os.path.relpath(page, root))
