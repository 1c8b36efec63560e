#!/bin/bash
# xsdcheck.sh FILE... : validates IVOA XML documents with xmllint, offline,
# against the schema their root element calls for:
#
#   root namespace                          schema
#   .../VOTable/v1.1                        VOTable 1.1
#   .../VOTable/v1.2                        VOTable 1.2
#   .../VOTable/v1.3 with version="1.3"     VOTable 1.3 (1.4, 1.5 likewise:
#                                           the three share one namespace)
#   any other namespace (VOSI capabilities, availability, tables, table;
#   UWS job, jobs)                          vo-all.xsd, which imports them all
#
# The schemas come from Debian packages through scripts/ivoa-xsd.sh, cached
# in $TS_XSD_DIR (default: build/ivoa-xsd in the repository); an XML catalog
# maps their remote imports to the cached files. XSD=FILE forces a schema.
#
# Prints one line per document, "OK FILE (schema)", "FAIL FILE (schema)"
# followed by xmllint's complaints, or "SKIP FILE (why)" when no schema for
# the document is available on this machine (VOTable 1.5 is in no Debian 12
# package); with CI=true a missing schema is a failure instead.
# Exit status: 0 all valid; 1 some invalid; 2 usage error, unreadable or
# ill-formed input, or no schemas; 77 some skipped and none failed.
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
xsd_dir=${TS_XSD_DIR:-$repo/build/ivoa-xsd}
[ $# -ge 1 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
command -v xmllint >/dev/null || { echo "xsdcheck: xmllint missing (apt-get install libxml2-utils)" >&2; exit 2; }
"$repo/scripts/ivoa-xsd.sh" "$xsd_dir" || exit 2
xsd_dir=$(cd "$xsd_dir" && pwd)
export XML_CATALOG_FILES=$xsd_dir/catalog.xml

# The schema file for a root element: namespace, local name, version.
schema_for() {
  case "$1" in
    http://www.ivoa.net/xml/VOTable/v1.1) echo VOTable-1.1.xsd ;;
    http://www.ivoa.net/xml/VOTable/v1.2) echo VOTable-1.2.xsd ;;
    http://www.ivoa.net/xml/VOTable/v1.3)
      case "$3" in
        1.3 | 1.4 | 1.5) echo "VOTable-$3.xsd" ;;
        *) return 1 ;;
      esac ;;
    "") return 1 ;;
    *) echo vo-all.xsd ;;
  esac
}

status=0
note() { # raises the exit status to $1 unless it already says worse
  case "$status:$1" in
    0:*) status=$1 ;;
    77:1 | 77:2) status=$1 ;;
    1:2) status=2 ;;
  esac
}

for doc in "$@"; do
  if [ ! -r "$doc" ]; then
    echo "FAIL $doc (unreadable)"
    note 2
    continue
  fi
  if ! wf=$(xmllint --nonet --noout "$doc" 2>&1); then
    echo "FAIL $doc (not well-formed XML)"
    printf '%s\n' "$wf" | head -20 | sed 's/^/  /'
    note 2
    continue
  fi
  if [ -n "${XSD:-}" ]; then
    schema=$XSD
  else
    read -r ns name version < <(xmllint --nonet --xpath \
      'concat(namespace-uri(/*), " ", local-name(/*), " ", /*/@version)' "$doc" 2>/dev/null)
    # An empty namespace leaves the name in the first field.
    [[ ${ns:-} == *:* ]] || { version=${name:-}; name=${ns:-}; ns=""; }
    if ! schema=$(schema_for "$ns" "$name" "${version:-}"); then
      echo "FAIL $doc (no schema for <$name> in namespace '${ns}' version '${version:-}')"
      note 1
      continue
    fi
    schema=$xsd_dir/$schema
    if [ ! -f "$schema" ]; then
      why="$(basename "$schema") is in no Debian package; set TS_XSD_EXTRA to a directory holding it"
      if [ "${CI:-}" = true ]; then
        echo "FAIL $doc ($why)"
        note 1
      else
        echo "SKIP $doc ($why)"
        note 77
      fi
      continue
    fi
  fi
  out=$(xmllint --nonet --noout --schema "$schema" "$doc" 2>&1)
  rc=$?
  # libxml2 notes each import of an already imported namespace and the
  # verdict line; neither is news.
  out=$(printf '%s\n' "$out" | grep -v -e 'Skipping import of schema' -e 'Schemas parser warning' \
    -e ' validates$' -e ' fails to validate$' -e '^$')
  if [ $rc -eq 0 ]; then
    echo "OK $doc ($(basename "$schema"))"
  else
    echo "FAIL $doc ($(basename "$schema"))"
    printf '%s\n' "$out" | head -40 | sed 's/^/  /'
    note 1
  fi
done
exit "$status"
