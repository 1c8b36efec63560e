#!/bin/bash
# ivoa-xsd.sh DIR : puts the IVOA and W3C XML schemas that the tests validate
# against into DIR, taken from Debian packages, with an XML catalog that maps
# every URL by which one schema imports another to the local file, so that
# xmllint --nonet never needs the network. Does nothing when DIR is already
# up to date with its sources. Used by scripts/xsdcheck.sh.
#
# Sources (first one found wins for each file):
#   stilts (starlink-ttools-java, starlink-util-java): every schema below
#     except VOTable 1.5
#   python3-astropy (io/votable/data): VOTable 1.1 to 1.4
#   VOTable 1.5 is in no Debian 12 package: it is taken from the directory
#     $TS_XSD_EXTRA when set, else from shared/conformance/xsd beside the
#     repository when that exists; without it, xsdcheck.sh reports VOTable 1.5
#     documents as skipped.
#
# Exit status: 0 when DIR holds every required schema, 1 when a source is
# missing (the message names the package to install), 2 on usage error.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
java=/usr/share/java
astropy=/usr/lib/python3/dist-packages/astropy/io/votable/data
extra=${TS_XSD_EXTRA:-$(dirname "$repo")/shared/conformance/xsd}

# local file | source candidates: JAR!MEMBER or a plain file path
schemas="
VOTable-1.1.xsd|$java/starlink-util.jar!uk/ac/starlink/util/text/VOTable1.1.xsd $astropy/VOTable.v1.1.xsd
VOTable-1.2.xsd|$java/starlink-util.jar!uk/ac/starlink/util/text/VOTable1.2.xsd $astropy/VOTable.v1.2.xsd
VOTable-1.3.xsd|$java/starlink-util.jar!uk/ac/starlink/util/text/VOTable1.3.xsd $astropy/VOTable.v1.3.xsd
VOTable-1.4.xsd|$java/starlink-util.jar!uk/ac/starlink/util/text/VOTable1.4.xsd $astropy/VOTable.v1.4.xsd
UWS-1.1.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/UWS-v1.1.xsd
VOResource-1.1.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/VOResource-v1.1.xsd
VODataService-1.2.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/VODataService-v1.2.xsd
TAPRegExt-1.0.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/TAPRegExt-v1.0-Erratum1.xsd
VOSICapabilities-1.0.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/VOSICapabilities-v1.0.xsd
VOSIAvailability-1.0.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/VOSIAvailability-v1.0.xsd
VOSITables-1.1.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/VOSITables-v1.1.xsd
stc-1.30.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/stc-v1.30.xsd
xlink.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/xlink.xsd
xml.xsd|$java/starlink-ttools.jar!uk/ac/starlink/ttools/taplint/xmlnamespace.xsd
"
optional="VOTable-1.5.xsd|$extra/VOTable-1.5.xsd
"

# The remote locations the schemas above import each other by.
catalog_map="
http://www.w3.org/2001/xml.xsd xml.xsd
http://www.w3.org/2009/01/xml.xsd xml.xsd
http://www.ivoa.net/xml/Xlink/xlink.xsd xlink.xsd
http://www.ivoa.net/xml/VOResource/v1.0 VOResource-1.1.xsd
http://www.ivoa.net/xml/VOResource/VOResource-v1.0.xsd VOResource-1.1.xsd
http://www.ivoa.net/xml/VOResource/VOResource-v1.1.xsd VOResource-1.1.xsd
http://www.ivoa.net/xml/STC/stc-v1.30.xsd stc-1.30.xsd
http://www.ivoa.net/xml/VODataService/v1.1 VODataService-1.2.xsd
http://www.ivoa.net/xml/VODataService/VODataService-v1.1.xsd VODataService-1.2.xsd
http://www.ivoa.net/xml/UWS/v1.0 UWS-1.1.xsd
http://www.ivoa.net/xml/UWS/UWS-v1.1.xsd UWS-1.1.xsd
"

# One line per source candidate with what identifies its current version, so
# a package upgrade (or a new extra directory) rebuilds the cache.
fingerprint() {
  local line src
  while read -r line; do
    [ -n "$line" ] || continue
    for src in ${line#*|}; do
      src=${src%%!*}
      if [ -e "$src" ]; then
        stat -L -c '%n %s %Y' "$src"
      else
        echo "$src absent"
      fi
    done
  done <<<"$schemas$optional"
  sha1sum <"$0"
}

# Writes the first available candidate of `sources` to `out`; fails when none is.
take() {
  local out=$1 src jar member
  shift
  for src in "$@"; do
    if [[ $src == *!* ]]; then
      jar=${src%%!*} member=${src#*!}
      [ -r "$jar" ] || continue
      command -v unzip >/dev/null || { echo "ivoa-xsd: unzip missing (apt-get install unzip)" >&2; return 1; }
      unzip -p "$jar" "$member" >"$out" 2>/dev/null && [ -s "$out" ] && return 0
    elif [ -r "$src" ]; then
      cp "$src" "$out" && chmod 644 "$out" && return 0
    fi
  done
  return 1
}

build() {
  local tmp=$1 line name
  while read -r line; do
    [ -n "$line" ] || continue
    name=${line%%|*}
    # shellcheck disable=SC2086 # the candidates are a word list
    if ! take "$tmp/$name" ${line#*|}; then
      echo "ivoa-xsd: no source for $name (tried ${line#*|}); install stilts (make deps-test)" >&2
      return 1
    fi
  done <<<"$schemas"
  name=${optional%%|*}
  # shellcheck disable=SC2086
  take "$tmp/$name" ${optional#*|} || rm -f "$tmp/$name"

  {
    echo '<?xml version="1.0"?>'
    echo '<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">'
    printf '%s\n' "$catalog_map" | while read -r url file; do
      [ -n "$url" ] || continue
      echo "  <uri name=\"$url\" uri=\"file://$dir/$file\"/>"
      echo "  <system systemId=\"$url\" uri=\"file://$dir/$file\"/>"
    done
    echo '</catalog>'
  } >"$tmp/catalog.xml"

  # One schema for every non-VOTable document (VOSI, UWS, VODataService):
  # xmllint takes a single --schema, and a capabilities document mixes the
  # VOSI, VOResource, VODataService and TAPRegExt namespaces.
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    local ns
    for ns in "http://www.w3.org/XML/1998/namespace xml.xsd" \
      "http://www.w3.org/1999/xlink xlink.xsd" \
      "http://www.ivoa.net/xml/VOResource/v1.0 VOResource-1.1.xsd" \
      "http://www.ivoa.net/xml/STC/stc-v1.30.xsd stc-1.30.xsd" \
      "http://www.ivoa.net/xml/VODataService/v1.1 VODataService-1.2.xsd" \
      "http://www.ivoa.net/xml/TAPRegExt/v1.0 TAPRegExt-1.0.xsd" \
      "http://www.ivoa.net/xml/VOSICapabilities/v1.0 VOSICapabilities-1.0.xsd" \
      "http://www.ivoa.net/xml/VOSITables/v1.0 VOSITables-1.1.xsd" \
      "http://www.ivoa.net/xml/VOSIAvailability/v1.0 VOSIAvailability-1.0.xsd" \
      "http://www.ivoa.net/xml/UWS/v1.0 UWS-1.1.xsd"; do
      echo "  <xs:import namespace=\"${ns% *}\" schemaLocation=\"${ns#* }\"/>"
    done
    echo '</xs:schema>'
  } >"$tmp/vo-all.xsd"
  fingerprint >"$tmp/.sources"
  chmod 755 "$tmp"
}

mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
# ctest runs validating tests in parallel: one builds, the others wait.
exec 9>"$dir.lock"
flock 9
if [ -f "$dir/.sources" ] && fingerprint | cmp -s - "$dir/.sources"; then
  exit 0
fi
tmp=$(mktemp -d "$dir.new.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
build "$tmp" || exit 1
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
