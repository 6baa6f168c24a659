"""Reads template.yaml: CloudFormation short tags, parameters, and the intrinsic functions the
template uses. The local stack takes everything (resources, routes, queues, schedules) from here."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "kayisu-local",
    "AWS::NoValue": None,
}


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Callable[[yaml.Loader, yaml.Node], dict[str, Any]]:
    key = name if name == "Ref" else f"Fn::{name}"

    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return construct


for _name in (
    "Ref",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "FindInMap",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Condition",
):
    _CfnLoader.add_constructor(f"!{_name}", _tag(_name))


# The local stack is a dev stage: the sandbox pays and webhooks may go to the tests' loopback
# receivers (the template's own defaults are off, for prod).
DEV_DEFAULTS = {"EnableSandboxPayments": "true", "AllowLoopbackWebhooks": "true"}


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass with CFN tags
    if not isinstance(doc, dict):
        raise ValueError(f"{path} is not a template")
    return doc


def parse_overrides(text: str) -> dict[str, str]:
    """`KAYISU_PARAMETERS="A=1 B=two"`, the way `sam deploy --parameter-overrides` takes them,
    also in its long form `ParameterKey=A,ParameterValue=1`."""
    out: dict[str, str] = {}
    for token in shlex.split(text or ""):
        if token.startswith("ParameterKey="):
            key, sep, value = token.removeprefix("ParameterKey=").partition(",ParameterValue=")
            if not sep:
                raise ValueError(f"parameter override {token!r} is not ParameterKey=Name,ParameterValue=Value")
            out[key] = value
            continue
        if "=" not in token:
            raise ValueError(f"parameter override {token!r} is not Name=Value")
        name, value = token.split("=", 1)
        out[name] = value
    return out


@dataclass
class Template:
    """The template with its parameters bound. `physical` gives a resource's Ref value and
    attributes once the provisioner has created it (resolution creates on demand)."""

    doc: dict[str, Any]
    parameters: dict[str, str]
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    create: Callable[[str], None] | None = None

    @classmethod
    def load(cls, path: Path, overrides: dict[str, str]) -> Template:
        doc = load_template(path)
        declared = doc.get("Parameters", {})
        unknown = set(overrides) - set(declared)
        if unknown:
            raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        params = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        params.update(overrides)
        for name, spec in declared.items():
            allowed = spec.get("AllowedValues")
            if allowed and params[name] not in [str(a) for a in allowed]:
                raise ValueError(f"parameter {name}={params[name]!r} is not one of {allowed}")
        template = cls(doc, params)
        template.check_rules()
        return template

    def check_rules(self) -> None:
        """The template's `Rules`, refused as CloudFormation refuses them before creating anything."""
        for name, rule in self.doc.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.resolve(assertion["Assert"]):
                    raise ValueError(f"rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.doc.get("Resources", {}))

    @property
    def globals_function(self) -> dict[str, Any]:
        return dict(self.doc.get("Globals", {}).get("Function", {}))

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == type_name}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.doc.get("Conditions", {})[name]))

    def enabled(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return True if cond is None else self.condition(cond)

    # -- intrinsic functions

    def _ensure(self, logical_id: str) -> None:
        if logical_id not in self.refs and self.create is not None:
            self.create(logical_id)
        if logical_id not in self.refs:
            raise KeyError(f"{logical_id} has no local value")

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in PSEUDO:
            return PSEUDO[name]
        self._ensure(name)
        return self.refs[name]

    def get_att(self, logical_id: str, attr: str) -> Any:
        self._ensure(logical_id)
        try:
            return self.attrs[logical_id][attr]
        except KeyError:
            raise KeyError(f"{logical_id}.{attr} has no local value") from None

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                res, attr = name.split(".", 1)
                return str(self.get_att(res, attr))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
                return self._sub(arg, {})
            if key == "Fn::Join":
                return str(arg[0]).join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}
