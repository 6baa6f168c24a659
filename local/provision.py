"""Creates every resource of template.yaml in the emulator, in dependency order (a Ref or
GetAtt to a resource not made yet makes it first). Resources with no local meaning (the
functions, the layer, the HTTP API) get placeholder values; the gateway serves them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from local.template import ACCOUNT_ID, REGION, Template

Creator = Callable[["Provisioner", str, dict[str, Any]], None]

# Served in-process by the local stack rather than created in the emulator.
IN_PROCESS = {
    "AWS::Serverless::Function",
    "AWS::Serverless::LayerVersion",
    "AWS::Serverless::HttpApi",
    "AWS::Lambda::Permission",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::Function",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Scheduler::Schedule",
    "AWS::Events::Rule",
    "AWS::CloudWatch::Alarm",
    "AWS::IAM::Role",
    "AWS::IAM::ManagedPolicy",
}


class Provisioner:
    def __init__(self, template: Template, endpoint_url: str) -> None:
        self.t = template
        self.endpoint_url = endpoint_url
        self._creating: set[str] = set()
        self._after: list[Callable[[], None]] = []
        template.create = self.create

    def client(self, service: Any) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    def create_all(self) -> dict[str, Any]:
        for logical_id in self.t.resources:
            if self.t.enabled(logical_id):
                self.create(logical_id)
        for step in self._after:
            step()
        return dict(self.t.refs)

    def create(self, logical_id: str) -> None:
        if logical_id in self.t.refs:
            return
        if logical_id in self._creating:
            raise RuntimeError(f"circular reference through {logical_id}")
        self._creating.add(logical_id)
        resource = self.t.resources[logical_id]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        if kind in IN_PROCESS:
            self.t.refs[logical_id] = f"local-{logical_id}"
            self.t.attrs[logical_id] = {"Arn": f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}"}
        elif kind in CREATORS:
            CREATORS[kind](self, logical_id, props)
        else:
            raise NotImplementedError(f"the local stack cannot create {kind} ({logical_id})")
        self._creating.discard(logical_id)

    def r(self, value: Any) -> Any:
        return self.t.resolve(value)


def _kms_key(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    kms = p.client("kms")
    meta = kms.create_key(Description=p.r(props.get("Description", lid)))["KeyMetadata"]
    p.t.refs[lid] = meta["KeyId"]
    p.t.attrs[lid] = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}


def _kms_alias(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    name = p.r(props["AliasName"])
    p.client("kms").create_alias(AliasName=name, TargetKeyId=p.r(props["TargetKeyId"]))
    p.t.refs[lid] = name


def _table(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    name = p.r(props["TableName"])
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": p.r(props["AttributeDefinitions"]),
        "KeySchema": p.r(props["KeySchema"]),
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = p.r(props["GlobalSecondaryIndexes"])
    if props.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **p.r(props["StreamSpecification"])}
    ddb = p.client("dynamodb")
    desc = ddb.create_table(**args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=p.r(ttl))
    p.t.refs[lid] = name
    p.t.attrs[lid] = {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}


def _cors(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's CorsConfiguration in the S3 API's spelling (CORSRules, MaxAgeSeconds)."""
    rules = []
    for rule in config.get("CorsRules", []):
        out = {
            k: v
            for k, v in rule.items()
            if k in ("AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "Id")
        }
        if "ExposedHeaders" in out:
            out["ExposeHeaders"] = out.pop("ExposedHeaders")
        if "MaxAge" in rule:
            out["MaxAgeSeconds"] = int(rule["MaxAge"])
        rules.append(out)
    return {"CORSRules": rules}


def _bucket(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    name = p.r(props["BucketName"])
    s3 = p.client("s3")
    s3.create_bucket(Bucket=name)
    if "BucketEncryption" in props:
        rules = p.r(props["BucketEncryption"])["ServerSideEncryptionConfiguration"]
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": r["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                            **(
                                {"KMSMasterKeyID": r["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]}
                                if "KMSMasterKeyID" in r["ServerSideEncryptionByDefault"]
                                else {}
                            ),
                        },
                        "BucketKeyEnabled": bool(r.get("BucketKeyEnabled", False)),
                    }
                    for r in rules
                ]
            },
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=p.r(props["PublicAccessBlockConfiguration"])
        )
    if "CorsConfiguration" in props:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration=_cors(p.r(props["CorsConfiguration"])))
    notify = props.get("NotificationConfiguration")
    if notify:
        # After everything else exists: the targets may refer back to this bucket.
        p._after.append(
            lambda: s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration=_s3_notifications(p.r(notify))
            )
        )
    p.t.refs[lid] = name
    p.t.attrs[lid] = {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
    }


def _s3_notifications(cfn: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration shape → the S3 API's."""
    out: dict[str, Any] = {}
    for cfn_key, api_key, target, arn_key in (
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
    ):
        items = []
        for c in cfn.get(cfn_key, []):
            item: dict[str, Any] = {arn_key: c[target], "Events": [c["Event"]]}
            rules = (c.get("Filter") or {}).get("S3Key", {}).get("Rules")
            if rules:
                item["Filter"] = {"Key": {"FilterRules": rules}}
            items.append(item)
        if items:
            out[api_key] = items
    return out


def _queue(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    name = p.r(props.get("QueueName", lid))
    attrs: dict[str, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "FifoQueue",
        "ContentBasedDeduplication",
    ):
        if key in props:
            value = p.r(props[key])
            attrs[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if "RedrivePolicy" in props:
        attrs["RedrivePolicy"] = json.dumps(p.r(props["RedrivePolicy"]))
    sqs = p.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
    p.t.refs[lid] = url
    p.t.attrs[lid] = {"Arn": arn, "QueueName": name, "QueueUrl": url}


def _topic(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    name = p.r(props.get("TopicName", lid))
    arn = p.client("sns").create_topic(Name=name)["TopicArn"]
    p.t.refs[lid] = arn
    p.t.attrs[lid] = {"TopicArn": arn, "TopicName": name}


def _subscription(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    arn = p.client("sns").subscribe(
        TopicArn=p.r(props["TopicArn"]), Protocol=p.r(props["Protocol"]), Endpoint=p.r(props["Endpoint"])
    )["SubscriptionArn"]
    p.t.refs[lid] = arn
    p.t.attrs[lid] = {"Arn": arn}


def _user_pool(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    args: dict[str, Any] = {"PoolName": p.r(props.get("UserPoolName", lid))}
    for key in (
        "Policies",
        "UsernameAttributes",
        "AutoVerifiedAttributes",
        "MfaConfiguration",
        "AdminCreateUserConfig",
    ):
        if key in props:
            args[key] = p.r(props[key])
    pool = p.client("cognito-idp").create_user_pool(**args)["UserPool"]
    p.t.refs[lid] = pool["Id"]
    p.t.attrs[lid] = {
        "Arn": pool["Arn"],
        "ProviderName": f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
        "ProviderURL": f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
        "UserPoolId": pool["Id"],
    }


def _user_pool_client(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    args: dict[str, Any] = {"UserPoolId": p.r(props["UserPoolId"]), "ClientName": p.r(props.get("ClientName", lid))}
    for key in (
        "GenerateSecret",
        "ExplicitAuthFlows",
        "PreventUserExistenceErrors",
        "AccessTokenValidity",
        "IdTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
    ):
        if key in props:
            args[key] = p.r(props[key])
    client = p.client("cognito-idp").create_user_pool_client(**args)["UserPoolClient"]
    p.t.refs[lid] = client["ClientId"]
    p.t.attrs[lid] = {"ClientId": client["ClientId"]}


def _user_pool_group(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    name = p.r(props["GroupName"])
    p.client("cognito-idp").create_group(
        UserPoolId=p.r(props["UserPoolId"]), GroupName=name, Description=p.r(props.get("Description", ""))
    )
    p.t.refs[lid] = name
    p.t.attrs[lid] = {}


def _secret(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    import secrets as _secrets

    name = p.r(props.get("Name", lid))
    args: dict[str, Any] = {"Name": name}
    if "SecretString" in props:
        args["SecretString"] = p.r(props["SecretString"])
    else:
        gen = p.r(props.get("GenerateSecretString", {}))
        length = int(gen.get("PasswordLength", 48))
        args["SecretString"] = _secrets.token_urlsafe(length)[:length]
    if "KmsKeyId" in props:
        args["KmsKeyId"] = p.r(props["KmsKeyId"])
    arn = p.client("secretsmanager").create_secret(**args)["ARN"]
    p.t.refs[lid] = arn
    p.t.attrs[lid] = {"Id": arn}


def _email_identity(p: Provisioner, lid: str, props: dict[str, Any]) -> None:
    # On AWS the identity is verified by a link or DNS records; the emulator verifies at once.
    address = p.r(props["EmailIdentity"])
    p.client("ses").verify_email_identity(EmailAddress=address)
    p.t.refs[lid] = address
    p.t.attrs[lid] = {}


CREATORS: dict[str, Creator] = {
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::Cognito::UserPoolGroup": _user_pool_group,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SES::EmailIdentity": _email_identity,
}
