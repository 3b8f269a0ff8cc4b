# SPDX-License-Identifier: Apache-2.0
"""Uploads the demo interactions to an S3-compatible server as monthly exports.

examples/data/interactions.tsv becomes one gzip-compressed TSV object per month under
s3://BUCKET/PREFIX (events/2023-11.tsv.gz, events/2023-12.tsv.gz, ...), the shape of a daily or
monthly export job. The bucket is created when missing. Credentials come from the standard AWS
settings (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).

Usage: python upload_demo.py ENDPOINT_URL [BUCKET] [PREFIX]
"""

import csv
import gzip
import io
import sys
import time
from collections import defaultdict
from pathlib import Path

import boto3

DATA = Path(__file__).resolve().parents[1] / "data" / "interactions.tsv"


def months(path: Path) -> dict[str, list[list[str]]]:
    with path.open(newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        header = next(rows)
        by_month = defaultdict(lambda: [header])
        for row in rows:
            by_month[time.strftime("%Y-%m", time.gmtime(int(row[3])))].append(row)
    return by_month


def main() -> None:
    endpoint = sys.argv[1]
    bucket = sys.argv[2] if len(sys.argv) > 2 else "demo"
    prefix = sys.argv[3] if len(sys.argv) > 3 else "events/"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    for month, rows in sorted(months(DATA).items()):
        text = io.StringIO()
        csv.writer(text, delimiter="\t", lineterminator="\n").writerows(rows)
        key = f"{prefix}{month}.tsv.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(text.getvalue().encode()))
        print(f"s3://{bucket}/{key}: {len(rows) - 1} events")


if __name__ == "__main__":
    main()
