#!/bin/sh
# The template's start command (template.json "startCommand"): envd runs it as root before the
# sandbox is handed out and starts it again whenever it exits. A new server first kills the
# kernels and runners a killed one left behind.
cd /home/user 2>/dev/null || cd /
exec /usr/bin/python3 /opt/portal/code-interpreter/server.py
