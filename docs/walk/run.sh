#!/bin/sh
# docs/walk/run.sh OUT EXTRACT: the user walk of docs/walk/walk.py on a fresh X server (Xvfb 1280x800 + openbox).
# EXTRACT: an own dataset folder, e.g. made by: .venv/bin/python docs/walk/extract.py /tmp/nails300
# Needs: xvfb openbox xdotool imagemagick libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 (apt-get install ...).
set -e
OUT=${1:?OUT folder}; EXTRACT=${2:?dataset folder}
DISPLAY_NO=${WALK_DISPLAY:-:87}
Xvfb "$DISPLAY_NO" -screen 0 1280x800x24 >/dev/null 2>&1 &
XVFB=$!
trap 'kill $WM $XVFB 2>/dev/null || true' EXIT
sleep 1
DISPLAY=$DISPLAY_NO openbox >/dev/null 2>&1 &
WM=$!
sleep 1
cd "$(dirname "$0")/../.."
DISPLAY=$DISPLAY_NO QT_QPA_PLATFORM=xcb PYTHONPATH=. "${PYTHON:-.venv/bin/python}" docs/walk/walk.py "$OUT" "$EXTRACT"
