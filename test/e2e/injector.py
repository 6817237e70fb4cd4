"""A sidecar injector as Istio's works for membudget's tests: an HTTPS
mutating webhook that puts istio-proxy (with a memory limit of its own) in
front of every pod's containers, once.

  python3 test/e2e/injector.py TLS_CRT TLS_KEY ADDR_FILE   (serves; writes
  "127.0.0.1:PORT" to ADDR_FILE once it listens), or serve() in a thread.
"""
import base64
import http.server
import json
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["request"]
        names = [c.get("name") for c in req["object"]["spec"].get("containers") or []]
        resp = {"uid": req["uid"], "allowed": True}
        if "istio-proxy" not in names:
            patch = [{"op": "add", "path": "/spec/containers/0", "value": {
                "name": "istio-proxy", "image": "proxyv2", "resources": {"limits": {"memory": "256Mi"}}}}]
            resp.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(crt, key):
    """The server, listening on a free port of 127.0.0.1 (not yet serving)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    return srv


if __name__ == "__main__":
    srv = serve(sys.argv[1], sys.argv[2])
    with open(sys.argv[3], "w") as f:
        f.write("127.0.0.1:%d" % srv.server_address[1])
    srv.serve_forever()
