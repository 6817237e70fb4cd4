# test/cluster/pki.sh -- sourced by `up`: the cluster's certificates and
# kubeconfigs, made with the openssl command line (ECDSA P-256, 10 years;
# throw-away, like the cluster).
#   make_pki DIR/pki

# cert NAME CN O SANS KIND CA: DIR/NAME.{key,crt} signed by CA (DIR/CA.*).
# SANS "IP:a,DNS:b" or ""; KIND client, server or both.
cert() {
    local d=$pki name=$1 cn=$2 o=$3 sans=$4 kind=$5 ca=$6 eku
    case $kind in
        client) eku=clientAuth ;;
        server) eku=serverAuth ;;
        both) eku=serverAuth,clientAuth ;;
    esac
    local subj="/CN=$cn"
    [ -n "$o" ] && subj="/O=$o$subj"
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2> /dev/null
    openssl req -new -key "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2> /dev/null
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"
        [ -n "$sans" ] && echo "subjectAltName=$sans"
    } > "$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$d/$name.ext" -out "$d/$name.crt" 2> /dev/null ||
        die "openssl could not sign $name"
    rm -f "$d/$name.csr" "$d/$name.ext"
}

ca() {
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$1.key" 2> /dev/null
    openssl req -x509 -new -key "$pki/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -out "$pki/$1.crt" 2> /dev/null || die "openssl could not make the CA $1"
}

# kubeconfig FILE USER: a kubeconfig for the client certificate $pki/USER.
kubeconfig() {
    cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: membudget-test
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 < "$pki/$2.crt")
    client-key-data: $(base64 -w0 < "$pki/$2.key")
contexts:
- name: membudget-test
  context: {cluster: membudget-test, user: $2}
current-context: membudget-test
EOF
    chmod 600 "$1"
}

make_pki() {
    pki=$1
    if [ -f "$pki/.complete" ]; then return 0; fi
    rm -rf "$pki"; mkdir -p "$pki"; chmod 700 "$pki"
    ca ca membudget-test-ca
    ca front-proxy-ca membudget-test-front-proxy-ca
    local api_sans="IP:$NODE_IP,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert apiserver kube-apiserver "" "$api_sans" server ca
    cert apiserver-kubelet-client kube-apiserver-kubelet-client "" "" client ca
    cert front-proxy-client front-proxy-client "" "" client front-proxy-ca
    cert admin kubernetes-admin system:masters "" client ca
    cert controller-manager system:kube-controller-manager "" "" client ca
    cert scheduler system:kube-scheduler "" "" client ca
    cert kubelet "system:node:$NODE_NAME" system:nodes "" client ca
    cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME" server ca
    cert kube-proxy system:kube-proxy "" "" client ca
    cert metrics-server system:metrics-server "" "" client ca
    cert metrics-server-serving metrics-server "" "IP:$NODE_IP,DNS:metrics-server.kube-system.svc" server ca
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2> /dev/null
    openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2> /dev/null
    local u
    for u in admin controller-manager scheduler kubelet kube-proxy metrics-server; do
        kubeconfig "$pki/$u.kubeconfig" "$u"
    done
    touch "$pki/.complete"
}
