"""The other side of crypto/tests/sm_interop.rs: the same 国密 operations done by gmssl, an
independent pure-Python implementation. Reads one JSON request on stdin, writes one JSON answer
on stdout. All binary values are hex. Public keys are x || y (gmssl's form, no 04 prefix);
SM2 ciphertexts are C1 || C3 || C2 with C1 as x || y."""

import json
import sys

from gmssl import sm2, sm3, sm4, func


def crypt(secret, public):
    # mode=1: C1 || C3 || C2, the GB/T 32918.4-2016 layout.
    return sm2.CryptSM2(private_key=secret, public_key=public, mode=1)


def main():
    request = json.load(sys.stdin)
    answer = {}
    answer["sm3"] = [
        sm3.sm3_hash(func.bytes_to_list(bytes.fromhex(m))) for m in request["sm3"]
    ]

    cipher = sm4.CryptSM4()
    cipher.set_key(bytes.fromhex(request["sm4"]["key"]), sm4.SM4_ENCRYPT)
    # ECB pads with one extra block; only the data's own blocks are compared.
    blocks = bytes.fromhex(request["sm4"]["blocks"])
    answer["sm4"] = cipher.crypt_ecb(blocks)[: len(blocks)].hex()

    answer["verify"] = [
        crypt(None, item["public"]).verify_with_sm3(
            item["signature"], bytes.fromhex(item["message"])
        )
        for item in request["verify"]
    ]

    signer = crypt(request["sign"]["secret"], request["sign"]["public"])
    answer["sign"] = [
        signer.sign_with_sm3(bytes.fromhex(m)) for m in request["sign"]["messages"]
    ]

    decrypter = crypt(request["decrypt"]["secret"], request["decrypt"]["public"])
    answer["decrypt"] = [
        decrypter.decrypt(bytes.fromhex(c)).hex() for c in request["decrypt"]["ciphertexts"]
    ]

    encrypter = crypt(None, request["encrypt"]["public"])
    answer["encrypt"] = [
        encrypter.encrypt(bytes.fromhex(p)).hex() for p in request["encrypt"]["plaintexts"]
    ]

    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
