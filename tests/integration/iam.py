"""The template's IAM policies as grants (action, logical id, the statement's IAM conditions), and
the AWS calls a local stack recorded as the requests IAM would judge (action, logical id, the
request's condition keys), including the KMS calls that S3, Secrets Manager and SNS make with
the caller's rights: what the least-privilege checks compare. A request is allowed when some
grant's action and resource match and all its conditions hold, as IAM evaluates them. Template
conditions (`!If`) are evaluated with a stack's parameters (the template's defaults, overridden
as the stack was)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from local.template import DEV_DEFAULTS, PSEUDO, REGION, load_template

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


# What Lambda's event source mapping does with the function's role, for its own queues and streams.
POLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
STREAM_POLLER_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}


def polled_by_lambda(function: str) -> set[Request]:
    events = FUNCTIONS[function]["Properties"].get("Events", {}).values()
    queues = {e["Properties"]["Queue"]["Fn::GetAtt"][0] for e in events if e["Type"] == "SQS"}
    tables = {e["Properties"]["Stream"]["Fn::GetAtt"][0] for e in events if e["Type"] == "DynamoDB"}
    polled = {Request(a, q) for a in POLLER_ACTIONS for q in queues}
    return polled | {Request(a, t) for a in STREAM_POLLER_ACTIONS for t in tables}


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


Context = tuple[tuple[str, tuple[str, ...]], ...]  # condition key -> values, sorted by key


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str  # logical id
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (operator, key, values)


@dataclass(frozen=True)
class Request:
    action: str
    resource: str  # logical id
    context: Context = ()


def _condition_value(value: Any) -> str:
    """A condition value as requests carry it: pseudo parameters substituted, a resource as
    `<LogicalId>` (requests name the resource they act on the same way)."""
    if isinstance(value, dict) and "Ref" in value:
        return str(PSEUDO.get(value["Ref"]) or f"<{value['Ref']}>")
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text = str(value["Fn::Sub"])
        for name, pseudo in PSEUDO.items():
            text = text.replace("${" + name + "}", str(pseudo))
        assert "${" not in text, f"condition value {text} names a resource: use !Ref"
        return text
    assert isinstance(value, str), f"unsupported condition value {value!r}"
    return value


def _conditions(block: dict[str, Any] | None) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    out = []
    for operator, keys in (block or {}).items():
        for key, values in keys.items():
            listed = values if isinstance(values, list) else [values]
            out.append((operator, key, tuple(_condition_value(v) for v in listed)))
    return tuple(sorted(out))


def _holds(operator: str, key: str, values: tuple[str, ...], context: dict[str, tuple[str, ...]]) -> bool:
    """One condition, as IAM evaluates it (only the operators our policies use)."""
    present = context.get(key)
    if operator == "StringEquals":
        return present is not None and len(present) == 1 and present[0] in values
    if operator == "StringLike":
        return present is not None and len(present) == 1 and any(fnmatchcase(present[0], v) for v in values)
    if operator == "ForAllValues:StringEquals":  # true when the key is absent: pair it with Null
        return all(v in values for v in present or ())
    if operator == "Null":
        (expect,) = values
        return (present is None) == (expect == "true")
    raise AssertionError(f"the least-privilege check does not evaluate {operator} yet: teach tests/integration/iam.py")


def allows(grant: Grant, request: Request) -> bool:
    if (grant.action, grant.resource) != (request.action, request.resource):
        return False
    context = dict(request.context)
    return all(_holds(op, key, values, context) for op, key, values in grant.conditions)


def denied(requests: set[Request], granted: set[Grant]) -> set[Request]:
    """The requests no grant allows: they would fail on AWS."""
    return {r for r in requests if not any(allows(g, r) for g in granted)}


def unused(granted: set[Grant], requests: set[Request]) -> set[Grant]:
    """The grants no request needed: more than the code uses."""
    return {g for g in granted if not any(allows(g, r) for r in requests)}


def grants(function: str, parameters: dict[str, str] | None = None) -> set[Grant]:
    out: set[Grant] = set()
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
            conditions = _conditions(st.get("Condition"))
            for action in actions:
                assert "*" not in action, f"{function}: wildcard action {action}"
                out |= {Grant(action, t, conditions) for t in targets}
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


def _via(service: str, context_keys: tuple[str, ...], **values: str) -> Context:
    """The KMS request a service makes with the caller's rights: kms:ViaService and the
    encryption context it uses (its keys, and the values our conditions may name)."""
    ctx = {
        "kms:ViaService": (f"{service}.{REGION}.amazonaws.com",),
        "kms:EncryptionContextKeys": context_keys,
        **{f"kms:EncryptionContext:{k}": (v,) for k, v in values.items()},
    }
    return tuple(sorted(ctx.items()))


def implied_kms(service: str, operation: str, target: str) -> set[Request]:
    """KMS calls AWS services make on the caller's behalf (and with its permissions)."""
    if target not in TEMPLATE["Resources"]:
        return set()
    if service == "s3" and operation in ("PutObject", "GetObject"):
        key = bucket_key(target)  # SSE-KMS: S3 asks KMS with context {aws:s3:arn}
        action = "kms:GenerateDataKey" if operation == "PutObject" else "kms:Decrypt"
        return {Request(action, key, _via("s3", ("aws:s3:arn",)))} if key else set()
    if service == "secretsmanager" and operation == "GetSecretValue":
        key = encryption_key(target, "KmsKeyId")  # context {SecretARN, SecretVersionId}
        ctx = _via("secretsmanager", ("SecretARN", "SecretVersionId"), SecretARN=f"<{target}>")
        return {Request("kms:Decrypt", key, ctx)} if key else set()
    if service == "sns" and operation == "Publish":
        key = encryption_key(target, "KmsMasterKeyId")  # the publisher needs both on the topic's key
        ctx = _via("sns", ("aws:sns:topicArn",), **{"aws:sns:topicArn": f"<{target}>"})
        return {Request(a, key, ctx) for a in ("kms:GenerateDataKey", "kms:Decrypt")} if key else set()
    return set()


def used(
    calls: list[dict[str, Any]],
    function: str,
    physical_to_logical: dict[str, str],
    parameters: dict[str, str] | None = None,
) -> set[Request]:
    out: set[Request] = set()
    for call in calls:
        if call["function"] != function:
            continue
        service = IAM_PREFIX.get(call["service"], call["service"])
        names = call["resource"].split(",") if call["resource"] else []
        targets = {physical_to_logical.get(n, f"<unknown {n}>") for n in names}
        if service == "kms" and not targets:
            targets = set(KMS_KEYS)  # Decrypt names no key: the ciphertext does
        for target in targets:
            out |= implied_kms(service, call["operation"], target)
        context: Context = tuple(sorted((k, tuple(v)) for k, v in (call.get("context") or {}).items()))
        if call["operation"] == "TransactWriteItems":
            # The recorder keeps the tables; the actions per item are checked by the grants below.
            granted = {(g.action, g.resource) for g in grants(function, parameters)}
            actions = {f"{service}:{a}" for a in TRANSACT_ACTION.values()}
            out |= {Request(a, t) for a in actions for t in targets if (a, t) in granted}
            continue
        action = f"{service}:{IAM_ACTION.get((service, call['operation']), call['operation'])}"
        out |= {Request(action, t, context) for t in targets}
    return out
