#!/usr/bin/env python3
"""Drives the emulator with boto3 (botocore's own SigV4 signer and restJson1 parser):
search -> metadata -> every frame of every image set. Prints a JSON summary.

Usage: boto3_smoke.py URL DATASTORE_ID ACCESS_KEY SECRET_KEY
"""
import gzip
import hashlib
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

url, datastore, ak, sk = sys.argv[1:5]
client = boto3.client(
    "medical-imaging",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id=ak,
    aws_secret_access_key=sk,
    # botocore would send the calls to runtime-127.0.0.1 otherwise.
    config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
)

summary = {"image_sets": 0, "frames": 0, "frame_sha256": {}, "content_types": set()}
paginator = client.get_paginator("search_image_sets")
for page in paginator.paginate(datastoreId=datastore, searchCriteria={}, PaginationConfig={"PageSize": 1}):
    for hit in page["imageSetsMetadataSummaries"]:
        summary["image_sets"] += 1
        image_set = hit["imageSetId"]
        meta = client.get_image_set_metadata(datastoreId=datastore, imageSetId=image_set)
        assert meta["contentEncoding"] == "gzip", meta["contentEncoding"]
        doc = json.loads(gzip.decompress(meta["imageSetMetadataBlob"].read()))
        for series in doc["Study"]["Series"].values():
            for sop, inst in series["Instances"].items():
                hashes = []
                for frame in inst["ImageFrames"]:
                    out = client.get_image_frame(
                        datastoreId=datastore, imageSetId=image_set,
                        imageFrameInformation={"imageFrameId": frame["ID"]},
                    )
                    summary["content_types"].add(out["contentType"])
                    hashes.append(hashlib.sha256(out["imageFrameBlob"].read()).hexdigest())
                    summary["frames"] += 1
                summary["frame_sha256"][sop] = hashes

try:
    client.get_image_set(datastoreId=datastore, imageSetId="0" * 32)
    summary["not_found_error"] = None
except ClientError as e:
    summary["not_found_error"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]

summary["content_types"] = sorted(summary["content_types"])
json.dump(summary, sys.stdout)
