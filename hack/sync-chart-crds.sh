#!/usr/bin/env bash
# Keeps the Helm chart's copies of generated manifests in step with config/:
#   - config/crd/bases/*.yaml  -> charts/session-connector/templates/crds/*.yaml, each wrapped in
#     {{- if .Values.crds.enabled }} ... {{- end }}, with two template lines added to its
#     metadata (the chart's labels, and helm.sh/resource-policy: keep when crds.keep);
#   - config/rbac/role.yaml    -> charts/session-connector/files/manager-role.yaml, verbatim (the
#     chart's ClusterRole renders its rules from it).
# Every line the script adds is a template action alone on its line, so a copy minus such lines
# is its source, byte for byte; --check compares exactly that.
#
#   hack/sync-chart-crds.sh           # write the copies (make chart-crds)
#   hack/sync-chart-crds.sh --check   # fail when a copy is stale, missing or extra (make verify)
set -euo pipefail
cd "$(dirname "$0")/.."

BASES=config/crd/bases
ROLE=config/rbac/role.yaml
CHART=charts/session-connector
OUT=$CHART/templates/crds
ROLE_COPY=$CHART/files/manager-role.yaml

# A line that is nothing but a template action: what the wrapping adds.
TEMPLATE_LINE='^[[:space:]]*\{\{.*\}\}[[:space:]]*$'

die() { echo "sync-chart-crds: $*" >&2; exit 1; }

# wrap BASE: the chart template for one CRD on stdout.
wrap() {
  local base=$1
  # Helm would evaluate {{ in a description or CEL rule; the copies would need escaping, which
  # breaks the byte-for-byte comparison. Fail loudly instead (no CRD has any today).
  if grep -q '{{' "$base"; then die "$base contains '{{': escape it in the chart copy by hand"; fi
  if grep -Eq "$TEMPLATE_LINE" "$base"; then die "$base has a line that looks like a template action"; fi
  grep -qx 'metadata:' "$base" || die "$base: no top-level metadata:"
  grep -qx '  annotations:' "$base" || die "$base: no metadata.annotations (controller-gen writes one)"
  echo '{{- if .Values.crds.enabled }}'
  awk '
    !labels && $0 == "metadata:" {
      print; print "  {{- include \"session-connector.crdLabels\" . | nindent 2 }}"; labels = 1; next
    }
    labels && !annotations && $0 == "  annotations:" {
      print; print "    {{- with include \"session-connector.crdAnnotations\" . }}{{ . | nindent 4 }}{{ end }}"
      annotations = 1; next
    }
    { print }
  ' "$base"
  echo '{{- end }}'
}

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) die "usage: $0 [--check]" ;;
esac

shopt -s nullglob
bases=("$BASES"/*.yaml)
[ ${#bases[@]} -gt 0 ] || die "no CRDs in $BASES (run make manifests)"
[ -f "$ROLE" ] || die "no $ROLE (run make manifests)"

if [ $check = 0 ]; then
  mkdir -p "$OUT" "$(dirname "$ROLE_COPY")"
  rm -f "$OUT"/*.yaml
  for base in "${bases[@]}"; do wrap "$base" > "$OUT/$(basename "$base")"; done
  cp "$ROLE" "$ROLE_COPY"
  echo "sync-chart-crds: wrote ${#bases[@]} CRDs to $OUT and $ROLE_COPY"
  exit 0
fi

stale=0
for base in "${bases[@]}"; do
  copy=$OUT/$(basename "$base")
  if [ ! -f "$copy" ]; then echo "missing $copy"; stale=1; continue; fi
  # The copy minus its template-only lines must be the base, byte for byte.
  if ! diff -u "$base" <(grep -Ev "$TEMPLATE_LINE" "$copy") > /dev/null; then
    echo "stale $copy (differs from $base):"
    diff -u "$base" <(grep -Ev "$TEMPLATE_LINE" "$copy") | head -20 || true
    stale=1
  fi
  # And the wrapping must be the one this script writes.
  if ! cmp -s "$copy" <(wrap "$base"); then echo "$copy: template lines differ from what $0 writes"; stale=1; fi
done
for copy in "$OUT"/*.yaml; do
  [ -f "$BASES/$(basename "$copy")" ] || { echo "extra $copy (no $BASES/$(basename "$copy"))"; stale=1; }
done
if ! cmp -s "$ROLE" "$ROLE_COPY"; then
  echo "stale $ROLE_COPY (differs from $ROLE):"
  diff -u "$ROLE" "$ROLE_COPY" | head -20 || true
  stale=1
fi
[ $stale = 0 ] || die "the chart's copies are stale: run 'make chart-crds'"
echo "sync-chart-crds: chart CRDs and RBAC rules match config/"
