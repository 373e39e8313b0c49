"""Reads template.yaml (CloudFormation tags included) and resolves Ref, GetAtt, Sub and If to local values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local_stack.lambda_context import ACCOUNT_ID as ACCOUNT_ID
from local_stack.lambda_context import REGION as REGION

_INTRINSICS = {
    "Ref": "Ref",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "ImportValue": "Fn::ImportValue",
    "GetAZs": "Fn::GetAZs",
}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns !Ref / !GetAtt / !Sub ... into their long JSON forms."""


def _construct_intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _INTRINSICS.get(suffix, f"Fn::{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
_NO_VALUE = object()


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return loaded


@dataclass
class LocalResource:
    """What a resource resolves to locally: its Ref value and its GetAtt attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Evaluates intrinsic functions against parameters and the local resources created so far."""

    def __init__(self, template: dict[str, Any], parameter_overrides: dict[str, str] | None = None) -> None:
        self.template = template
        self.parameters: dict[str, str] = {
            name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
        }
        self.parameters.update(parameter_overrides or {})
        self.resources: dict[str, LocalResource] = {}
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "queue-services-local",
        }

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = getattr(self, "_fn_" + key.replace("Fn::", "").replace("::", "_"), None)
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                if handler is None:
                    raise ValueError(f"unsupported intrinsic {key}")
                return handler(arg)
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    def _fn_Ref(self, name: str) -> Any:  # noqa: N802
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name].ref
        raise KeyError(f"Ref to unknown or not yet created {name}")

    def _fn_GetAtt(self, arg: list[str]) -> str:  # noqa: N802
        logical_id, attribute = arg
        return self.resources[logical_id].attributes[attribute]

    def _fn_Sub(self, arg: Any) -> str:  # noqa: N802
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self._fn_GetAtt(name.split(".", 1)))
            return str(self._fn_Ref(name))

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)

    def _fn_If(self, arg: list[Any]) -> Any:  # noqa: N802
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_Equals(self, arg: list[Any]) -> bool:  # noqa: N802
        left, right = self.resolve(arg)
        return bool(str(left) == str(right))

    def _fn_Not(self, arg: list[Any]) -> bool:  # noqa: N802
        return not self.resolve(arg[0])

    def _fn_And(self, arg: list[Any]) -> bool:  # noqa: N802
        return all(self.resolve(arg))

    def _fn_Or(self, arg: list[Any]) -> bool:  # noqa: N802
        return any(self.resolve(arg))

    def _fn_Join(self, arg: list[Any]) -> str:  # noqa: N802
        separator, items = arg
        return str(separator).join(str(item) for item in self.resolve(items))

    def _fn_Condition(self, name: str) -> bool:  # noqa: N802
        return self.condition(name)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: spec
        for logical_id, spec in template.get("Resources", {}).items()
        if spec.get("Type") == resource_type
    }


def function_environment(template: dict[str, Any], resolver: Resolver, logical_id: str) -> dict[str, str]:
    """Globals plus the function's own Environment, resolved to local values."""
    global_vars = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {})
    merged = {**global_vars, **own}
    return {name: str(resolver.resolve(value)) for name, value in merged.items()}


def function_setting(template: dict[str, Any], logical_id: str, name: str, default: Any = None) -> Any:
    """A function property, falling back to Globals.Function."""
    props = template["Resources"][logical_id].get("Properties", {})
    if name in props:
        return props[name]
    return template.get("Globals", {}).get("Function", {}).get(name, default)
