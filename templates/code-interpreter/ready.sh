#!/bin/sh
# The template's ready command (template.json "readyCommand"): exit 0 once the server answers
# /health with 200, which it does when its default Python kernel is started.
exec curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:49999/health
