"""An OpenID Connect issuer for the tests, on 127.0.0.1: its own keys (RSA, P-256 and Ed25519),
its discovery document and key set over HTTP, and tokens signed as an identity provider signs
them. A second port takes the test's orders: mint a token, rotate or withdraw keys, go down and
come back, count the fetches.

Usage: issuer.py
Prints `ISSUER_URL CONTROL_URL` on one line, then serves until killed.

Control (JSON bodies; answers are JSON, or the token as text):
  POST /mint     {"claims": {...}, "alg": "RS256", "kid": "...", "header": {...},
                  "sign_with": "KID", "tamper": {...}}
                 `iss`, `iat` and `exp` (now + 300 s) are added unless given; a claim given as
                 null is left out. `kid` is the key's by default (an alg of that type), and the
                 header names it; `sign_with` signs with another key (known or unpublished) under
                 that `kid`. `alg` may be `none` (no signature) or `HS256`, `HS384`, `HS512`: HMAC
                 with the PEM of the named key's public key as the secret (the key-confusion
                 attack). `tamper` replaces claims after signing. With `"count": N`, N tokens of
                 that order, one a line, each with its own `jti` (0 to N-1), so no two are alike
                 (the benchmark's tokens: `cargo xtask bench auth`).
  POST /key      {"kid": "...", "type": "RSA"|"EC"|"OKP", "publish": true} makes a key.
  POST /withdraw {"kid": "..."} stops publishing a key (it can still sign).
  POST /down     closes the issuer's port (connections are refused); POST /up opens it again.
  GET  /counts   {"discovery": N, "jwks": N}: requests for each document so far.
"""
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa



def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """The issuer's keys by key ID, and which are published."""

    def __init__(self):
        self.lock = threading.Lock()
        self.private = {}
        self.published = []

    def make(self, kid, kind, publish=True):
        if kind == "RSA":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind == "EC":
            key = ec.generate_private_key(ec.SECP256R1())
        elif kind == "OKP":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(kind)
        with self.lock:
            self.private[kid] = (kind, key)
            if publish and kid not in self.published:
                self.published.append(kid)

    def withdraw(self, kid):
        with self.lock:
            self.published = [k for k in self.published if k != kid]

    def jwk(self, kid):
        kind, key = self.private[kid]
        algorithm = {"RSA": jwt.algorithms.RSAAlgorithm, "EC": jwt.algorithms.ECAlgorithm, "OKP": jwt.algorithms.OKPAlgorithm}[kind]
        jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": kid, "use": "sig"})
        if kind == "EC":
            jwk["alg"] = "ES256"
        return jwk

    def jwks(self):
        with self.lock:
            return {"keys": [self.jwk(kid) for kid in self.published]}


class Issuer:
    def __init__(self):
        self.keys = Keys()
        self.keys.make("rsa-1", "RSA")
        self.keys.make("ec-1", "EC")
        self.keys.make("ed-1", "OKP")
        self.counts = {"discovery": 0, "jwks": 0}
        self.server = None
        self.port = 0
        self.url = ""

    def up(self):
        issuer = self

        class Documents(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    issuer.counts["discovery"] += 1
                    body = {
                        "issuer": issuer.url,
                        "jwks_uri": issuer.url + "/jwks",
                        "authorization_endpoint": issuer.url + "/authorize",
                        "token_endpoint": issuer.url + "/token",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                    }
                elif self.path == "/jwks":
                    issuer.counts["jwks"] += 1
                    body = issuer.keys.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Documents)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def mint(self, order, jti=None):
        now = int(time.time())
        claims = {"iss": self.url, "iat": now, "exp": now + 300}
        if jti is not None:
            claims["jti"] = str(jti)
        claims.update(order.get("claims", {}))
        claims = {k: v for k, v in claims.items() if v is not None}
        alg = order.get("alg", "RS256")
        kid = order.get("kid") or {"RS": "rsa-1", "PS": "rsa-1", "ES": "ec-1", "Ed": "ed-1", "HS": "rsa-1", "no": "rsa-1"}[alg[:2]]
        header = {"alg": alg, "typ": "JWT", "kid": kid}
        header.update(order.get("header", {}))
        header = {k: v for k, v in header.items() if v is not None}
        signer = order.get("sign_with", kid)
        if alg == "none" or alg.startswith("HS"):
            signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
            if alg == "none":
                token = signing_input + "."
            else:
                _, key = self.keys.private[signer]
                secret = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
                token = signing_input + "." + b64(hmac.new(secret, signing_input.encode(), digest).digest())
        else:
            _, key = self.keys.private[signer]
            extra = {k: v for k, v in header.items() if k != "alg"}
            token = jwt.encode(claims, key, algorithm=alg, headers=extra)
        if order.get("tamper"):
            head, payload, signature = token.split(".")
            claims.update(order["tamper"])
            token = ".".join([head, b64(json.dumps(claims).encode()), signature])
        return token


def control(issuer):
    class Orders(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/counts":
                self.answer(issuer.counts)
            else:
                self.send_error(404)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            order = json.loads(self.rfile.read(length) or b"{}")
            try:
                if self.path == "/mint" and "count" in order:
                    self.answer("\n".join(issuer.mint(order, i) for i in range(int(order["count"]))), "text/plain")
                elif self.path == "/mint":
                    self.answer(issuer.mint(order), "text/plain")
                elif self.path == "/key":
                    issuer.keys.make(order["kid"], order.get("type", "RSA"), order.get("publish", True))
                    self.answer({"kid": order["kid"]})
                elif self.path == "/withdraw":
                    issuer.keys.withdraw(order["kid"])
                    self.answer({"kid": order["kid"]})
                elif self.path == "/down":
                    issuer.down()
                    self.answer({"up": False})
                elif self.path == "/up":
                    if issuer.server is None:
                        issuer.up()
                    self.answer({"up": True})
                else:
                    self.send_error(404)
            except Exception as e:  # the test reads the message
                data = repr(e).encode()
                self.send_response(400)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    server.daemon_threads = True
    return server


def main():
    issuer = Issuer()
    issuer.up()
    orders = control(issuer)
    print(issuer.url, f"http://127.0.0.1:{orders.server_address[1]}", flush=True)
    orders.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
