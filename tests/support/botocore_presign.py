"""Presign EKS token URLs with botocore, as the reference for tests/tests/eks_token.rs.

Reads a JSON list of cases on standard input, each an object with access_key_id,
secret_access_key, session_token (or null), region, cluster_name and time (Unix seconds), and
prints a JSON list with the presigned URL of each case. botocore's SigV4QueryAuth signs a
GET https://sts.<region>.<dns suffix>/?Action=GetCallerIdentity&Version=2011-06-15 request that
carries the header x-k8s-aws-id, with X-Amz-Expires=60, at the given time. Nothing is sent.
"""

import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sts_host(region: str) -> str:
    # aws-cn regions start with "cn-" and use their own DNS suffix. aws and aws-us-gov share
    # amazonaws.com.
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"sts.{region}.{suffix}"


def presign(case: dict) -> str:
    credentials = Credentials(
        case["access_key_id"], case["secret_access_key"], case["session_token"]
    )
    request = AWSRequest(
        method="GET",
        url=f"https://{sts_host(case['region'])}/?Action=GetCallerIdentity&Version=2011-06-15",
        headers={"x-k8s-aws-id": case["cluster_name"]},
    )
    signer = botocore.auth.SigV4QueryAuth(credentials, "sts", case["region"], expires=60)
    # SigV4Auth.add_auth reads the signing time from get_current_datetime() (botocore 1.44),
    # a naive UTC datetime, and overwrites request.context["timestamp"] with it.
    signing_time = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc)
    with mock.patch.object(
        botocore.auth, "get_current_datetime", return_value=signing_time.replace(tzinfo=None)
    ):
        signer.add_auth(request)
    return request.url


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump([presign(case) for case in cases], sys.stdout)


if __name__ == "__main__":
    main()
