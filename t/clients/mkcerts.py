#!/usr/bin/python3
"""Makes the test PKI in DIR (python3-cryptography): a CA, a server
certificate for localhost and 127.0.0.1, an expired one, one for another
host, a self-signed one, a client certificate and a second CA that signed
none of them (other-ca), each as NAME.pem with NAME-key.pem; and
server-full.pem, the server's certificate then its key (as HAProxy reads
it).   mkcerts.py DIR"""
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
now = datetime.datetime.utcnow()


def key():
    return ec.generate_private_key(ec.SECP256R1())


def save(name, cert, k):
    with open(os.path.join(out, name + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(out, name + "-key.pem"), "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


ca_key = key()
ca = (x509.CertificateBuilder().subject_name(name("h2lua test CA"))
      .issuer_name(name("h2lua test CA")).public_key(ca_key.public_key())
      .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
      .not_valid_after(now + datetime.timedelta(days=30))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .sign(ca_key, hashes.SHA256()))
save("ca", ca, ca_key)


day = datetime.timedelta(days=1)


def leaf(fname, cn, sans, start, end, usage=ExtendedKeyUsageOID.SERVER_AUTH, serial=2):
    k = key()
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
         .public_key(k.public_key()).serial_number(serial)
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    save(fname, b.sign(ca_key, hashes.SHA256()), k)


day = datetime.timedelta(days=1)
leaf("server", "localhost", [x509.DNSName("localhost"),
                             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
     now - day, now + 30 * day)
# the same names with an RSA key, for a server with RSA + ECDSA pairs
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(rsa_key.public_key()).serial_number(8)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
save("server-rsa", rsa_cert, rsa_key)
leaf("other", "other.test", [x509.DNSName("other.test")], now - day, now + 30 * day, serial=3)
leaf("expired", "localhost", [x509.DNSName("localhost"),
                              x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
     now - 30 * day, now - day, serial=4)
leaf("wronghost", "example.com", [x509.DNSName("example.com")], now - day, now + 30 * day, serial=5)
leaf("client", "h2lua client", None, now - day, now + 30 * day,
     usage=ExtendedKeyUsageOID.CLIENT_AUTH, serial=6)
sk = key()
self_signed = (x509.CertificateBuilder().subject_name(name("localhost"))
               .issuer_name(name("localhost")).public_key(sk.public_key()).serial_number(7)
               .not_valid_before(now - day).not_valid_after(now + 30 * day)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
               .sign(sk, hashes.SHA256()))
save("selfsigned", self_signed, sk)
ok = key()
other_ca = (x509.CertificateBuilder().subject_name(name("h2lua test other CA"))
            .issuer_name(name("h2lua test other CA")).public_key(ok.public_key())
            .serial_number(9).not_valid_before(now - day).not_valid_after(now + 30 * day)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ok, hashes.SHA256()))
save("other-ca", other_ca, ok)
with open(os.path.join(out, "server-full.pem"), "wb") as full:
    for part in ("server.pem", "server-key.pem"):
        with open(os.path.join(out, part), "rb") as f:
            full.write(f.read())
print("ok")
