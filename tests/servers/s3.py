"""moto's ThreadedMotoServer as an S3-compatible endpoint that checks credentials.

moto accepts any credentials unless IAM authentication is switched on, and that
switch is process-wide (moto.settings). So the fixture switches it on only while
one test runs and restores it afterwards; each test gets its own bucket and its own
IAM user with an access key.
"""

from __future__ import annotations

import itertools
import json
import logging
import urllib.request
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer

from tests.servers.common import HOST, free_port, wait_closed

logging.getLogger("werkzeug").setLevel(logging.ERROR)
REGION = "us-east-1"
_seq = itertools.count(1)


class MotoS3Server:
    def __init__(self) -> None:
        self.host = HOST
        self.port = free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            # ThreadedMotoServer.stop() leaves the socket listening: close it so clients are refused.
            self._server._server.server_close()
            self._server = None
            wait_closed(self.port)

    shutdown = stop

    def set_auth(self, enabled: bool) -> None:
        body = b"0" if enabled else b"inf"
        url = f"{self.endpoint_url}/moto-api/reset-auth"
        # text/plain: a form content type would make moto read an empty body.
        headers = {"Content-Type": "text/plain"}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            json.loads(response.read())

    def admin_client(self, service: str = "s3"):
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="admin",
            aws_secret_access_key="admin",  # only used while auth is off
        )


@dataclass
class S3Destination:
    """One test's bucket on the shared server, with an IAM user allowed to write to it."""

    server: MotoS3Server
    bucket: str
    access_key_id: str
    secret_access_key: str

    @classmethod
    def create(cls, server: MotoS3Server) -> S3Destination:
        n = next(_seq)
        iam = server.admin_client("iam")
        user = f"bm-test-{n}"
        iam.create_user(UserName=user)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        bucket = f"bm-test-bucket-{n}"
        server.admin_client().create_bucket(Bucket=bucket)
        return cls(server, bucket, key["AccessKeyId"], key["SecretAccessKey"])

    def settings(self, prefix: str = "incoming", **overrides) -> dict:
        return {
            "bucket": self.bucket,
            "prefix": prefix,
            "endpointUrl": self.server.endpoint_url,
            "region": REGION,
            **overrides,
        }

    @property
    def secret_value(self) -> dict:
        return {"accessKeyId": self.access_key_id, "secretAccessKey": self.secret_access_key}

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket, by key (read with the test user's own keys)."""
        client = boto3.client(
            "s3",
            endpoint_url=self.server.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )
        listing = client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {item["Key"]: client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read() for item in listing}

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()
        self.server.set_auth(True)
