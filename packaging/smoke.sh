#!/usr/bin/env bash
# Smoke check of the frozen GenRec Explorer (a one-folder PyInstaller bundle), offscreen.
#   packaging/smoke.sh [BUNDLE_DIR] [--quick]
# BUNDLE_DIR defaults to /tmp/gx-dist/genrec-explorer. Checks, each must pass:
#   1. --quit-after: the window starts and quits with exit status 0;
#   2. --screenshot: the bundled project loads, every panel is saved as a non-empty PNG, exit 0;
#   3. (skipped with --quick) a copy of the project without cached layouts: the map panel computes
#      a UMAP layout inside the bundle (numba, llvmlite, pynndescent frozen), exit 0.
# Prints the seconds each step took. Outputs go to a temporary folder (kept on failure).
set -euo pipefail

BUNDLE=/tmp/gx-dist/genrec-explorer
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) BUNDLE=$arg ;;
  esac
done
EXE="$BUNDLE/genrec-explorer"
[ -x "$EXE" ] || { echo "smoke: no executable at $EXE (build it first: see packaging/README.md)" >&2; exit 2; }

export QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export XDG_CONFIG_HOME WORK
WORK=$(mktemp -d /tmp/gx-smoke.XXXXXX)
XDG_CONFIG_HOME="$WORK/config"  # QSettings (recent projects, presenter mode) stay out of the user's
fail() { echo "smoke: FAIL: $*" >&2; echo "smoke: outputs kept in $WORK" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. start and quit
t=$(now)
"$EXE" --quit-after 3000 >"$WORK/quit.log" 2>&1 || fail "--quit-after exited $? (see $WORK/quit.log)"
echo "smoke: start + quit after 3 s: ok ($(took "$t") s)"

# 2. every panel of the bundled project
check_shots() {  # DIR LOG: every PNG the app printed exists and is non-empty; at least 5 panels
  local n=0
  while IFS= read -r png; do
    [ -s "$png" ] || fail "$png is missing or empty"
    n=$((n + 1))
  done < <(grep '\.png$' "$2" || true)
  [ "$n" -ge 5 ] || fail "only $n panel screenshots in $1 (see $2)"
  echo "$n"
}
t=$(now)
"$EXE" --screenshot "$WORK/shots" >"$WORK/shots.log" 2>&1 || fail "--screenshot exited $? (see $WORK/shots.log)"
n=$(check_shots "$WORK/shots" "$WORK/shots.log")
echo "smoke: screenshots of $n panels: ok ($(took "$t") s): $WORK/shots"

# 3. a layout computed in the frozen app
if [ "$QUICK" = 0 ]; then
  mkdir -p "$WORK/models" "$WORK/datasets"
  cp -r "$BUNDLE/_internal/resources/models/beauty-default" "$WORK/models/nolayout"
  rm -f "$WORK/models/nolayout"/layout-*
  ln -s "$BUNDLE/_internal/resources/datasets/beauty" "$WORK/datasets/beauty"  # project.json: ../../datasets/beauty
  t=$(now)
  "$EXE" "$WORK/models/nolayout" --screenshot "$WORK/umap" >"$WORK/umap.log" 2>&1 \
    || fail "--screenshot on a project without layouts exited $? (see $WORK/umap.log)"
  check_shots "$WORK/umap" "$WORK/umap.log" >/dev/null
  ls "$WORK/models/nolayout"/layout-content.npy >/dev/null 2>&1 || fail "no layout was computed (see $WORK/umap.log)"
  echo "smoke: UMAP layout computed in the bundle: ok ($(took "$t") s)"
fi

echo "smoke: all checks passed"
rm -rf "$WORK"
