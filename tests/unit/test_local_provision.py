"""Resources from a template, created in the emulator: here the path ingestion relies on, an
upload under a prefix notifying a queue (with the S3 key URL-encoded in the event)."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import boto3

from local.emulator import Emulator
from local.provision import Provisioner
from local.template import Template

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: test}
Resources:
  UploadsDLQ:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "uploads-${Stage}-dlq"}
  UploadsQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "uploads-${Stage}"
      VisibilityTimeout: 30
      RedrivePolicy: {deadLetterTargetArn: !GetAtt UploadsDLQ.Arn, maxReceiveCount: 3}
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "uploads-${Stage}-${AWS::AccountId}"
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt UploadsQueue.Arn
            Filter: {S3Key: {Rules: [{Name: prefix, Value: incoming/}]}}
"""


def test_upload_under_the_prefix_notifies_the_queue(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    template = Template.load(path, {})
    refs = Provisioner(template, emulator.url).create_all()
    assert refs["Uploads"] == "uploads-test-123456789012"

    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=emulator.url)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=emulator.url)
    attrs = sqs.get_queue_attributes(QueueUrl=refs["UploadsQueue"], AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "30"
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 3
    sqs.purge_queue(QueueUrl=refs["UploadsQueue"])  # S3 sends a test event when notifications are set

    s3.put_object(Bucket=refs["Uploads"], Key="elsewhere/x.csv", Body=b"code\n")
    s3.put_object(Bucket=refs["Uploads"], Key="incoming/SKU-1/十月 batch.csv", Body=b"code\n")
    messages = sqs.receive_message(QueueUrl=refs["UploadsQueue"], MaxNumberOfMessages=10).get("Messages", [])
    keys = [
        urllib.parse.unquote_plus(r["s3"]["object"]["key"])
        for m in messages
        for r in json.loads(m["Body"]).get("Records", [])
    ]
    assert keys == ["incoming/SKU-1/十月 batch.csv"]
