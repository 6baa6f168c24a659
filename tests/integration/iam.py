"""The template's IAM policies as (action, logical id) grants, and the AWS calls a local stack
recorded as the grants they need: what the least-privilege checks compare. Conditions are
evaluated with a stack's parameters (the template's defaults, overridden as the stack was)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from local.template import DEV_DEFAULTS, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = {lid: r for lid, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}

IAM_PREFIX = {"sesv2": "ses", "email": "ses"}
# API operations whose IAM action has another name.
IAM_ACTION = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("dynamodb", "TransactGetItems"): "GetItem",
}
TRANSACT_ACTION = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def logical_ids(value: Any) -> set[str]:
    """The resources a policy Resource entry refers to."""
    if isinstance(value, list):
        return set().union(*(logical_ids(v) for v in value)) if value else set()
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)} & set(TEMPLATE["Resources"])
        return set().union(*(logical_ids(v) for v in value.values()))
    return set()


def policy_documents(function: str, parameters: dict[str, str] | None = None) -> list[Any]:
    """The function's policies: its own `Policies`, or those of the role it names, with our
    managed policies they attach (under `!If` as the stack's conditions choose)."""
    props = FUNCTIONS[function]["Properties"]
    if "Role" in props:
        role = TEMPLATE["Resources"][props["Role"]["Fn::GetAtt"][0]]["Properties"]
        entries = [p["PolicyDocument"] for p in role.get("Policies", [])] + list(role.get("ManagedPolicyArns", []))
    else:
        entries = list(props.get("Policies", []))
    documents = []
    for entry in entries:
        chosen = enabled(entry, parameters)
        if chosen is None or "Fn::Sub" in chosen:  # AWS managed policies (logging, tracing)
            continue
        ref = chosen.get("Ref")
        if ref is not None and TEMPLATE["Resources"].get(ref, {}).get("Type") == "AWS::IAM::ManagedPolicy":
            documents.append(TEMPLATE["Resources"][ref]["Properties"]["PolicyDocument"])
        else:
            documents.append(chosen)
    return documents


# What Lambda's event source mapping does with the function's role, for its own queues.
POLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


def polled_by_lambda(function: str) -> set[tuple[str, str]]:
    queues = {
        e["Properties"]["Queue"]["Fn::GetAtt"][0]
        for e in FUNCTIONS[function]["Properties"].get("Events", {}).values()
        if e["Type"] == "SQS"
    }
    return {(a, q) for a in POLLER_ACTIONS for q in queues}


def holds(condition: Any, parameters: dict[str, str]) -> bool:
    """A template condition, evaluated with the stack's parameters."""
    for key in ("Condition", "Fn::Condition"):  # how `!Condition X` reads, in and out of a list
        if key in condition:
            return holds(TEMPLATE["Conditions"][condition[key]], parameters)
    (kind, args), *_ = condition.items()
    if kind == "Fn::Equals":
        left, right = (parameters[a["Ref"]] if isinstance(a, dict) else str(a) for a in args)
        return bool(left == right)
    if kind == "Fn::Or":
        return any(holds(a, parameters) for a in args)
    if kind == "Fn::And":
        return all(holds(a, parameters) for a in args)
    if kind == "Fn::Not":
        return not holds(args[0], parameters)
    raise AssertionError(f"unsupported condition {kind}")


def stack_parameters(overrides: str = "") -> dict[str, str]:
    """The template's defaults, overridden as KAYISU_PARAMETERS does ("A=1 B=2")."""
    values = {k: str(v.get("Default", "")) for k, v in TEMPLATE.get("Parameters", {}).items()}
    values.update(DEV_DEFAULTS)
    for pair in overrides.split():
        name, _, value = pair.partition("=")
        values[name] = value
    return values


def enabled(statement: Any, parameters: dict[str, str] | None = None) -> dict[str, Any] | None:
    """A statement (or policy) under `!If [condition, it, !Ref AWS::NoValue]`, as the stack has it."""
    if not isinstance(statement, dict) or "Fn::If" not in statement:
        return statement if isinstance(statement, dict) else {"Fn::Sub": statement}
    name, when_true, when_false = statement["Fn::If"]
    chosen = when_true if holds({"Condition": name}, parameters or stack_parameters()) else when_false
    return None if chosen == {"Ref": "AWS::NoValue"} else dict(chosen)


def grants(function: str, parameters: dict[str, str] | None = None) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for policy in policy_documents(function, parameters):
        assert isinstance(policy, dict), f"{function}: write policies as explicit statements"
        assert set(policy) <= {"Statement", "Version"}, f"{function}: write policies as explicit statements"
        for st in [enabled(st, parameters) for st in policy["Statement"]]:
            if st is None:
                continue
            assert st["Effect"] == "Allow"
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            targets = logical_ids(st["Resource"])
            assert targets, f"{function}: {actions} on a resource that is not one of ours ({st['Resource']})"
            for action in actions:
                assert "*" not in action, f"{function}: wildcard action {action}"
                out |= {(action, t) for t in targets}
    return out


KMS_KEYS = {lid for lid, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::KMS::Key"}


def bucket_key(bucket: str) -> str | None:
    """The KMS key an SSE-KMS bucket encrypts with: S3 uses it on the caller's behalf."""
    props = TEMPLATE["Resources"][bucket]["Properties"]
    for rule in (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration", []):
        default = rule["ServerSideEncryptionByDefault"]
        if default["SSEAlgorithm"] == "aws:kms":
            return next(iter(logical_ids(default["KMSMasterKeyID"])))
    return None


def encryption_key(logical_id: str, prop: str) -> str | None:
    """The KMS key a secret or topic is encrypted under (a service uses it on the caller's behalf)."""
    resource = TEMPLATE["Resources"].get(logical_id)
    if resource is None or prop not in resource.get("Properties", {}):
        return None
    return next(iter(logical_ids(resource["Properties"][prop])), None)


IMPLIED_KMS = {"PutObject": "kms:GenerateDataKey", "GetObject": "kms:Decrypt"}


def used(
    calls: list[dict[str, Any]],
    function: str,
    physical_to_logical: dict[str, str],
    parameters: dict[str, str] | None = None,
) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for call in calls:
        if call["function"] != function:
            continue
        service = IAM_PREFIX.get(call["service"], call["service"])
        names = call["resource"].split(",") if call["resource"] else []
        targets = {physical_to_logical.get(n, f"<unknown {n}>") for n in names}
        if service == "kms" and not targets:
            targets = set(KMS_KEYS)  # Decrypt names no key: the ciphertext does
        if service == "s3" and call["operation"] in IMPLIED_KMS:
            for bucket in targets:
                key = bucket_key(bucket) if bucket in TEMPLATE["Resources"] else None
                if key:
                    out.add((IMPLIED_KMS[call["operation"]], key))
        if service == "secretsmanager" and call["operation"] == "GetSecretValue":
            for secret in targets:  # Secrets Manager decrypts with the secret's key, as the caller
                key = encryption_key(secret, "KmsKeyId")
                if key:
                    out.add(("kms:Decrypt", key))
        if service == "sns" and call["operation"] == "Publish":
            for topic in targets:  # SNS encrypts with the topic's key, as the publisher
                key = encryption_key(topic, "KmsMasterKeyId")
                if key:
                    out |= {("kms:GenerateDataKey", key), ("kms:Decrypt", key)}
        if call["operation"] == "TransactWriteItems":
            # The recorder keeps the tables; the actions per item are checked by the grants below.
            actions = {f"{service}:{a}" for a in TRANSACT_ACTION.values()}
            out |= {(a, t) for a in actions for t in targets if (a, t) in grants(function, parameters)}
            continue
        action = f"{service}:{IAM_ACTION.get((service, call['operation']), call['operation'])}"
        out |= {(action, t) for t in targets}
    return out
