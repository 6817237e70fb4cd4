# test/certs.sh -- a throw-away CA and a serving certificate for localhost and
# 127.0.0.1, valid for a day (sourced by the demo and the shell suites).
#   . "$root/test/certs.sh"; test_certs DIR CA-NAME
# writes DIR/ca.crt, DIR/ca.key, DIR/tls.crt, DIR/tls.key.
test_certs() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$2" \
        -keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout "$1/tls.key" -out "$1/tls.csr" 2>/dev/null &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$1/ext" &&
    openssl x509 -req -in "$1/tls.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
        -days 1 -extfile "$1/ext" -out "$1/tls.crt" 2>/dev/null
}
