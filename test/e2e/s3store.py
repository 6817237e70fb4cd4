"""The test cluster's S3 server (test/cluster/s3), as the end-to-end suites
see it: started and stopped, and read through the S3 API itself (curl's
SigV4, not membudget's code), for scenarios that check what membudget stored.
"""
import os
import subprocess
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET

import kube

NS3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def env():
    """DIR/s3/env as a dict (S3_ENDPOINT, S3_BUCKET, S3_REGION); {} when it never ran."""
    out = {}
    try:
        with open(os.path.join(kube.DIR, "s3", "env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    out[k] = v
    except OSError:
        pass
    return out


def ctl(cmd):
    """test/cluster/s3 --dir DIR CMD (start, stop, status, rekey, restore): its output."""
    p = subprocess.run([os.path.join(kube.ROOT, "test", "cluster", "s3"), "--dir", kube.DIR, cmd],
                       capture_output=True, text=True, timeout=600)
    return p.stdout + p.stderr


def keys():
    with open(os.path.join(kube.DIR, "s3", "access-key")) as a, \
            open(os.path.join(kube.DIR, "s3", "secret-key")) as s:
        return a.read().strip(), s.read().strip()


def _curl(*args):
    e = env()
    ak, sk = keys()
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--aws-sigv4",
                        "aws:amz:%s:s3" % e["S3_REGION"], "--user", "%s:%s" % (ak, sk)] +
                       list(args), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise OSError("curl %s: %s" % (" ".join(args[-1:]), p.stderr.decode().strip()))
    return p.stdout.decode(errors="replace")


def list_keys(prefix):
    """{key: size} under prefix in the bucket (ListObjectsV2, every page)."""
    e = env()
    out, token = {}, None
    while True:
        q = [("list-type", "2"), ("prefix", prefix)]
        if token:
            q.insert(0, ("continuation-token", token))
        url = "%s/%s?%s" % (e["S3_ENDPOINT"], e["S3_BUCKET"],
                            urllib.parse.urlencode(q, quote_via=urllib.parse.quote, safe=""))
        root = ET.fromstring(_curl(url))
        for c in root.findall(NS3 + "Contents") + root.findall("Contents"):
            k = c.find(NS3 + "Key") if c.find(NS3 + "Key") is not None else c.find("Key")
            sz = c.find(NS3 + "Size") if c.find(NS3 + "Size") is not None else c.find("Size")
            out[k.text] = int(sz.text)
        t = root.find(NS3 + "NextContinuationToken")
        token = t.text if t is not None else None
        if not token:
            return out


def head(key):
    """The object's headers (lower-case names): x-amz-meta-reason and the rest."""
    e = env()
    url = "%s/%s/%s" % (e["S3_ENDPOINT"], e["S3_BUCKET"], urllib.parse.quote(key, safe="/"))
    text = _curl("-I", url)
    h = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            h[k.strip().lower()] = v.strip()
    return h


def client_config():
    """A membudget config file naming the bucket, for `membudget profiles` on
    this machine (the keys from DIR/s3, as an SRE's would be)."""
    e = env()
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write("profiles:\n  store: s3\n  s3:\n    endpoint: %s\n    bucket: %s\n    pathStyle: true\n"
            "    accessKeyFile: %s\n    secretKeyFile: %s\n" % (
                e["S3_ENDPOINT"], e["S3_BUCKET"], os.path.join(kube.DIR, "s3", "access-key"),
                os.path.join(kube.DIR, "s3", "secret-key")))
    f.close()
    return f.name
