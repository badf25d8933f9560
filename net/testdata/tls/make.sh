#!/usr/bin/env bash
# Regenerates the test PKI (valid for 100 years; for tests only, never deploy):
#   ca.pem            the CA that signs everything below
#   server.pem/.key   CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (raidcore, translator)
#   translator.pem/.key, admin.pem/.key   client certificates (CN names them)
#   rogue-ca.pem, rogue.pem/.key   a client certificate from another CA
set -euo pipefail
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days $days \
  -subj "/CN=ZEORaid test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.pem -days $days \
  -subj "/CN=Rogue CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
issue() {  # name CN ca san usage
  local name=$1 cn=$2 ca=$3 san=$4 usage=$5
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "/CN=$cn" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n' \
    "$usage" "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.pem" -days $days -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
issue server localhost ca "DNS:localhost,IP:127.0.0.1" serverAuth
issue translator translator ca "DNS:translator" clientAuth
issue admin admin ca "DNS:admin" clientAuth
issue rogue translator rogue-ca "DNS:translator" clientAuth
rm -f ca.srl rogue-ca.srl ca.key rogue-ca.key
