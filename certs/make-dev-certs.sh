#!/usr/bin/env sh
# Makes a development CA and two leaf certificates into certs/dev/ (see certs/README.md).
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/dev"
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=fullproxy dev CA" -keyout ca.key -out ca.crt 2>/dev/null
leaf() {
  name=$1; san=$2
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
leaf localhost "DNS:localhost,IP:127.0.0.1"
leaf other "DNS:other.localhost"
echo "made $dir: ca.crt localhost.crt/key other.crt/key"
