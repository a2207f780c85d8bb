"""An asyncua OPC UA server (third-party peer) for the connector tests.

Usage: opcua_peer.py PORT PKI_DIR
Offers security None and Basic256Sha256 Sign / SignAndEncrypt; anonymous login and user
`op` with password `op-secret`. Prints "ready" once listening, then one JSON line per value a
client writes to Line1.Setpoint ({"setpoint": v}) and per call of Line1.Reset ({"reset": n}).

Nodes (namespace 2): Line1.Speed (Double, changes every 100 ms), Line1.Count (UInt32, +1 every
100 ms), Line1.Running (Boolean), Line1.Setpoint (Double, writable), Line1.Reset (method: Int64
in, Boolean out).
"""

import asyncio
import json
import sys
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID


class Users(UserManager):
    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username is None:
            return User(role=UserRole.User)
        if username == "op" and password == "op-secret":
            return User(role=UserRole.User)
        return None


async def main():
    port = int(sys.argv[1])
    pki = Path(sys.argv[2])
    pki.mkdir(parents=True, exist_ok=True)
    uri = "urn:kaiwu:test:peer"
    server = Server(user_manager=Users())
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/kaiwu/test")
    await server.set_application_uri(uri)
    server.set_security_policy(
        [
            ua.SecurityPolicyType.NoSecurity,
            ua.SecurityPolicyType.Basic256Sha256_Sign,
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        ]
    )
    server.set_security_IDs(["Anonymous", "Username"])
    key, cert = pki / "server-key.pem", pki / "server-cert.der"
    await setup_self_signed_certificate(
        key, cert, uri, "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "kaiwu test peer"}
    )
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))

    idx = await server.register_namespace("urn:kaiwu:test")
    line = await server.nodes.objects.add_object(ua.NodeId("Line1", idx), "Line1")
    speed = await line.add_variable(ua.NodeId("Line1.Speed", idx), "Speed", 100.0)
    count = await line.add_variable(
        ua.NodeId("Line1.Count", idx), "Count", ua.Variant(0, ua.VariantType.UInt32)
    )
    running = await line.add_variable(ua.NodeId("Line1.Running", idx), "Running", True)
    setpoint = await line.add_variable(ua.NodeId("Line1.Setpoint", idx), "Setpoint", 10.0)
    await setpoint.set_writable()
    _ = running

    async def reset(parent, n):
        print(json.dumps({"reset": n.Value}), flush=True)
        return [ua.Variant(True, ua.VariantType.Boolean)]

    await line.add_method(
        ua.NodeId("Line1.Reset", idx), "Reset", reset, [ua.VariantType.Int64], [ua.VariantType.Boolean]
    )

    async with server:
        print("ready", flush=True)
        last = await setpoint.read_value()
        n = 0
        while True:
            await asyncio.sleep(0.1)
            n += 1
            await speed.write_value(100.0 + n * 0.5)
            await count.write_value(ua.Variant(n, ua.VariantType.UInt32))
            sp = await setpoint.read_value()
            if sp != last:
                print(json.dumps({"setpoint": sp}), flush=True)
                last = sp


if __name__ == "__main__":
    asyncio.run(main())
